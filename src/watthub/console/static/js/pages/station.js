// One station: boot info, connectors with the running transaction and live power,
// configuration (edit = ChangeConfiguration, refresh = GetConfiguration), a typed form for every
// CSMS → station command, and the live OCPP message log.
import { can, command, del, get, query } from "../api.js";
import { badge, busy, clear, fmt, h, kv, pretty, table, throttle, toast } from "../dom.js";
import { schemaForm } from "../forms.js";
import { readMeter } from "../live.js";
import { auditTable } from "./admin.js";

export async function render(main, [stationId], page) {
  const sid = encodeURIComponent(stationId);
  document.title = `${stationId} · WattHub`;
  let station = await get(`/stations/${sid}`);
  const operator = can("operator");
  const conn = h("span", { id: "connection" });
  const connectorsBox = h("div", { class: "connectors", id: "connectors" });
  const details = h("div", {});
  const power = new Map(); // connectorId -> {powerW, energyWh}
  let running = [];

  function drawConnection() {
    clear(conn, badge(station.connected ? "online" : "offline"));
  }

  main.append(
    h(
      "h1",
      {},
      stationId,
      conn,
      operator ? h("a", { class: "button secondary", href: `#/stations/${sid}/edit`, id: "edit-station" }, "Edit") : null,
      operator
        ? h("button", {
            type: "button",
            class: "danger",
            onclick: (e) =>
              confirm(`Remove station ${stationId}? Its connection is closed.`) &&
              busy(e.currentTarget, async () => {
                await del(`/stations/${sid}`);
                toast(`Station ${stationId} removed`);
                location.hash = "#/stations";
              }),
          }, "Remove")
        : null,
    ),
    h("nav", { class: "sections", "aria-label": "Sections" }, ["Connectors", "Details", "Configuration", operator ? "Commands" : null, "Audit trail", "Message log"].filter(Boolean).map((t) => h("a", { href: `#/stations/${sid}`, onclick: (e) => (e.preventDefault(), document.getElementById(`sec-${t.split(" ")[0].toLowerCase()}`).scrollIntoView()) }, t)), [["smart-charging", "Smart charging"], ["security", "Security, certificates"], ["local-lists", "Local list"], ["diagnostics", "Diagnostics"]].map(([route, t]) => h("a", { href: `#/${route}?stationId=${sid}` }, `${t} →`))),
    h("section", { class: "card", id: "sec-connectors" }, h("h2", {}, "Connectors"), connectorsBox),
    h("section", { class: "card", id: "sec-details" }, h("h2", {}, "Details"), details),
  );
  drawConnection();

  function drawDetails() {
    clear(
      details,
      kv([
        ["Description", station.description || "–"],
        ["Registration", badge(station.registrationStatus || "never booted", station.registrationStatus)],
        ["Vendor / model", [station.vendor, station.model].filter(Boolean).join(" ") || "–"],
        ["Serial", station.chargePointSerialNumber || station.serialNumber || "–"],
        ["Firmware", station.firmwareVersion || "–"],
        ["Meter", [station.meterType, station.meterSerialNumber].filter(Boolean).join(" ") || "–"],
        ["ICCID / IMSI", [station.iccid, station.imsi].filter(Boolean).join(" / ") || "–"],
        ["Last boot", fmt.time(station.lastBootAt)],
        ["Last seen", fmt.time(station.lastSeenAt)],
        ["Security profile", String(station.securityProfile ?? "–")],
        ["Password", station.hasPassword ? "set" : "none"],
        ["Boot policy", station.bootPolicy],
        ["Heartbeat interval", station.heartbeatInterval ? `${station.heartbeatInterval} s` : "default"],
        ["Validation", station.validationPolicy],
      ]),
    );
  }

  async function loadConnectors() {
    [station, running] = await Promise.all([get(`/stations/${sid}`), get(`/transactions${query({ stationId, active: true, limit: 50 })}`)]);
    for (const tx of running) {
      if (power.has(tx.connectorId)) continue;
      const full = await get(`/transactions/${tx.id}`);
      const last = readMeterRows(full.meterValues);
      power.set(tx.connectorId, last);
    }
    drawConnection();
    drawDetails();
    drawConnectors();
  }

  function drawConnectors() {
    const list = station.connectors.filter((c) => c.connectorId > 0);
    if (!list.length) {
      clear(connectorsBox, h("p", { class: "muted" }, "No connector reported yet (the station sends StatusNotification after booting)."));
      return;
    }
    // Live events redraw the cards: an id tag being typed (and the focus) must survive that.
    const typed = [...connectorsBox.querySelectorAll("input[name=idTag]")].map((input) => [input.id, input.value, input === document.activeElement]);
    clear(connectorsBox, list.map(connectorCard));
    for (const [id, value, focused] of typed) {
      const input = connectorsBox.querySelector(`#${CSS.escape(id)}`);
      if (!input) continue;
      input.value = value;
      if (focused) input.focus();
    }
  }

  function connectorCard(c) {
    const tx = running.find((t) => t.connectorId === c.connectorId);
    const live = power.get(c.connectorId) || {};
    const card = h(
      "div",
      { class: "connector", "data-connector": c.connectorId },
      h("h3", {}, `Connector ${c.connectorId} `, badge(c.status, c.status)),
      c.errorCode && c.errorCode !== "NoError" ? h("p", { class: "error" }, `Error: ${c.errorCode}${c.info ? ` (${c.info})` : ""}`) : null,
    );
    if (tx) {
      const energy = live.energyWh != null ? live.energyWh - tx.meterStart : null;
      card.append(
        h("p", {}, h("a", { href: `#/transactions/${tx.id}` }, `Transaction ${tx.id}`), ` · ${tx.idTag} · since `, fmt.clock(tx.startTime)),
        h("div", { class: "power", "data-power": "" }, fmt.kw(live.powerW)),
        h("p", { class: "muted", "data-energy": "" }, `${fmt.kwh(energy)} delivered`),
      );
      if (operator) {
        card.append(
          h("button", { type: "button", class: "danger", onclick: (e) => busy(e.currentTarget, () => send("RemoteStopTransaction", { transactionId: tx.id })) }, "Stop charging"),
        );
      }
    } else if (operator) {
      const tag = h("input", { name: "idTag", maxlength: 20, required: true, id: `idtag-${c.connectorId}`, placeholder: "id tag" });
      const form = h("form", { class: "form" }, h("label", {}, "Id tag", tag), h("button", { type: "submit" }, "Start charging"));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        busy(form.querySelector("button"), () => send("RemoteStartTransaction", { connectorId: c.connectorId, idTag: tag.value.trim() }));
      });
      card.append(form);
    }
    if (operator) {
      card.append(" ", h("button", { type: "button", class: "secondary", onclick: (e) => busy(e.currentTarget, () => send("UnlockConnector", { connectorId: c.connectorId })) }, "Unlock"));
    }
    return card;
  }

  async function send(action, payload) {
    const answer = await command(stationId, action, payload);
    toast(`${action}: ${answer.status ?? JSON.stringify(answer)}`, answer.status && !["Accepted", "Unlocked"].includes(answer.status));
    return answer;
  }

  await loadConnectors();
  main.append(configurationSection(stationId, operator, send));
  if (operator) main.append(await commandsSection(stationId));
  const audit = h("div", { id: "station-audit" });
  const loadAudit = async () => clear(audit, auditTable(await get(`/stations/${sid}/audit${query({ limit: 20 })}`)));
  main.append(h("section", { class: "card", id: "sec-audit" }, h("h2", {}, "Commands sent (audit trail)"), audit));
  main.append(messageLog(stationId, page));
  loadAudit().catch((err) => clear(audit, h("p", { class: "muted" }, err.message)));

  const reload = throttle(() => loadConnectors().catch(() => {}), 500);
  page.live(
    { stationId },
    (batch) => {
      let redraw = false;
      for (const { event, data } of batch) {
        if (event === "status_changed") {
          const c = station.connectors.find((x) => x.connectorId === data.connector_id);
          if (c) Object.assign(c, { status: data.status, errorCode: data.error_code });
          else station.connectors.push({ connectorId: data.connector_id, status: data.status, errorCode: data.error_code });
          station.connectors.sort((a, b) => a.connectorId - b.connectorId);
          redraw = true;
        } else if (event === "meter_values") {
          const points = readMeter(data.meter_value);
          const last = points.at(-1);
          if (last) {
            const prev = power.get(data.connector_id) || {};
            power.set(data.connector_id, { powerW: last.powerW ?? prev.powerW, energyWh: last.energyWh ?? prev.energyWh });
            redraw = true;
          }
        } else if (event === "station_connected" || event === "station_disconnected") {
          station.connected = event === "station_connected";
          drawConnection();
        } else if (event === "command_sent") {
          loadAudit().catch(() => {});
        } else if (event.startsWith("transaction_") || event === "station_booted") {
          if (event === "transaction_stopped") power.delete(data.connector_id);
          reload();
        }
      }
      if (redraw) drawConnectors();
    },
    reload,
  );
}

function readMeterRows(rows) {
  const out = { powerW: null, energyWh: null };
  for (const r of rows || []) {
    const v = Number.parseFloat(r.value) * ((r.unit || "").startsWith("k") ? 1000 : 1);
    if (Number.isNaN(v) || r.phase) continue;
    if (r.measurand === "Power.Active.Import") out.powerW = v;
    else if (!r.measurand || r.measurand === "Energy.Active.Import.Register") out.energyWh = v;
  }
  return out;
}

function configurationSection(stationId, operator, send) {
  const sid = encodeURIComponent(stationId);
  const box = h("div", { id: "configuration" });
  const refresh = h("button", { type: "button", class: "secondary", id: "config-refresh" }, "Refresh from station (GetConfiguration)");
  async function load() {
    const rows = await get(`/stations/${sid}/configuration`);
    clear(
      box,
      table(
        [
          { label: "Key", render: (r) => h("code", {}, r.key) },
          { label: "Value", render: (r) => valueCell(r) },
          { label: "", cls: "hide-narrow", render: (r) => (r.readonly ? badge("read-only", "") : r.known === false ? badge("unknown", "Faulted") : "") },
          { label: "Updated", cls: "hide-narrow", render: (r) => fmt.time(r.updatedAt) },
        ],
        rows,
        { empty: "Nothing stored yet: refresh to read it from the station.", rowAttrs: (r) => ({ "data-key": r.key }) },
      ),
    );
  }
  function valueCell(r) {
    if (!operator || r.readonly || r.known === false) return h("span", {}, r.value ?? "–");
    const input = h("input", { value: r.value ?? "", "aria-label": `Value of ${r.key}`, maxlength: 500 });
    const save = h("button", { type: "button", class: "secondary" }, "Save");
    const form = h("form", { class: "form" }, input, save);
    const submit = (e) => {
      e.preventDefault();
      busy(save, async () => {
        const answer = await send("ChangeConfiguration", { key: r.key, value: input.value });
        if (answer.status === "Accepted" || answer.status === "RebootRequired") await load();
      });
    };
    form.addEventListener("submit", submit);
    save.addEventListener("click", submit);
    return form;
  }
  refresh.addEventListener("click", () =>
    busy(refresh, async () => {
      await command(stationId, "GetConfiguration", {});
      toast("Configuration read from the station");
      await load();
    }),
  );
  load();
  return h("section", { class: "card", id: "sec-configuration" }, h("h2", {}, "Configuration"), operator ? h("div", { class: "toolbar" }, refresh) : null, box);
}

async function commandsSection(stationId) {
  const actions = await get("/ocpp/schemas");
  const pick = h("select", { id: "command-action" }, h("option", { value: "" }, "Choose a command…"), actions.map((a) => h("option", { value: a }, a)));
  const formBox = h("div", {});
  const result = h("div", { class: "result", "aria-live": "polite", id: "command-result" });
  pick.addEventListener("change", async () => {
    clear(formBox);
    clear(result);
    if (!pick.value) return;
    const action = pick.value;
    const schema = await get(`/ocpp/schemas/${action}`);
    const built = schemaForm(schema);
    const send = h("button", { type: "submit" }, `Send ${action}`);
    const form = h("form", { class: "form stack", id: "command-form" }, built.el, h("div", {}, send));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(send, async () => {
        const payload = built.read();
        clear(result, h("p", {}, "Sending…"));
        try {
          const answer = await command(stationId, action, payload);
          clear(result, h("p", {}, `${action} sent with`), pretty(payload), h("p", {}, "The station answered:"), pretty(answer));
        } catch (err) {
          clear(result, h("p", { class: "error" }, err.message), pretty(payload));
        }
      });
    });
    formBox.append(form);
  });

  const freeAction = h("input", { id: "free-action", list: "ocpp-actions", placeholder: "e.g. DataTransfer", required: true });
  const freePayload = h("textarea", { id: "free-payload", rows: 5 }, "{}");
  const freeResult = h("div", { class: "result", "aria-live": "polite" });
  const freeSend = h("button", { type: "submit" }, "Send");
  const free = h("form", { class: "form stack" }, h("label", {}, "Action", freeAction), h("label", {}, "Payload (JSON)", freePayload), h("div", {}, freeSend));
  free.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(freeSend, async () => {
      let payload;
      try {
        payload = JSON.parse(freePayload.value || "{}");
      } catch (err) {
        clear(freeResult, h("p", { class: "error" }, `Not JSON: ${err.message}`));
        return;
      }
      try {
        clear(freeResult, pretty(await command(stationId, freeAction.value.trim(), payload)));
      } catch (err) {
        clear(freeResult, h("p", { class: "error" }, err.message));
      }
    });
  });
  return h(
    "section",
    { class: "card", id: "sec-commands" },
    h("h2", {}, "Commands"),
    h("p", { class: "muted" }, "Forms built from the official OCPP 1.6 JSON schemas; the answer is the station's."),
    h("label", {}, "Command", pick),
    formBox,
    result,
    h("datalist", { id: "ocpp-actions" }, actions.map((a) => h("option", { value: a }))),
    h("details", {}, h("summary", {}, "Free-form command (any action, raw JSON payload)"), free, freeResult),
  );
}

function messageLog(stationId, page) {
  const sid = encodeURIComponent(stationId);
  const action = h("input", { id: "log-action", placeholder: "e.g. MeterValues", list: "log-actions" });
  const direction = h("select", { id: "log-direction" }, h("option", { value: "" }, "both"), h("option", { value: "in" }, "from station"), h("option", { value: "out" }, "to station"));
  const pause = h("button", { type: "button", class: "secondary", id: "log-pause", "aria-pressed": "false" }, "Pause");
  const body = h("tbody", {});
  let lastId = null;
  let paused = false;
  const TYPES = { 2: "CALL", 3: "RESULT", 4: "ERROR" };

  function row(m) {
    const frame = m.frame;
    const payload = Array.isArray(frame) ? frame[frame.length - 1] : frame;
    const preview = JSON.stringify(payload);
    return h(
      "tr",
      {},
      h("td", {}, fmt.clock(m.createdAt)),
      h("td", {}, m.direction === "in" ? h("span", { class: "dir-in", title: "sent by the station" }, "in") : h("span", { class: "dir-out", title: "sent by WattHub" }, "out")),
      h("td", {}, `${m.action ?? ""} ${TYPES[m.messageType] ?? m.messageType}`),
      h("td", {}, h("details", {}, h("summary", {}, preview.length > 80 ? `${preview.slice(0, 80)}…` : preview), pretty(frame))),
    );
  }

  async function poll(reset) {
    if (reset) {
      lastId = null;
      clear(body);
    }
    const params = { limit: reset || lastId === null ? 100 : 500, action: action.value.trim(), direction: direction.value, afterId: lastId };
    const entries = await get(`/stations/${sid}/messages${query(params)}`);
    if (!entries.length) return;
    lastId = Math.max(lastId ?? 0, ...entries.map((m) => m.id));
    // Entries come newest first; the newest goes on top.
    body.prepend(...entries.map(row));
    while (body.children.length > 300) body.lastChild.remove();
  }
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
  });
  const refilter = () => poll(true).catch((e) => toast(e.message, true));
  action.addEventListener("change", refilter);
  direction.addEventListener("change", refilter);
  poll(true);
  // The log is read from the database (the bus does not carry every frame): every 2 s.
  page.every(2000, () => !paused && poll(false).catch(() => {}));
  return h(
    "section",
    { class: "card log", id: "sec-message" },
    h("h2", {}, "Message log"),
    h("div", { class: "toolbar" }, h("label", {}, "Action", action), h("label", {}, "Direction", direction), pause),
    h("datalist", { id: "log-actions" }, ["BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction", "StopTransaction", "MeterValues", "RemoteStartTransaction", "RemoteStopTransaction", "ChangeConfiguration", "GetConfiguration"].map((a) => h("option", { value: a }))),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Dir", "Message", "Payload"].map((t) => h("th", { scope: "col" }, t)))), body)),
  );
}

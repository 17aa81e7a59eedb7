// One transaction: start/stop data, flags, and energy and power charts from its meter values
// (one line per phase where the station reports phases), growing live while it runs.
import { can, command, get, post } from "../api.js";
import { badge, busy, clear, fmt, h, kv, toast } from "../dom.js";
import { lineChart, meterSeries } from "../chart.js";

let closeSupported = null;
async function hasCloseEndpoint() {
  if (closeSupported === null) {
    try {
      const spec = await fetch("/openapi.json").then((r) => r.json());
      closeSupported = Boolean(spec.paths?.["/api/v1/transactions/{transaction_id}/close"]);
    } catch {
      closeSupported = false;
    }
  }
  return closeSupported;
}

export async function render(main, [id], page) {
  document.title = `Transaction ${id} · WattHub`;
  let tx = await get(`/transactions/${id}`);
  let rows = tx.meterValues;
  const info = h("section", { class: "card" });
  const charts = h("section", { class: "card", id: "tx-charts" });
  const actions = h("div", { class: "toolbar" });
  const state = h("span", { id: "tx-state" });
  main.append(h("h1", {}, `Transaction ${id} `, state), actions, info, charts);

  async function drawActions() {
    clear(actions);
    if (!tx.active || !can("operator")) return;
    actions.append(
      h("button", { type: "button", class: "danger", id: "tx-stop", onclick: (e) => busy(e.currentTarget, async () => {
        const answer = await command(tx.stationId, "RemoteStopTransaction", { transactionId: tx.id });
        toast(`RemoteStopTransaction: ${answer.status}`, answer.status !== "Accepted");
      }) }, "Stop charging (RemoteStopTransaction)"),
    );
    if (await hasCloseEndpoint()) {
      actions.append(
        h("button", { type: "button", class: "secondary", id: "tx-close", onclick: (e) => {
          // Bookkeeping only, for a transaction the charger lost: nothing goes to the station.
          const reason = prompt("Close this transaction in WattHub only (the station is not told). Why?");
          if (reason?.trim()) {
            busy(e.currentTarget, async () => {
              await post(`/transactions/${tx.id}/close`, { reason: reason.trim() });
              toast("Transaction closed");
              await reload();
            });
          }
        } }, "Close in WattHub (charger lost it)"),
      );
    }
  }

  function draw() {
    clear(state, tx.active ? badge("running", "active") : badge("finished", "ok"));
    clear(
      info,
      kv([
        ["Station", h("a", { href: `#/stations/${encodeURIComponent(tx.stationId)}` }, tx.stationId)],
        ["Connector", String(tx.connectorId)],
        ["Id tag", [tx.idTag, " ", badge(tx.idTagStatus)]],
        ["Started", fmt.time(tx.startTime)],
        ["Meter start", `${tx.meterStart} Wh`],
        ["Stopped", tx.active ? "–" : fmt.time(tx.stopTime)],
        ["Meter stop", tx.meterStop != null ? `${tx.meterStop} Wh` : "–"],
        ["Energy", h("span", { id: "tx-energy" }, fmt.kwh(tx.energyWh ?? liveEnergy()))],
        ["Stop reason", tx.stopReason || "–"],
        ["Reservation", tx.reservationId != null ? String(tx.reservationId) : "–"],
        ["Flags", tx.flags ? tx.flags.split(",").map((f) => [badge(f, "Pending"), " "]) : "none"],
      ]),
    );
    const series = meterSeries(rows);
    clear(charts, h("h2", {}, "Meter values"), lineChart("Power", series.power, "kW"), lineChart("Energy register", series.energy, "kWh"));
  }

  function liveEnergy() {
    const e = meterSeries(rows).energy[0]?.points.at(-1);
    return e ? e.v * 1000 - tx.meterStart : null;
  }

  async function reload() {
    tx = await get(`/transactions/${id}`);
    rows = tx.meterValues;
    draw();
    drawActions();
  }

  draw();
  drawActions();
  page.live({ stationId: tx.stationId, events: ["meter_values", "transaction_stopped"] }, (batch) => {
    let changed = false;
    for (const { event, data } of batch) {
      if (event === "transaction_stopped" && data.transaction_id === tx.id) {
        reload();
        return;
      }
      if (event === "meter_values" && data.transaction_id === tx.id) {
        for (const mv of data.meter_value) {
          for (const sv of mv.sampledValue || []) rows.push({ ...sv, timestamp: mv.timestamp });
        }
        changed = true;
      }
    }
    if (changed) draw();
  }, reload);
}

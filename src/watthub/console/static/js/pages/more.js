// The remaining pages: reservations, local lists, firmware (images, campaigns, progress),
// smart charging (profile library, sites, composite schedule chart), security (events,
// expiring certificates). Mostly tables of the API's lists with the
// main actions; everything else stays in the API (/docs) and the CLI.
import { api, can, get, post, query } from "../api.js";
import { badge, busy, clear, fmt, h, pretty, table, toast } from "../dom.js";
import { stepChart } from "../chart.js";

const TITLES = {
  reservations: "Reservations",
  "local-lists": "Local lists",
  firmware: "Firmware",
  "smart-charging": "Smart charging",
  security: "Security",
  diagnostics: "Diagnostics",
};

// A table of every scalar field of the rows (objects and lists shown as JSON on demand).
function autoTable(rows, { empty, link } = {}) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].slice(0, 10);
  return table(
    keys.map((k) => ({
      label: k,
      render: (r) => {
        const v = r[k];
        if (v === null || v === undefined) return "–";
        if (typeof v === "object") return h("details", {}, h("summary", {}, Array.isArray(v) ? `${v.length} items` : "…"), pretty(v));
        if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return fmt.time(v);
        if (link && k === link.key) return h("a", { href: link.href(r) }, String(v));
        if (k === "status" || k === "state") return badge(String(v));
        return String(v);
      },
    })),
    rows,
    { empty },
  );
}

function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

const stationLink = { key: "stationId", href: (r) => `#/stations/${encodeURIComponent(r.stationId)}` };

async function reservations(main, page) {
  const operator = can("operator");
  const box = h("div", { id: "reservations" });
  async function load() {
    const rows = await get("/reservations");
    clear(
      box,
      table(
        [
          { label: "Id", key: "reservationId" },
          { label: "Station", render: (r) => h("a", { href: `#/stations/${encodeURIComponent(r.stationId)}` }, r.stationId) },
          { label: "Conn.", key: "connectorId" },
          { label: "Id tag", key: "idTag" },
          { label: "Expires", render: (r) => fmt.time(r.expiryDate) },
          { label: "Status", render: (r) => badge(r.status, { active: "ok", sent: "Pending", refused: "Rejected" }[r.status] ?? "") },
          { label: "Station's answer", cls: "hide-narrow", render: (r) => r.stationAnswer || "–" },
          operator
            ? {
                label: "",
                render: (r) =>
                  ["active", "sent"].includes(r.status)
                    ? h("button", { type: "button", class: "secondary", onclick: (e) => busy(e.currentTarget, async () => {
                        const answer = await post(`/stations/${encodeURIComponent(r.stationId)}/cancel-reservation`, { reservationId: r.reservationId });
                        toast(`CancelReservation: ${answer.status}`, answer.status !== "Accepted");
                        await load();
                      }) }, "Cancel")
                    : "",
              }
            : null,
        ].filter(Boolean),
        rows,
        { empty: "No reservations." },
      ),
    );
  }
  const station = h("input", { id: "res-station", required: true });
  const connector = h("input", { id: "res-connector", type: "number", min: 0, value: 1, required: true });
  const tag = h("input", { id: "res-tag", required: true, maxlength: 20 });
  const minutes = h("input", { id: "res-minutes", type: "number", min: 1, value: 30, required: true });
  const reserve = h("button", { type: "submit" }, "Reserve (ReserveNow)");
  const form = h("form", { class: "form", id: "reserve-form" }, h("label", {}, "Station", station), h("label", {}, "Connector (0 = any)", connector), h("label", {}, "Id tag", tag), h("label", {}, "Minutes", minutes), reserve);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(reserve, async () => {
      const answer = await post(`/stations/${encodeURIComponent(station.value.trim())}/reserve-now`, {
        connectorId: Number(connector.value),
        idTag: tag.value.trim(),
        expiresIn: Number(minutes.value) * 60,
      });
      toast(`ReserveNow: ${answer.status} (reservation ${answer.reservationId})`, answer.status !== "Accepted");
      await load();
    });
  });
  main.append(section("Reservations (newest first)", operator ? form : null, box));
  await load();
  const reload = () => load().catch(() => {});
  page.live({ events: ["transaction_started", "status_changed"] }, reload, reload);
}

async function localLists(main) {
  const box = h("div", {});
  async function load() {
    const rows = await get("/local-lists/out-of-date");
    clear(
      box,
      table(
        [
          { label: "Station", render: (r) => h("a", { href: `#/stations/${encodeURIComponent(r.stationId)}` }, r.stationId) },
          { label: "State", render: (r) => pretty(r) },
          can("operator") ? { label: "", render: (r) => h("button", { type: "button", onclick: (e) => busy(e.currentTarget, async () => (toast(JSON.stringify(await post(`/stations/${encodeURIComponent(r.stationId)}/local-list/sync`, {}))), load())) }, "Sync") } : null,
        ].filter(Boolean),
        rows,
        { empty: "Every station's local list is up to date." },
      ),
    );
  }
  main.append(section("Stations whose local list is out of date", box));
  await load();
}

async function firmware(main, page) {
  const images = h("div", {});
  const campaigns = h("div", {});
  async function load() {
    clear(images, autoTable(await get("/firmware"), { empty: "No image uploaded." }));
    const list = await get("/firmware-campaigns");
    const detailed = await Promise.all(list.slice(0, 10).map((c) => get(`/firmware-campaigns/${c.id}`)));
    clear(
      campaigns,
      table(
        [
          { label: "#", key: "id" },
          { label: "Name", key: "name" },
          { label: "State", render: (c) => badge(c.state ?? c.status ?? "–") },
          { label: "Progress", render: (c) => Object.entries(c.counts || {}).map(([k, n]) => [badge(`${k}: ${n}`, k), " "]) },
          { label: "Stations", render: (c) => h("details", {}, h("summary", {}, `${(c.stations || []).length}`), autoTable(c.stations || [], { link: stationLink })) },
        ],
        detailed,
        { empty: "No campaign yet." },
      ),
    );
  }
  const upload = h("form", { class: "form", id: "firmware-upload" }, h("label", {}, h("span", { class: "req" }, "Image"), h("input", { type: "file", name: "file", required: true })), h("label", {}, "Version", h("input", { name: "version", maxlength: 50 })), h("label", {}, "Description", h("input", { name: "description" })), h("button", { type: "submit" }, "Upload"));
  upload.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(upload.querySelector("button"), async () => {
      await api("POST", "/firmware", new FormData(upload));
      toast("Image uploaded");
      upload.reset();
      await load();
    });
  });
  const fw = h("input", { name: "firmwareId", type: "number", required: true });
  const stations = h("input", { name: "stations", required: true, placeholder: "CP1, CP2, …" });
  const campaign = h("form", { class: "form", id: "campaign-form" }, h("label", {}, h("span", { class: "req" }, "Image id"), fw), h("label", {}, h("span", { class: "req" }, "Stations (in rollout order)"), stations), h("button", { type: "submit" }, "Start campaign"));
  campaign.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(campaign.querySelector("button"), async () => {
      await post("/firmware-campaigns", { firmwareId: Number(fw.value), stations: stations.value.split(",").map((x) => x.trim()).filter(Boolean) });
      toast("Campaign started");
      await load();
    });
  });
  const operator = can("operator");
  main.append(section("Images", operator ? upload : null, images), section("Campaigns (live progress)", operator ? campaign : null, campaigns));
  await load();
  const reload = () => load().catch(() => {});
  page.live({ events: ["firmware_status", "station_booted"] }, reload, reload);
}

async function smartCharging(main, page) {
  const chartBox = h("div", { id: "composite" });
  const station = h("input", { id: "sc-station", required: true });
  const connector = h("input", { id: "sc-connector", type: "number", min: 0, value: 0 });
  const form = h("form", { class: "form" }, h("label", {}, "Station", station), h("label", {}, "Connector", connector), h("button", { type: "submit" }, "Show composite schedule"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form.querySelector("button"), async () => {
      const c = await get(`/stations/${encodeURIComponent(station.value.trim())}/composite-schedule${query({ connectorId: connector.value, duration: 86400 })}`);
      clear(chartBox, stepChart(`Composite schedule of ${station.value} connector ${connector.value}`, new Date(c.startSchedule), c.duration, c.chargingSchedulePeriod, c.chargingRateUnit), h("details", {}, h("summary", {}, "The schedule as JSON"), pretty(c)));
    });
  });
  const sitesBox = h("div", { id: "sites" });
  async function loadSites() {
    const sites = await get("/sites");
    const allocations = await Promise.all(sites.map((s) => get(`/sites/${s.id}/allocation`).catch((err) => ({ error: err.message }))));
    clear(sitesBox, sites.length ? sites.map((s, i) => h("div", {}, h("h3", {}, s.name ?? `Site ${s.id}`), pretty(allocations[i]))) : h("p", { class: "muted" }, "No sites."));
  }
  main.append(
    section("Composite schedule (computed by WattHub from the profiles the station accepted)", form, chartBox),
    section("Charging profile library", autoTable(await get("/charging-profiles"), { empty: "No profiles in the library." })),
    section("Sites and their allocation (live: recomputed when transactions start and stop)", sitesBox),
  );
  await loadSites();
  const reload = () => loadSites().catch(() => {});
  page.live({ events: ["transaction_started", "transaction_stopped"] }, reload, reload);
}

async function security(main, page) {
  const events = h("div", {});
  async function load() {
    clear(events, autoTable(await get(`/security-events${query({ limit: 100 })}`), { empty: "No security events.", link: stationLink }));
  }
  const expiring = await get("/certificates/expiring");
  main.append(
    section("Security events (live)", events),
    section(
      `Certificates expiring within ${expiring.withinDays} days`,
      h("h3", {}, "Issued to stations"),
      autoTable(expiring.stations, { empty: "None.", link: stationLink }),
      h("h3", {}, "WattHub's own (CA, server)"),
      autoTable(expiring.watthub, { empty: "None." }),
    ),
  );
  main.append(h("p", { class: "muted" }, "A station's security profile and password: its Edit page. Certificates (InstallCertificate, DeleteCertificate, GetInstalledCertificateIds) and SignedUpdateFirmware: its command forms. The CA and the rest: docs/security.md and the API (/docs)."));
  await load();
  const reload = () => load().catch(() => {});
  page.live({ events: ["security_event"] }, reload, reload);
}

async function diagnostics(main, page, params) {
  const station = h("input", { id: "diag-station", required: true, value: params.get("stationId") || "" });
  const box = h("div", { id: "diagnostics" });
  async function load() {
    const sid = station.value.trim();
    if (!sid) return;
    const d = await get(`/stations/${encodeURIComponent(sid)}/diagnostics`);
    clear(
      box,
      h("p", {}, "Current status: ", badge(d.current?.status ?? "none")),
      h("h3", {}, "Files received"),
      table(
        [
          { label: "File", render: (f) => h("a", { href: f.downloadPath, download: f.filename }, f.filename) },
          { label: "Size", render: (f) => `${f.size ?? "?"} bytes` },
          { label: "Received", render: (f) => fmt.time(f.receivedAt ?? f.createdAt) },
        ],
        d.files,
        { empty: "No file uploaded yet." },
      ),
      h("h3", {}, "Requests"),
      autoTable(d.requests, { empty: "No GetDiagnostics sent yet." }),
      h("h3", {}, "Status timeline"),
      autoTable(d.timeline, { empty: "No DiagnosticsStatusNotification yet." }),
    );
  }
  const show = h("button", { type: "submit" }, "Show");
  const ask = h("button", { type: "button", class: "secondary", id: "diag-request" }, "Request diagnostics (GetDiagnostics to WattHub's upload location)");
  ask.addEventListener("click", () =>
    busy(ask, async () => {
      const answer = await post(`/stations/${encodeURIComponent(station.value.trim())}/get-diagnostics`, {});
      toast(`GetDiagnostics: ${answer.fileName ?? "no file name (nothing to upload)"}`);
      await load();
    }),
  );
  const form = h("form", { class: "form" }, h("label", {}, "Station", station), show, can("operator") ? ask : null);
  form.addEventListener("submit", (e) => (e.preventDefault(), busy(show, load)));
  main.append(section("Diagnostics uploads", form, box));
  await load();
  const reload = () => load().catch(() => {});
  page.live({ events: ["firmware_status"] }, (batch) => batch.some((e) => e.data.kind === "diagnostics" && e.data.station_id === station.value.trim()) && reload(), reload);
}

const PAGES = { diagnostics, reservations, "local-lists": localLists, firmware, "smart-charging": smartCharging, security };

export async function render(main, [name], page, params) {
  document.title = `${TITLES[name]} · WattHub`;
  main.append(h("h1", {}, TITLES[name]));
  await PAGES[name](main, page, params);
}

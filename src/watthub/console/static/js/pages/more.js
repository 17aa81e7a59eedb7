// The remaining pages: reservations, local lists, firmware (images, campaigns with live
// per-station progress, cancel), diagnostics. Smart charging and security have their own modules.
import { api, can, get, post, put } from "../api.js";
import { badge, busy, clear, fmt, h, kv, table, toast } from "../dom.js";
import { action, autoTable, field, onSubmit, section, stationCell } from "../lists.js";

const TITLES = {
  reservations: "Reservations",
  "local-lists": "Local lists",
  firmware: "Firmware",
  diagnostics: "Diagnostics",
};

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

const scopeText = (scope) => (scope === "all" || !scope ? "all tags" : `groups: ${scope.groups.join(", ")}`);

// One station's list: its scope (all tags, or only the members of some parentIdTag groups).
function localListScope(reload, stationId) {
  const station = h("input", { id: "ll-station", required: true, value: stationId || "" });
  const groups = h("input", { id: "ll-groups", placeholder: "empty: every tag" });
  const box = h("div", { id: "local-list" });
  const sid = () => encodeURIComponent(station.value.trim());
  const show = (d) =>
    clear(
      box,
      kv([
        ["Station", stationCell(d.stationId)],
        ["Scope", scopeText(d.scope)],
        ["Version sent / reported", `${d.version ?? "–"} / ${d.reportedVersion ?? "–"}`],
        ["Entries (station / WattHub's)", `${Object.keys(d.entries || {}).length} / ${d.desiredEntries}`],
        ["Out of date", d.outOfDate ? `yes, ${d.pendingChanges} change(s)` : "no"],
        ["Last update", `${d.lastUpdateType ?? "–"}: ${d.lastStatus ?? "–"}`],
      ]),
    );
  const load = async () => {
    const d = await get(`/stations/${sid()}/local-list`);
    groups.value = d.scope === "all" ? "" : d.scope.groups.join(", ");
    show(d);
  };
  const form = onSubmit(h("form", { class: "form", id: "ll-form" }, field("Station", station, true), h("button", { type: "submit" }, "Show")), load);
  if (stationId) load().catch((err) => toast(err.message, true));
  const save = can("operator")
    ? action("Save scope", async () => {
        if (!station.reportValidity()) return;
        const list = groups.value.split(",").map((g) => g.trim()).filter(Boolean);
        show(await put(`/stations/${sid()}/local-list/scope`, list.length ? { mode: "groups", groups: list } : { mode: "all" }));
        toast("Scope saved: sync to send it");
        await reload();
      }, { id: "ll-save" })
    : null;
  return [form, h("div", { class: "form" }, field("Only these parent groups (comma separated)", groups), save), box];
}

async function localLists(main, _page, params) {
  const box = h("div", { id: "local-lists" });
  const sync = (id) => post(`/stations/${encodeURIComponent(id)}/local-list/sync`, {});
  let rows = [];
  async function load() {
    rows = await get("/local-lists/out-of-date");
    clear(
      box,
      table(
        [
          { label: "Station", render: (r) => stationCell(r.stationId) },
          { label: "Scope", render: (r) => scopeText(r.scope) },
          { label: "Version sent / reported", render: (r) => `${r.version ?? "–"} / ${r.reportedVersion ?? "–"}` },
          { label: "Pending changes", key: "pendingChanges" },
          { label: "Last update", cls: "hide-narrow", render: (r) => `${r.lastUpdateType ?? "–"}: ${r.lastStatus ?? "–"}` },
          can("operator") ? { label: "", render: (r) => action("Sync", async () => (toast(`${r.stationId}: ${JSON.stringify(await sync(r.stationId))}`), load())) } : null,
        ].filter(Boolean),
        rows,
        { empty: "Every station's local list is up to date." },
      ),
    );
  }
  const syncAll = action("Sync every out-of-date station", async () => {
    // One after another: each SendLocalList waits for its station's answer.
    for (const r of rows) await sync(r.stationId).catch((err) => toast(`${r.stationId}: ${err.message}`, true));
    toast(`${rows.length} station(s) synchronised`);
    await load();
  }, { id: "ll-sync-all" });
  main.append(section("Stations whose local list is out of date", can("operator") ? syncAll : null, box), section("A station's list and its scope", localListScope(load, params.get("stationId"))));
  await load();
}

// The per-station progress of a campaign: state, the station's last FirmwareStatusNotification.
function campaignStations(c) {
  return table(
    [
      { label: "#", key: "position" },
      { label: "Station", render: (e) => stationCell(e.stationId) },
      { label: "State", render: (e) => badge(e.state, { installed: "ok", failed: "Rejected", cancelled: "" }[e.state] ?? "Pending") },
      { label: "Last status", render: (e) => e.lastStatus || "–" },
      { label: "Detail", cls: "hide-narrow", render: (e) => e.detail || "–" },
      { label: "Updated", render: (e) => fmt.time(e.updatedAt) },
    ],
    c.stations || [],
    { empty: "No station." },
  );
}

async function firmware(main, page) {
  const images = h("div", { id: "firmware-images" });
  const campaigns = h("div", { id: "campaigns" });
  const opened = new Set(); // campaigns whose station list is unfolded stay so across live reloads
  const fw = h("select", { name: "firmwareId", required: true });
  async function load() {
    const imageList = await get("/firmware");
    const chosen = fw.value; // a live reload keeps the image picked for the next campaign
    clear(fw, imageList.map((i) => h("option", { value: i.id }, `${i.id} · ${i.filename}${i.version ? ` (${i.version})` : ""}`)));
    if (imageList.some((i) => String(i.id) === chosen)) fw.value = chosen;
    clear(
      images,
      table(
        [
          { label: "Id", key: "id" },
          { label: "File", render: (i) => h("a", { href: i.url }, i.filename) },
          { label: "Version", render: (i) => i.version || "–" },
          { label: "Description", cls: "hide-narrow", render: (i) => i.description || "–" },
          { label: "Size", render: (i) => `${i.size} bytes` },
          { label: "SHA-256", cls: "hide-narrow", render: (i) => h("code", { title: i.sha256 }, `${i.sha256.slice(0, 12)}…`) },
          { label: "Uploaded", render: (i) => fmt.time(i.createdAt) },
          can("operator")
            ? {
                label: "",
                render: (i) =>
                  action("Delete", async () => {
                    if (!confirm(`Delete image ${i.id} (${i.filename}) and its file?`)) return;
                    await api("DELETE", `/firmware/${i.id}`);
                    toast(`Image ${i.id} deleted`);
                    await load();
                  }),
              }
            : null,
        ].filter(Boolean),
        imageList,
        { empty: "No image uploaded." },
      ),
    );
    const list = await get("/firmware-campaigns");
    const detailed = await Promise.all(list.slice(0, 10).map((c) => get(`/firmware-campaigns/${c.id}`)));
    const cancel = (c) =>
      action("Cancel", async () => {
        const answer = await post(`/firmware-campaigns/${c.id}/cancel`, {});
        toast(`Campaign ${c.id} ${answer.status}`);
        await load();
      });
    clear(
      campaigns,
      table(
        [
          { label: "#", key: "id" },
          { label: "Name", key: "name" },
          { label: "State", render: (c) => badge(c.status ?? "–", c.status === "running" ? "Pending" : "") },
          { label: "Progress", render: (c) => Object.entries(c.counts || {}).map(([k, n]) => [badge(`${k}: ${n}`, k), " "]) },
          {
            label: "Stations",
            render: (c) => {
              const box = h("details", { open: opened.has(c.id) }, h("summary", {}, `${(c.stations || []).length} stations`), campaignStations(c));
              box.addEventListener("toggle", () => (box.open ? opened.add(c.id) : opened.delete(c.id)));
              return box;
            },
          },
          can("operator") ? { label: "", render: (c) => (c.status === "running" ? cancel(c) : "") } : null,
        ].filter(Boolean),
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
  const stations = h("input", { name: "stations", required: true, placeholder: "CP1, CP2, …" });
  const name = h("input", { name: "name", maxlength: 100 });
  const concurrency = h("input", { name: "concurrency", type: "number", min: 1, max: 1000, value: 5, required: true });
  const campaign = h("form", { class: "form", id: "campaign-form" }, field("Image", fw, true), field("Stations (in rollout order)", stations, true), field("Name", name), field("Stations updating at once", concurrency, true), h("button", { type: "submit" }, "Start campaign"));
  onSubmit(campaign, async () => {
    const started = await post("/firmware-campaigns", {
      firmwareId: Number(fw.value),
      stations: stations.value.split(",").map((x) => x.trim()).filter(Boolean),
      name: name.value.trim(),
      concurrency: Number(concurrency.value),
    });
    toast(`Campaign ${started.id} started`);
    await load();
  });
  const operator = can("operator");
  main.append(section("Images", operator ? upload : null, images), section("Campaigns (live progress)", operator ? campaign : null, campaigns));
  await load();
  const reload = () => load().catch(() => {});
  page.live({ events: ["firmware_status", "station_booted"] }, reload, reload);
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

const PAGES = { diagnostics, reservations, "local-lists": localLists, firmware };

export async function render(main, [name], page, params) {
  document.title = `${TITLES[name]} · WattHub`;
  main.append(h("h1", {}, TITLES[name]));
  await PAGES[name](main, page, params);
}

// Overview: counts computed by the server (GET /overview), refreshed when live events say
// something changed (at most every 2 s), and the recent events with live additions.
import { get } from "../api.js";
import { clear, fmt, h, throttle } from "../dom.js";

const LIVE_EVENTS = [
  "status_changed",
  "station_connected",
  "station_disconnected",
  "station_booted",
  "transaction_started",
  "transaction_stopped",
  "security_event",
  "firmware_status",
];

function tile(n, label, href, id) {
  return h("a", { class: "tile", href, id }, h("span", { class: "n" }, n), h("span", { class: "l" }, label));
}

function describe(event, d) {
  switch (event) {
    case "station_booted":
      return ["boot", `booted (${d.status})`];
    case "station_connected":
      return ["online", "connected"];
    case "station_disconnected":
      return ["offline", "disconnected"];
    case "transaction_started":
      return ["active", `transaction ${d.transaction_id} started on connector ${d.connector_id} by ${d.id_tag}`];
    case "transaction_stopped":
      return ["ok", `transaction ${d.transaction_id} stopped (${d.reason})`];
    case "security_event":
      return [d.critical ? "critical" : "", `security event ${d.type}`];
    case "firmware_status":
      return ["", `${d.kind} ${d.status}`];
    case "status_changed":
      return d.status === "Faulted" || d.error_code !== "NoError"
        ? ["Faulted", `connector ${d.connector_id} ${d.status} (${d.error_code})`]
        : null;
    default:
      return null;
  }
}

function eventItem(at, kind, stationId, text) {
  return h(
    "li",
    {},
    fmt.clock(at),
    h("span", { class: `badge ${kind}` }, kind || "event"),
    stationId ? h("a", { href: `#/stations/${encodeURIComponent(stationId)}` }, stationId) : null,
    h("span", {}, text),
  );
}

export async function render(main, _params, page) {
  document.title = "Overview · WattHub";
  const tiles = h("div", { class: "tiles" }); // not a live region: it refreshes every few seconds
  const list = h("ul", { class: "events", id: "recent-events" });
  main.append(
    h("h1", {}, "Overview"),
    tiles,
    h("section", { class: "card" }, h("h2", {}, "Recent events"), list),
  );

  async function load() {
    const o = await get("/overview");
    const st = o.stations;
    clear(
      tiles,
      tile(st.total, "stations", "#/stations", "tile-total"),
      tile(st.online, "online", "#/stations?state=online", "tile-online"),
      tile(st.offline, "offline", "#/stations?state=offline", "tile-offline"),
      tile(st.faulted, "faulted", "#/stations?state=faulted", "tile-faulted"),
      tile(st.charging, "charging", "#/stations?state=charging", "tile-charging"),
      tile(o.activeTransactions, "active transactions", "#/transactions?active=true", "tile-active"),
      tile(fmt.kwh(o.energyTodayWh), "delivered today (UTC)", "#/transactions", "tile-energy"),
    );
    return o;
  }
  const first = await load();
  clear(list, first.recentEvents.map((e) => eventItem(e.at, e.kind, e.stationId, e.text)));
  if (!first.recentEvents.length) list.append(h("li", { class: "muted" }, "No events yet."));

  const refresh = throttle(() => load().catch(() => {}), 3000);
  page.live(
    { events: LIVE_EVENTS },
    (batch) => {
      for (const { event, data } of batch) {
        const text = describe(event, data);
        if (text) {
          list.querySelector(".muted")?.remove();
          list.prepend(eventItem(new Date().toISOString(), text[0], data.station_id, text[1]));
          while (list.children.length > 50) list.lastChild.remove();
        }
      }
      refresh();
    },
    refresh,
  );
  page.every(30000, refresh); // energy of running transactions grows without events
}

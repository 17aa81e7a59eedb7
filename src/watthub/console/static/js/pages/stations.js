// Stations: searched, filtered and paged by the server (X-Total-Count); rows on screen follow
// connection and connector status live.
import { api, can, query } from "../api.js";
import { badge, clear, fmt, h, table, throttle } from "../dom.js";

const PAGE = 25;
const STATES = ["", "online", "offline", "charging", "faulted", "available"];

function connectorBadges(connectors) {
  const shown = connectors.filter((c) => c.connectorId > 0);
  if (!shown.length) return h("span", { class: "muted" }, "–");
  return h("span", {}, shown.map((c) => [badge(`${c.connectorId}: ${c.status ?? "?"}`, c.status), " "]));
}

export async function render(main, _params, page, params) {
  document.title = "Stations · WattHub";
  const state = { q: params.get("q") || "", state: params.get("state") || "", offset: Number(params.get("offset") || 0) };
  const search = h("input", { type: "search", id: "station-search", value: state.q, placeholder: "id, description, vendor…" });
  const filter = h("select", { id: "station-state" }, STATES.map((s) => h("option", { value: s, selected: s === state.state }, s || "all")));
  const results = h("div", { id: "station-results" });
  const pager = h("div", { class: "pager" });
  main.append(
    h(
      "h1",
      {},
      "Stations",
      can("operator") ? h("a", { class: "button", href: "#/stations/new", id: "add-station" }, "Add station") : null,
    ),
    h(
      "form",
      { class: "toolbar", role: "search", onsubmit: (e) => (e.preventDefault(), go({ offset: 0 })) },
      h("label", {}, "Search", search),
      h("label", {}, "State", filter),
      h("button", { type: "submit" }, "Search"),
    ),
    results,
    pager,
  );
  filter.addEventListener("change", () => go({ offset: 0 }));

  function go(change) {
    Object.assign(state, { q: search.value.trim(), state: filter.value }, change);
    const qs = query({ q: state.q, state: state.state, offset: state.offset || "" });
    history.replaceState(null, "", `#/stations${qs}`);
    load();
  }

  let rows = new Map(); // stationId -> station object on screen
  async function load() {
    const response = await api("GET", `/stations${query({ q: state.q, state: state.state, limit: PAGE, offset: state.offset })}`, undefined, { raw: true });
    const stations = await response.json();
    const total = Number(response.headers.get("X-Total-Count") || stations.length);
    rows = new Map(stations.map((s) => [s.id, s]));
    draw();
    clear(
      pager,
      h("button", { type: "button", class: "secondary", disabled: state.offset === 0, onclick: () => go({ offset: Math.max(0, state.offset - PAGE) }) }, "Previous"),
      h("span", { id: "station-count" }, total ? `${state.offset + 1}–${state.offset + stations.length} of ${total}` : "no stations"),
      h("button", { type: "button", class: "secondary", disabled: state.offset + PAGE >= total, onclick: () => go({ offset: state.offset + PAGE }) }, "Next"),
    );
  }

  function draw() {
    clear(
      results,
      table(
        [
          { label: "Station", render: (s) => h("a", { href: `#/stations/${encodeURIComponent(s.id)}` }, s.id) },
          { label: "Connection", render: (s) => badge(s.connected ? "online" : "offline") },
          { label: "Connectors", render: (s) => connectorBadges(s.connectors) },
          { label: "Vendor / model", cls: "hide-narrow", render: (s) => [s.vendor, s.model].filter(Boolean).join(" ") || "–" },
          { label: "Last seen", cls: "hide-narrow", render: (s) => fmt.time(s.lastSeenAt) },
          { label: "Description", cls: "hide-narrow", key: "description" },
        ],
        [...rows.values()],
        { empty: "No station matches.", rowAttrs: (s) => ({ "data-station": s.id }) },
      ),
    );
  }

  await load();
  const reload = throttle(() => load().catch(() => {}), 3000);
  page.live(
    { events: ["status_changed", "station_connected", "station_disconnected", "station_booted"] },
    (batch) => {
      let changed = false;
      for (const { event, data } of batch) {
        const st = rows.get(data.station_id);
        if (!st) {
          if (event !== "status_changed") reload(); // a station may enter this page/filter
          continue;
        }
        changed = true;
        if (event === "station_connected") st.connected = true;
        else if (event === "station_disconnected") st.connected = false;
        else if (event === "status_changed") {
          const c = st.connectors.find((x) => x.connectorId === data.connector_id);
          if (c) c.status = data.status;
          else st.connectors.push({ connectorId: data.connector_id, status: data.status });
          st.connectors.sort((a, b) => a.connectorId - b.connectorId);
        }
      }
      if (changed) draw();
      if (state.state) reload(); // membership of a filtered page may have changed
    },
    reload,
  );
}

// Transactions: filters (station, id tag, active, dates), paging, CSV export of the same filters.
import { get, query } from "../api.js";
import { badge, clear, fmt, h, table, throttle } from "../dom.js";

const PAGE = 50;

export async function render(main, _params, page, params) {
  document.title = "Transactions · WattHub";
  const f = {
    stationId: h("input", { id: "tx-station", value: params.get("stationId") || "" }),
    idTag: h("input", { id: "tx-tag", value: params.get("idTag") || "" }),
    active: h("select", { id: "tx-active" }, ["", "true", "false"].map((v) => h("option", { value: v, selected: v === (params.get("active") || "") }, { "": "all", true: "running", false: "finished" }[v]))),
    since: h("input", { id: "tx-since", type: "date", value: params.get("since") || "" }),
    until: h("input", { id: "tx-until", type: "date", value: params.get("until") || "" }),
  };
  let offset = 0;
  const results = h("div", {});
  const pager = h("div", { class: "pager" });
  const csv = h("a", { class: "button secondary", id: "tx-csv", download: "transactions.csv" }, "Export CSV");
  const form = h(
    "form",
    { class: "toolbar" },
    h("label", {}, "Station", f.stationId),
    h("label", {}, "Id tag", f.idTag),
    h("label", {}, "State", f.active),
    h("label", {}, "Started from", f.since),
    h("label", {}, "until (before)", f.until),
    h("button", { type: "submit" }, "Filter"),
    csv,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    offset = 0;
    load();
  });
  f.active.addEventListener("change", () => ((offset = 0), load()));
  main.append(h("h1", {}, "Transactions"), form, results, pager);

  function filters() {
    const day = (v) => (v ? new Date(`${v}T00:00:00`).toISOString() : "");
    return { stationId: f.stationId.value.trim(), idTag: f.idTag.value.trim(), since: day(f.since.value), until: day(f.until.value) };
  }

  async function load() {
    const base = filters();
    const txs = await get(`/transactions${query({ ...base, active: f.active.value, limit: PAGE, offset })}`);
    csv.href = `/api/v1/transactions.csv${query(base)}`;
    clear(
      results,
      table(
        [
          { label: "#", render: (t) => h("a", { href: `#/transactions/${t.id}` }, String(t.id)) },
          { label: "Station", render: (t) => h("a", { href: `#/stations/${encodeURIComponent(t.stationId)}` }, t.stationId) },
          { label: "Conn.", key: "connectorId" },
          { label: "Id tag", render: (t) => [t.idTag, " ", t.idTagStatus !== "Accepted" ? badge(t.idTagStatus) : null] },
          { label: "Started", render: (t) => fmt.time(t.startTime) },
          { label: "Stopped", cls: "hide-narrow", render: (t) => (t.active ? badge("running", "active") : fmt.time(t.stopTime)) },
          { label: "Energy", render: (t) => fmt.kwh(t.energyWh) },
          { label: "Reason", cls: "hide-narrow", render: (t) => t.stopReason || "–" },
          { label: "Flags", cls: "hide-narrow", render: (t) => t.flags || "" },
        ],
        txs,
        { empty: "No transaction matches.", rowAttrs: (t) => ({ "data-tx": t.id }) },
      ),
    );
    clear(
      pager,
      h("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => ((offset = Math.max(0, offset - PAGE)), load()) }, "Previous"),
      h("span", {}, txs.length ? `${offset + 1}–${offset + txs.length}` : ""),
      h("button", { type: "button", class: "secondary", disabled: txs.length < PAGE, onclick: () => ((offset += PAGE), load()) }, "Next"),
    );
  }
  await load();
  const reload = throttle(() => load().catch(() => {}), 2000);
  page.live({ events: ["transaction_started", "transaction_stopped"] }, reload, reload);
}

// Smart charging: a station's composite schedule as a step chart, the charging profile library
// (add, edit, delete; install a profile on a station, clear profiles) and sites (limits, member
// stations, the allocation per running transaction, live on `site_allocation` events).
import { can, del, get, patch, post, put, query } from "../api.js";
import { clear, fmt, h, kv, pretty, table, toast } from "../dom.js";
import { stepChart } from "../chart.js";
import { action, field, fromLocalInput, onSubmit, section, select, stationCell, toLocalInput } from "../lists.js";

const enc = encodeURIComponent;
const PURPOSES = ["TxDefaultProfile", "TxProfile", "ChargePointMaxProfile"];
const KINDS = ["Absolute", "Recurring", "Relative"];

// Periods as one line each, "startPeriod limit [numberPhases]": shorter to type than JSON.
function periodsText(periods) {
  return (periods || []).map((p) => [p.startPeriod, p.limit, p.numberPhases].filter((v) => v !== undefined).join(" ")).join("\n");
}
function parsePeriods(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line, i) => {
      const [start, limit, phases, extra] = line.split(/\s+/).map(Number);
      if ([start, limit].some((v) => !Number.isFinite(v)) || extra !== undefined || (phases !== undefined && !Number.isInteger(phases))) {
        throw new Error(`Period line ${i + 1}: write "startPeriod limit [numberPhases]", e.g. "0 32"`);
      }
      return phases === undefined ? { startPeriod: start, limit } : { startPeriod: start, limit, numberPhases: phases };
    });
}

function num(el) {
  return el.value === "" ? undefined : Number(el.value);
}

// The library form: adds a profile, or replaces the one being edited (PUT keeps its id).
function profileForm(onSaved) {
  let editing = null;
  const f = {
    name: h("input", { id: "p-name", maxlength: 100 }),
    id: h("input", { id: "p-id", type: "number", min: 1, placeholder: "next free" }),
    stackLevel: h("input", { id: "p-stack", type: "number", min: 0, value: 0, required: true }),
    purpose: select({ id: "p-purpose" }, PURPOSES),
    kind: select({ id: "p-kind" }, KINDS),
    recurrency: select({ id: "p-recurrency" }, [["", "—"], "Daily", "Weekly"]),
    validFrom: h("input", { id: "p-valid-from", type: "datetime-local", step: 1 }),
    validTo: h("input", { id: "p-valid-to", type: "datetime-local", step: 1 }),
    unit: select({ id: "p-unit" }, ["A", "W"]),
    start: h("input", { id: "p-start", type: "datetime-local", step: 1 }),
    duration: h("input", { id: "p-duration", type: "number", min: 1 }),
    minRate: h("input", { id: "p-min-rate", type: "number", min: 0, step: "any" }),
    periods: h("textarea", { id: "p-periods", rows: 4, required: true, placeholder: "0 32\n3600 16" }),
  };
  const title = h("h3", {}, "Add a profile");
  const submit = h("button", { type: "submit" }, "Add to library");
  const reset = () => {
    editing = null;
    form.reset(); // values set as properties are not defaults: set them again
    f.stackLevel.value = 0;
    f.id.disabled = false;
    title.textContent = "Add a profile";
    submit.textContent = "Add to library";
  };
  const form = h(
    "form",
    { class: "form", id: "profile-form" },
    field("Name", f.name),
    field("Id (chargingProfileId)", f.id),
    field("Stack level", f.stackLevel, true),
    field("Purpose", f.purpose, true),
    field("Kind", f.kind, true),
    field("Recurrency (Recurring)", f.recurrency),
    field("Valid from (local time)", f.validFrom),
    field("Valid to (local time)", f.validTo),
    field("Rate unit", f.unit, true),
    field("Schedule start (local time; Absolute/Recurring)", f.start),
    field("Duration (s)", f.duration),
    field("Min. charging rate", f.minRate),
    field("Periods, one a line: startPeriod limit [phases]", f.periods, true),
    h("div", { class: "toolbar" }, submit, h("button", { type: "button", class: "secondary", onclick: reset }, "New")),
  );
  onSubmit(form, async () => {
    const schedule = { chargingRateUnit: f.unit.value, chargingSchedulePeriod: parsePeriods(f.periods.value) };
    if (f.start.value) schedule.startSchedule = fromLocalInput(f.start.value);
    if (f.duration.value) schedule.duration = num(f.duration);
    if (f.minRate.value) schedule.minChargingRate = num(f.minRate);
    const body = {
      name: f.name.value.trim(),
      stackLevel: num(f.stackLevel),
      chargingProfilePurpose: f.purpose.value,
      chargingProfileKind: f.kind.value,
      chargingSchedule: schedule,
      ...(f.recurrency.value ? { recurrencyKind: f.recurrency.value } : {}),
      ...(f.validFrom.value ? { validFrom: fromLocalInput(f.validFrom.value) } : {}),
      ...(f.validTo.value ? { validTo: fromLocalInput(f.validTo.value) } : {}),
    };
    if (editing === null && f.id.value) body.chargingProfileId = num(f.id);
    const saved = editing === null ? await post("/charging-profiles", body) : await put(`/charging-profiles/${editing}`, body);
    toast(`Profile ${saved.id} saved`);
    reset();
    await onSaved();
  });
  const edit = (row) => {
    const p = row.profile;
    const s = p.chargingSchedule || {};
    editing = row.id;
    f.name.value = row.name || "";
    f.id.value = row.id;
    f.id.disabled = true;
    f.stackLevel.value = p.stackLevel;
    f.purpose.value = p.chargingProfilePurpose;
    f.kind.value = p.chargingProfileKind;
    f.recurrency.value = p.recurrencyKind || "";
    f.validFrom.value = toLocalInput(p.validFrom);
    f.validTo.value = toLocalInput(p.validTo);
    f.unit.value = s.chargingRateUnit || "A";
    f.start.value = toLocalInput(s.startSchedule);
    f.duration.value = s.duration ?? "";
    f.minRate.value = s.minChargingRate ?? "";
    f.periods.value = periodsText(s.chargingSchedulePeriod);
    title.textContent = `Edit profile ${row.id}`;
    submit.textContent = "Save profile";
    f.name.focus();
  };
  return { el: h("div", {}, title, form), edit };
}

function libraryTable(rows, operator, edit, reload) {
  return table(
    [
      { label: "Id", key: "id" },
      { label: "Name", render: (r) => r.name || "–" },
      { label: "Purpose", key: "purpose" },
      { label: "Kind", key: "kind" },
      { label: "Stack", key: "stackLevel" },
      {
        label: "Schedule",
        render: (r) => {
          const s = r.profile.chargingSchedule || {};
          const periods = (s.chargingSchedulePeriod || []).map((p) => `${p.startPeriod}s: ${p.limit} ${s.chargingRateUnit}`).join(", ");
          return h("details", {}, h("summary", {}, periods || "–"), pretty(r.profile));
        },
      },
      operator
        ? {
            label: "",
            render: (r) =>
              h(
                "div",
                { class: "toolbar" },
                h("button", { type: "button", class: "secondary", onclick: () => edit(r) }, "Edit"),
                action("Delete", async () => {
                  if (!confirm(`Delete profile ${r.id} from the library? Stations keep what they were sent.`)) return;
                  await del(`/charging-profiles/${r.id}`);
                  toast(`Profile ${r.id} deleted`);
                  await reload();
                }),
              ),
          }
        : null,
    ].filter(Boolean),
    rows,
    { empty: "No profiles in the library.", rowAttrs: (r) => ({ dataset: { profile: r.id } }) },
  );
}

// Composite schedule, and (operators) install a library profile or clear profiles.
function stationTools(library, stationId) {
  const chartBox = h("div", { id: "composite" });
  const station = h("input", { id: "sc-station", required: true, value: stationId || "" });
  const connector = h("input", { id: "sc-connector", type: "number", min: 0, value: 0 });
  const choice = h("select", { id: "sc-profile" });
  const fillChoice = (rows) => clear(choice, rows.map((r) => h("option", { value: r.id }, `${r.id} · ${r.name || r.purpose}`)));
  fillChoice(library);
  const sid = () => enc(station.value.trim());
  async function show() {
    const c = await get(`/stations/${sid()}/composite-schedule${query({ connectorId: connector.value, duration: 86400 })}`);
    clear(chartBox, stepChart(`Composite schedule of ${station.value} connector ${connector.value}`, new Date(c.startSchedule), c.duration, c.chargingSchedulePeriod, c.chargingRateUnit), h("details", {}, h("summary", {}, "The schedule as JSON"), pretty(c)));
  }
  const answered = async (action, answer) => {
    const warn = (answer.warnings || []).length ? ` — ${answer.warnings.join("; ")}` : "";
    toast(`${action}: ${answer.status}${warn}`, answer.status !== "Accepted");
    if (station.reportValidity()) await show();
  };
  const install = action("Install profile (SetChargingProfile)", async () => {
    if (!station.reportValidity() || !choice.value) return;
    await answered("SetChargingProfile", await post(`/stations/${sid()}/charging-profiles`, { connectorId: Number(connector.value), profileId: Number(choice.value) }));
  }, { id: "sc-install" });
  const clearOne = action("Clear this profile", async () => {
    if (!station.reportValidity() || !choice.value) return;
    await answered("ClearChargingProfile", await post(`/stations/${sid()}/charging-profiles/clear`, { id: Number(choice.value) }));
  }, { id: "sc-clear-one" });
  const clearAll = action("Clear all on the connector", async () => {
    if (!station.reportValidity()) return;
    await answered("ClearChargingProfile", await post(`/stations/${sid()}/charging-profiles/clear`, { connectorId: Number(connector.value) }));
  }, { id: "sc-clear-all" });
  const form = onSubmit(
    h("form", { class: "form" }, field("Station", station, true), field("Connector", connector), h("button", { type: "submit" }, "Show composite schedule")),
    show,
  );
  const operatorTools = can("operator") ? h("div", { class: "form" }, field("Library profile", choice), h("div", { class: "toolbar" }, install, clearOne, clearAll)) : null;
  return { el: [form, operatorTools, chartBox], fillChoice, show };
}

function allocationTable(site) {
  return h(
    "div",
    { class: "allocation" },
    h("p", {}, `Allocated ${site.allocated} of ${site.limit} ${site.unit}`),
    table(
      [
        { label: "Transaction", render: (a) => h("a", { href: `#/transactions/${a.transactionId}` }, String(a.transactionId)) },
        { label: "Station", render: (a) => stationCell(a.stationId) },
        { label: "Conn.", key: "connectorId" },
        { label: "Limit", render: (a) => `${a.limit} ${site.unit}` },
        { label: "Updated", render: (a) => fmt.clock(a.updatedAt) },
      ],
      site.allocation || [],
      { empty: "No running transaction." },
    ),
  );
}

function siteCard(site, operator, reload) {
  const path = `/sites/${enc(site.id)}`;
  const allocation = h("div", { dataset: { allocation: site.id } }, allocationTable(site));
  const members = h(
    "ul",
    { class: "members" },
    site.stations.length ? site.stations.map((sid) => h("li", {}, stationCell(sid), " ", operator ? action("Remove", async () => (await del(`${path}/stations/${enc(sid)}`), toast(`${sid} left ${site.id}`), reload()), { "aria-label": `Remove ${sid} from ${site.id}` }) : null)) : h("li", { class: "muted" }, "No station yet."),
  );
  let editing = null;
  if (operator) {
    const limit = h("input", { name: "limit", type: "number", min: 0, step: "any", value: site.limit, required: true });
    const min = h("input", { name: "minPerConnector", type: "number", min: 0, step: "any", value: site.minPerConnector });
    const description = h("input", { name: "description", value: site.description || "" });
    const edit = onSubmit(
      h("form", { class: "form site-edit" }, field(`Limit (${site.unit})`, limit, true), field("Min. per connector", min), field("Description", description), h("button", { type: "submit" }, "Save site")),
      async () => {
        const answer = await patch(path, { limit: Number(limit.value), minPerConnector: Number(min.value || 0), description: description.value });
        toast(`Site ${site.id} saved (${answer.sent.length} profile(s) sent)`);
        await reload();
      },
    );
    const member = h("input", { name: "station", required: true, "aria-label": `Station to add to ${site.id}` });
    const add = onSubmit(h("form", { class: "form site-add" }, field("Add station", member, true), h("button", { type: "submit" }, "Add to site")), async () => {
      await put(`${path}/stations/${enc(member.value.trim())}`);
      toast(`${member.value.trim()} joined ${site.id}`);
      await reload();
    });
    const remove = action("Delete site", async () => {
      if (!confirm(`Delete site ${site.id}? Profiles already sent stay.`)) return;
      await del(path);
      toast(`Site ${site.id} deleted`);
      await reload();
    });
    editing = [h("h4", {}, "Change the site"), edit, add, remove];
  }
  return h(
    "article",
    { class: "site", dataset: { site: site.id } },
    h("h3", {}, site.id, site.description ? ` — ${site.description}` : ""),
    kv([
      ["Limit", `${site.limit} ${site.unit}`],
      ["Min. per connector", `${site.minPerConnector} ${site.unit}`],
      ["Stack level of its TxProfiles", site.stackLevel],
    ]),
    h("h4", {}, "Stations"),
    members,
    h("h4", {}, "Allocation per running transaction (live)"),
    allocation,
    editing,
  );
}

function siteForm(reload) {
  const f = {
    id: h("input", { id: "site-id", required: true, maxlength: 100, pattern: "[^\\/]+" }),
    description: h("input", { id: "site-description" }),
    limit: h("input", { id: "site-limit", type: "number", min: 0, step: "any", required: true }),
    unit: select({ id: "site-unit" }, ["A", "W"]),
    min: h("input", { id: "site-min", type: "number", min: 0, step: "any", value: 0 }),
  };
  const form = h("form", { class: "form", id: "site-form" }, field("Site id", f.id, true), field("Description", f.description), field("Limit", f.limit, true), field("Unit", f.unit), field("Min. per connector", f.min), h("button", { type: "submit" }, "Create site"));
  return onSubmit(form, async () => {
    await post("/sites", { id: f.id.value.trim(), description: f.description.value, limit: Number(f.limit.value), unit: f.unit.value, minPerConnector: Number(f.min.value || 0) });
    toast(`Site ${f.id.value.trim()} created`);
    form.reset();
    f.min.value = 0;
    await reload();
  });
}

export async function render(main, _match, page, params) {
  document.title = "Smart charging · WattHub";
  const operator = can("operator");
  const libraryBox = h("div", { id: "library" });
  const sitesBox = h("div", { id: "sites" });
  let tools = null;
  const form = operator ? profileForm(() => loadLibrary()) : null;
  async function loadLibrary() {
    const rows = await get("/charging-profiles");
    clear(libraryBox, libraryTable(rows, operator, form?.edit, loadLibrary));
    tools?.fillChoice(rows);
    return rows;
  }
  async function loadSites() {
    const sites = await get("/sites");
    clear(sitesBox, sites.length ? sites.map((s) => siteCard(s, operator, loadSites)) : h("p", { class: "muted" }, "No sites."));
  }
  // Live: only the allocation of the sites named in the events is read again (forms stay as typed).
  async function refreshAllocations(batch) {
    const ids = new Set(batch.filter((e) => e.event === "site_allocation").map((e) => e.data.site_id));
    for (const id of ids) {
      const box = sitesBox.querySelector(`[data-allocation="${CSS.escape(id)}"]`);
      if (!box) continue;
      const site = await get(`/sites/${enc(id)}/allocation`);
      clear(box, allocationTable(site));
    }
  }
  const library = await loadLibrary();
  tools = stationTools(library, params.get("stationId"));
  main.append(
    h("h1", {}, "Smart charging"),
    section("Composite schedule (computed by WattHub from the profiles the station accepted)", tools.el),
    section("Charging profile library", libraryBox, form?.el),
    section("Sites: a shared limit split between their running transactions", operator ? siteForm(loadSites) : null, sitesBox, h("p", { class: "muted" }, "The allocation follows each recomputation (transaction started or stopped, limit changed).")),
  );
  await loadSites();
  if (params.get("stationId")) tools.show().catch((err) => toast(err.message, true));
  page.live({ events: ["site_allocation"] }, (batch) => refreshAllocations(batch).catch(() => {}), () => loadSites().catch(() => {}));
}

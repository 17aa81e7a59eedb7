// Pieces shared by the feature pages: a card section, a labelled field, a link to a station,
// a submit handler, and a table of whatever scalar fields the API's rows have.
import { badge, busy, fmt, h, pretty, table } from "./dom.js";

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

export function field(text, control, required = false) {
  return h("label", {}, h("span", { class: required ? "req" : "" }, text), control);
}

export function select(attrs, options, value) {
  const pairs = options.map((o) => (Array.isArray(o) ? o : [o, o]));
  return h("select", attrs, pairs.map(([v, text]) => h("option", { value: v, selected: String(v) === String(value ?? "") }, text)));
}

export function stationCell(id) {
  return h("a", { href: `#/stations/${encodeURIComponent(id)}` }, id);
}

export const stationLink = { key: "stationId", href: (r) => `#/stations/${encodeURIComponent(r.stationId)}` };

// A form whose submit runs `action` with its submit button disabled (errors become a toast).
export function onSubmit(form, action) {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form.querySelector("button[type=submit]"), action);
  });
  return form;
}

// A button that runs `action` while disabled (errors become a toast).
export function action(text, run, attrs = {}) {
  return h("button", { type: "button", class: "secondary", ...attrs, onclick: (e) => busy(e.currentTarget, run) }, text);
}

// ISO time → the value of a datetime-local input (local time), and back.
export function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}
export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : undefined;
}

// A table of every scalar field of the rows (objects and lists shown as JSON on demand).
export function autoTable(rows, { empty, link } = {}) {
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

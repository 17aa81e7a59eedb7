// Building DOM nodes without innerHTML: every value from the API lands as text, never as markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  return fill(el, attrs, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked") {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind ?? text ?? ""}` }, text ?? "–");
}

export function table(columns, rows, { empty = "Nothing yet.", rowAttrs } = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.cls }, c.label)));
  const body = rows.length
    ? rows.map((r) =>
        h("tr", rowAttrs ? rowAttrs(r) : {}, columns.map((c) => h("td", { class: c.cls }, c.render ? c.render(r) : (r[c.key] ?? "–")))),
      )
    : [h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty))];
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]));
}

export function toast(message, bad = false) {
  const box = document.getElementById("toasts");
  const el = h("div", { class: bad ? "toast bad" : "toast" }, message);
  box.append(el);
  setTimeout(() => el.remove(), bad ? 8000 : 4000);
}

export function pretty(value) {
  return h("pre", {}, JSON.stringify(value, null, 2));
}

// Formatting: local time for people, raw ISO in the title attribute.
export const fmt = {
  time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return h("time", { datetime: iso, title: iso }, d.toLocaleString());
  },
  clock(iso) {
    if (!iso) return "–";
    return h("time", { datetime: iso, title: iso }, new Date(iso).toLocaleTimeString());
  },
  kwh(wh) {
    return wh === null || wh === undefined ? "–" : `${(wh / 1000).toFixed(2)} kWh`;
  },
  kw(w) {
    return w === null || w === undefined ? "–" : `${(w / 1000).toFixed(2)} kW`;
  },
};

// Debounce: run at most once per `ms` (live events can arrive in bursts).
export function throttle(fn, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}

// Run an async action from a button: disabled while running, errors shown as a toast.
export async function busy(button, action) {
  button.disabled = true;
  try {
    return await action();
  } catch (err) {
    toast(err.message || String(err), true);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

// Small hand-written SVG charts: a time/value line chart (energy, power per phase) and a step
// chart (a composite charging schedule). Scales, ticks and an accessible summary, nothing more.
import { h, s } from "./dom.js";

const W = 720;
const H = 240;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };
export const COLORS = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#a16207"];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(xMin, xMax, yMax, xLabel) {
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (v) => PAD.left + ((v - xMin) / (xMax - xMin || 1)) * iw;
  const y = (v) => PAD.top + ih - (v / yMax) * ih;
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(s("line", { class: "grid-line", x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }));
    parts.push(s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, `${+v.toPrecision(3)}`));
  }
  for (let i = 0; i <= 4; i++) {
    const v = xMin + ((xMax - xMin) * i) / 4;
    parts.push(s("text", { x: x(v), y: H - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, xLabel(v)));
  }
  parts.push(s("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom }));
  parts.push(s("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom }));
  return { x, y, parts };
}

function legend(series) {
  return h(
    "div",
    { class: "legend" },
    series.map((sr, i) => {
      const el = h("span", {}, sr.name);
      el.style.setProperty("--c", COLORS[i % COLORS.length]);
      return el;
    }),
  );
}

// series: [{name, points: [{t: Date|ms, v: number}]}]; unit e.g. "kW".
export function lineChart(title, series, unit) {
  const all = series.flatMap((sr) => sr.points);
  if (!all.length) return h("div", { class: "chart" }, h("p", { class: "muted" }, `${title}: no values yet.`));
  const ts = all.map((p) => +p.t);
  let xMin = Math.min(...ts);
  let xMax = Math.max(...ts);
  if (xMax === xMin) {
    xMin -= 30000;
    xMax += 30000;
  }
  const yMax = niceMax(Math.max(...all.map((p) => p.v)));
  const f = frame(xMin, xMax, yMax, (v) => new Date(v).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }));
  const lines = series.map((sr, i) => {
    const pts = [...sr.points].sort((a, b) => a.t - b.t);
    const d = pts.map((p, j) => `${j ? "L" : "M"}${f.x(+p.t).toFixed(1)},${f.y(p.v).toFixed(1)}`).join(" ");
    return [
      s("path", { class: "line", d, stroke: COLORS[i % COLORS.length] }),
      pts.length === 1 ? s("circle", { cx: f.x(+pts[0].t), cy: f.y(pts[0].v), r: 3, fill: COLORS[i % COLORS.length] }) : null,
    ];
  });
  const last = series.map((sr) => `${sr.name} ${sr.points.at(-1)?.v.toFixed(2) ?? "–"} ${unit}`).join(", ");
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}. Latest: ${last}.` }, f.parts, lines);
  return h("figure", { class: "chart" }, h("figcaption", {}, h("strong", {}, `${title} (${unit})`)), svg, legend(series));
}

// periods: [{startPeriod (s), limit}], over `duration` seconds from `start` (Date); unit "A"/"W".
export function stepChart(title, start, duration, periods, unit) {
  if (!periods?.length) return h("p", { class: "muted" }, `${title}: no schedule.`);
  const t0 = +start;
  const end = t0 + (duration || periods.at(-1).startPeriod + 3600) * 1000;
  const yMax = niceMax(Math.max(...periods.map((p) => p.limit)));
  const f = frame(t0, end, yMax, (v) => new Date(v).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  let d = "";
  periods.forEach((p, i) => {
    const x0 = f.x(t0 + p.startPeriod * 1000);
    const x1 = i + 1 < periods.length ? f.x(t0 + periods[i + 1].startPeriod * 1000) : f.x(end);
    d += `${i ? "L" : "M"}${x0.toFixed(1)},${f.y(p.limit).toFixed(1)} L${x1.toFixed(1)},${f.y(p.limit).toFixed(1)} `;
  });
  const label = periods.map((p) => `from ${p.startPeriod}s: ${p.limit} ${unit}`).join("; ");
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}: ${label}` }, f.parts, s("path", { class: "line", d, stroke: COLORS[0] }));
  return h("figure", { class: "chart" }, h("figcaption", {}, h("strong", {}, `${title} (${unit})`)), svg);
}

// Meter rows of the API (one per sampled value) → chart series for power and energy.
export function meterSeries(rows) {
  const power = new Map();
  const energy = [];
  for (const r of rows) {
    const v = Number.parseFloat(r.value);
    if (Number.isNaN(v)) continue;
    const k = (r.unit || "").startsWith("k") ? 1000 : 1;
    const t = new Date(r.timestamp);
    const measurand = r.measurand || "Energy.Active.Import.Register";
    if (measurand === "Power.Active.Import") {
      const name = r.phase ? `Power ${r.phase}` : "Power";
      if (!power.has(name)) power.set(name, []);
      power.get(name).push({ t, v: (v * k) / 1000 });
    } else if (measurand === "Energy.Active.Import.Register" && !r.phase) {
      energy.push({ t, v: (v * k) / 1000 });
    }
  }
  return {
    power: [...power.entries()].map(([name, points]) => ({ name, points })),
    energy: energy.length ? [{ name: "Energy", points: energy }] : [],
  };
}

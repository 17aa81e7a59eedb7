// Live updates: one EventSource per page on /api/v1/events/stream, filtered server-side by
// station and event names. Each message is a batch (JSON list of {event, data}); a "resync"
// message means events were dropped for this browser and the page must reload its data.

const indicator = () => document.getElementById("live-state");

function show(state) {
  const el = indicator();
  if (!el) return;
  el.className = `live ${state}`;
  el.title = state === "on" ? "Live updates connected" : "Live updates reconnecting…";
  el.setAttribute("aria-label", el.title);
}

export function openLive({ stationId, events } = {}, onBatch, onResync) {
  const params = new URLSearchParams();
  if (stationId) params.set("stationId", stationId);
  if (events) params.set("events", events.join(","));
  const source = new EventSource(`/api/v1/events/stream${params.size ? `?${params}` : ""}`);
  // Whatever happened between the page's first load and the stream's (re)connection is not in
  // the stream: reload then (the first open included; handlers are throttled).
  source.onopen = () => {
    show("on");
    onResync?.();
  };
  source.onerror = () => show("off"); // EventSource reconnects by itself (retry: 2000)
  source.onmessage = (message) => {
    let batch;
    try {
      batch = JSON.parse(message.data);
    } catch {
      return;
    }
    onBatch(batch);
  };
  source.addEventListener("resync", () => onResync?.());
  // The server ended the stream: the session expired, was logged out or the token revoked.
  source.addEventListener("unauthorized", () => {
    source.close();
    window.dispatchEvent(new Event("watthub-unauthorized"));
  });
  return () => {
    source.close();
    show("");
  };
}

// The meter values a station sent, reduced to what the console draws: total power (W), energy
// register (Wh) and per-phase power when the station reports phases.
export function readMeter(meterValue) {
  const out = [];
  for (const mv of meterValue || []) {
    const point = { t: mv.timestamp, powerW: null, energyWh: null, phases: {} };
    for (const sv of mv.sampledValue || []) {
      const measurand = sv.measurand || "Energy.Active.Import.Register";
      const value = Number.parseFloat(sv.value);
      if (Number.isNaN(value)) continue;
      const k = (sv.unit || "").startsWith("k") ? 1000 : 1;
      if (measurand === "Power.Active.Import") {
        if (sv.phase) point.phases[sv.phase] = value * k;
        else point.powerW = value * k;
      } else if (measurand === "Energy.Active.Import.Register" && !sv.phase) {
        point.energyWh = value * k;
      }
    }
    if (point.powerW === null && Object.keys(point.phases).length) {
      point.powerW = Object.values(point.phases).reduce((a, b) => a + b, 0);
    }
    out.push(point);
  }
  return out;
}

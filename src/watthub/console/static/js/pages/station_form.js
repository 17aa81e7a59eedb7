// Add or edit a station: password, boot policy, security profile, heartbeat, validation.
import { get, patch, post, put } from "../api.js";
import { h, toast } from "../dom.js";

function select(name, options, value) {
  return h("select", { name, id: `f-${name}` }, options.map((o) => h("option", { value: o, selected: String(o) === String(value) }, o)));
}

export async function render(main, [stationId]) {
  const editing = Boolean(stationId);
  const station = editing ? await get(`/stations/${encodeURIComponent(stationId)}`) : {};
  document.title = `${editing ? `Edit ${stationId}` : "Add a station"} · WattHub`;
  const id = h("input", { name: "id", id: "f-id", required: true, pattern: "[^\\/]+", maxlength: 255, value: stationId || "", disabled: editing });
  const description = h("input", { name: "description", id: "f-description", value: station.description || "" });
  const password = h("input", { name: "password", id: "f-password", type: "password", minlength: 8, maxlength: 40, autocomplete: "new-password" });
  const boot = select("bootPolicy", ["Accepted", "Pending", "Rejected"], station.bootPolicy || "Accepted");
  const validation = select("validationPolicy", ["strict", "lenient"], station.validationPolicy || "strict");
  const heartbeat = h("input", { name: "heartbeatInterval", id: "f-heartbeat", type: "number", min: 1, value: station.heartbeatInterval ?? "" });
  const profile = select("securityProfile", ["", 0, 1, 2, 3], station.securityProfile ?? "");
  const reason = h("input", { name: "reason", id: "f-reason", maxlength: 500 });
  const form = h(
    "form",
    { class: "card form stack", id: "station-form" },
    h("label", {}, h("span", { class: "req" }, "Charge point id"), id),
    h("label", {}, "Description", description),
    h("label", {}, editing ? "New password (Basic auth, profile 1–2; empty keeps it)" : "Password (Basic auth; empty for none)", password),
    h("label", {}, "Boot policy", boot),
    h("label", {}, "Heartbeat interval (s, empty = default)", heartbeat),
    h("label", {}, "Message validation", validation),
    editing ? h("label", {}, "Security profile (0 none, 1 Basic auth, 2 TLS + Basic, 3 client certificate)", profile) : h("label", {}, "Security profile (empty: 1 with a password, else 0)", profile),
    editing ? h("label", {}, "Reason for a profile change (kept in its history)", reason) : null,
    h("div", { class: "toolbar" }, h("button", { type: "submit" }, editing ? "Save" : "Add station"), h("a", { class: "button secondary", href: editing ? `#/stations/${encodeURIComponent(stationId)}` : "#/stations" }, "Cancel")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const hb = heartbeat.value ? Number(heartbeat.value) : null;
      if (editing) {
        await patch(`/stations/${encodeURIComponent(stationId)}`, {
          description: description.value,
          bootPolicy: boot.value,
          validationPolicy: validation.value,
          ...(hb ? { heartbeatInterval: hb } : {}),
        });
        if (password.value) await put(`/stations/${encodeURIComponent(stationId)}/password`, { password: password.value });
        if (profile.value !== "" && Number(profile.value) !== station.securityProfile) {
          await put(`/stations/${encodeURIComponent(stationId)}/security-profile`, {
            profile: Number(profile.value),
            reason: reason.value.trim() || "changed in the console",
          });
        }
      } else {
        await post("/stations", {
          id: id.value.trim(),
          description: description.value,
          bootPolicy: boot.value,
          validationPolicy: validation.value,
          ...(hb ? { heartbeatInterval: hb } : {}),
          ...(password.value ? { password: password.value } : {}),
          ...(profile.value !== "" ? { securityProfile: Number(profile.value) } : {}),
        });
      }
      toast(editing ? "Saved" : "Station added");
      location.hash = `#/stations/${encodeURIComponent(editing ? stationId : id.value.trim())}`;
    } catch (err) {
      toast(err.message, true);
    } finally {
      button.disabled = false;
    }
  });
  main.append(h("h1", {}, editing ? `Edit ${stationId}` : "Add a station"), form);
  (editing ? description : id).focus();
}

// Security: security events (live), stations per security profile, one station's profile
// history and certificates with their expiry (install, delete, renew, list), WattHub's own
// certificates (root CA, server, firmware signing) and what expires soon.
import { api, can, command, get, post, query } from "../api.js";
import { badge, clear, fmt, h, kv, table, toast } from "../dom.js";
import { action, autoTable, field, onSubmit, section, select, stationCell, stationLink } from "../lists.js";

const enc = encodeURIComponent;
const PROFILES = ["0 · no authentication", "1 · Basic auth", "2 · TLS + Basic auth", "3 · TLS client certificate"];
const CERT_TYPES = ["CentralSystemRootCertificate", "ManufacturerRootCertificate"];
const DAY = 86400000;

// The expiry as a badge: red when expired, amber within `warnDays`, green otherwise.
function expiry(iso, warnDays) {
  if (!iso) return "–";
  const days = Math.floor((new Date(iso) - Date.now()) / DAY);
  const kind = days < 0 ? "Rejected" : days < warnDays ? "Pending" : "ok";
  return h("span", {}, badge(days < 0 ? "expired" : `${days} days`, kind), " ", fmt.time(iso));
}

async function profileCounts(box) {
  const counts = await Promise.all(
    PROFILES.map(async (_, n) => Number((await api("GET", `/stations${query({ securityProfile: n, limit: 1 })}`, undefined, { raw: true })).headers.get("X-Total-Count"))),
  );
  clear(
    box,
    table(
      [
        { label: "Security profile", render: (r) => r.label },
        { label: "Stations", render: (r) => String(r.count) },
      ],
      PROFILES.map((label, n) => ({ label, count: counts[n] })),
    ),
  );
}

function certificateTables(sid, certs, warnDays, reload) {
  const operator = can("operator");
  const remove = (c) =>
    action("Delete (DeleteCertificate)", async () => {
      if (!confirm(`Delete certificate ${c.serialNumber} from ${sid}?`)) return;
      const answer = await api("DELETE", `/stations/${enc(sid)}/certificates/${c.id}`);
      toast(`DeleteCertificate: ${answer.status}`, answer.status !== "Accepted");
      await reload();
    });
  return [
    h("h3", {}, "Installed on the station (as it last reported)"),
    table(
      [
        { label: "Type", key: "certificateType" },
        { label: "Serial", key: "serialNumber" },
        { label: "Subject", cls: "hide-narrow", render: (c) => c.subject || "–" },
        { label: "Expires", render: (c) => expiry(c.notAfter, warnDays) },
        operator ? { label: "", render: remove } : null,
      ].filter(Boolean),
      certs.installed,
      { empty: "None known: ask the station with “List installed certificates”." },
    ),
    h("h3", {}, "Issued to it by WattHub's CA"),
    table(
      [
        { label: "Serial", key: "serialNumber" },
        { label: "Subject", cls: "hide-narrow", key: "subject" },
        { label: "Status", render: (c) => badge(c.status, c.status === "Accepted" ? "ok" : c.status) },
        { label: "Issued", render: (c) => fmt.time(c.createdAt) },
        { label: "Expires", render: (c) => expiry(c.notAfter, warnDays) },
      ],
      certs.issued,
      { empty: "None issued (the station sends a CSR with SignCertificate)." },
    ),
  ];
}

function stationSecurity(warnDays, stationId) {
  const station = h("input", { id: "sec-station", required: true, value: stationId || "" });
  const box = h("div", { id: "station-security" });
  async function load() {
    const sid = station.value.trim();
    const [profile, certs] = await Promise.all([get(`/stations/${enc(sid)}/security-profile`), get(`/stations/${enc(sid)}/certificates`)]);
    const operator = can("operator");
    const type = select({ id: "sec-cert-type", "aria-label": "Certificate type" }, CERT_TYPES);
    const answered = (name) => async (answer) => {
      toast(`${name}: ${answer.status}`, answer.status !== "Accepted");
      await load();
    };
    const tools = operator
      ? h(
          "div",
          { class: "toolbar" },
          type,
          action("List installed certificates", async () => answered("GetInstalledCertificateIds")(await command(sid, "GetInstalledCertificateIds", { certificateType: type.value })), { id: "sec-list" }),
          action("Install WattHub's root CA", async () => answered("InstallCertificate")(await post(`/stations/${enc(sid)}/install-certificate`, { certificateType: "CentralSystemRootCertificate" })), { id: "sec-install" }),
          action("Renew its certificate (new CSR)", async () => answered("ExtendedTriggerMessage")(await post(`/stations/${enc(sid)}/renew-certificate`)), { id: "sec-renew" }),
          action("Rotate its password", async () => answered("ChangeConfiguration(AuthorizationKey)")(await post(`/stations/${enc(sid)}/rotate-password`)), { id: "sec-rotate" }),
        )
      : null;
    clear(
      box,
      kv([
        ["Station", stationCell(sid)],
        ["Security profile", PROFILES[profile.securityProfile] ?? String(profile.securityProfile)],
      ]),
      h("p", { class: "muted" }, "Change the profile on the station's ", h("a", { href: `#/stations/${enc(sid)}/edit` }, "Edit page"), " (a reason is kept in the history below)."),
      tools,
      certificateTables(sid, certs, warnDays, load),
      h("h3", {}, "Profile history"),
      table(
        [
          { label: "When", render: (c) => fmt.time(c.createdAt) },
          { label: "From", key: "oldProfile" },
          { label: "To", key: "newProfile" },
          { label: "Via", key: "via" },
          { label: "Reason", render: (c) => c.reason || "–" },
        ],
        profile.changes,
        { empty: "Never changed." },
      ),
    );
  }
  const form = onSubmit(h("form", { class: "form", id: "sec-form" }, field("Station", station, true), h("button", { type: "submit" }, "Show")), load);
  return { el: [form, box], load };
}

export async function render(main, _match, page, params) {
  document.title = "Security · WattHub";
  const events = h("div", { id: "security-events" });
  const counts = h("div", { id: "profile-counts" });
  async function load() {
    clear(events, autoTable(await get(`/security-events${query({ limit: 100 })}`), { empty: "No security events.", link: stationLink }));
  }
  const expiring = await get("/certificates/expiring");
  // WattHub's own certificates: the same endpoint with a horizon of a century lists them all.
  const own = await get(`/certificates/expiring${query({ days: 36500 })}`);
  const warnDays = expiring.withinDays;
  const station = stationSecurity(warnDays, params.get("stationId"));
  main.append(
    h("h1", {}, "Security"),
    section("Security events (live)", events),
    section("Stations per security profile", counts),
    section("A station's security profile and certificates", station.el),
    section(
      "WattHub's certificates (root CA, server, firmware signing)",
      table(
        [
          { label: "Subject", key: "subject" },
          { label: "Serial", cls: "hide-narrow", key: "serial" },
          { label: "Expires", render: (c) => expiry(c.notAfter, warnDays) },
        ],
        own.watthub,
        { empty: "No CA yet: `watthub ca init` creates one (docs/security.md)." },
      ),
      h("p", { class: "muted" }, "Creating, importing or renewing the CA and the server certificate is done with `watthub ca …` on WattHub's host: the API has no endpoint for it, so the keys never travel through a browser."),
    ),
    section(
      `Certificates expiring within ${warnDays} days`,
      h("h3", {}, "Issued to stations"),
      autoTable(expiring.stations, { empty: "None.", link: stationLink }),
    ),
  );
  await Promise.all([load(), profileCounts(counts), params.get("stationId") ? station.load().catch((err) => toast(err.message, true)) : null]);
  const reload = () => load().catch(() => {});
  page.live({ events: ["security_event"] }, reload, reload);
}

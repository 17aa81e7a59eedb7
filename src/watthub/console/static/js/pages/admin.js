// The audit trail (who sent which command to which station, when, and the answer) and, for
// admins, users and API tokens.
import { can, del, get, patch, post, query } from "../api.js";
import { badge, busy, clear, fmt, h, pretty, table, toast } from "../dom.js";

export function auditTable(rows) {
  return table(
    [
      { label: "When", render: (r) => fmt.time(r.at) },
      { label: "Who", render: (r) => [r.actor, " ", h("span", { class: "muted" }, r.actorKind)] },
      { label: "Station", render: (r) => h("a", { href: `#/stations/${encodeURIComponent(r.stationId)}` }, r.stationId) },
      { label: "Command", render: (r) => h("details", {}, h("summary", {}, r.action), pretty(r.payload)) },
      { label: "Result", render: (r) => badge(r.result, r.result === "ok" || r.result === "Accepted" ? "ok" : "") },
      { label: "Answer", cls: "hide-narrow", render: (r) => h("details", {}, h("summary", {}, typeof r.answer === "string" ? r.answer.slice(0, 60) : (r.answer?.status ?? "…")), pretty(r.answer)) },
    ],
    rows,
    { empty: "No command sent yet." },
  );
}

async function audit(main, page) {
  const user = h("input", { id: "audit-user", placeholder: "user or token name" });
  const station = h("input", { id: "audit-station" });
  const box = h("div", { id: "audit" });
  const more = h("button", { type: "button", class: "secondary" }, "Older");
  let rows = [];
  async function load(older) {
    const before = older && rows.length ? rows.at(-1).id : "";
    const next = await get(`/audit${query({ user: user.value.trim(), stationId: station.value.trim(), limit: 100, before })}`);
    rows = older ? rows.concat(next) : next;
    clear(box, auditTable(rows));
    more.hidden = next.length < 100;
  }
  const form = h("form", { class: "toolbar" }, h("label", {}, "User", user), h("label", {}, "Station", station), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (e) => (e.preventDefault(), load(false)));
  more.addEventListener("click", () => busy(more, () => load(true)));
  main.append(h("p", { class: "muted" }, "Every command an operator or API token sent, with the station's answer."), form, box, h("div", { class: "pager" }, more));
  await load(false);
  const reload = () => load(false).catch(() => {});
  page.live({ events: ["command_sent"] }, reload, reload);
}

async function users(main) {
  if (!can("admin")) {
    main.append(h("p", { class: "error" }, "Only administrators manage users and tokens."));
    return;
  }
  const userBox = h("div", { id: "users" });
  const tokenBox = h("div", { id: "tokens" });
  const roles = ["viewer", "operator", "admin"];
  async function loadUsers() {
    const list = await get("/users");
    clear(
      userBox,
      table(
        [
          { label: "User", key: "username" },
          {
            label: "Role",
            render: (u) => {
              const sel = h("select", { "aria-label": `Role of ${u.username}` }, roles.map((r) => h("option", { value: r, selected: r === u.role }, r)));
              sel.addEventListener("change", () => busy(sel, async () => (await patch(`/users/${encodeURIComponent(u.username)}`, { role: sel.value }), toast(`${u.username} is now ${sel.value}`))));
              return sel;
            },
          },
          { label: "State", render: (u) => badge(u.disabled ? "disabled" : "active", u.disabled ? "Blocked" : "ok") },
          { label: "Created", cls: "hide-narrow", render: (u) => fmt.time(u.createdAt) },
          {
            label: "",
            render: (u) => [
              h("button", { type: "button", class: "secondary", onclick: (e) => busy(e.currentTarget, async () => (await patch(`/users/${encodeURIComponent(u.username)}`, { disabled: !u.disabled }), loadUsers())) }, u.disabled ? "Enable" : "Disable"),
              " ",
              h("button", {
                type: "button",
                class: "secondary",
                onclick: (e) => {
                  const password = prompt(`New password for ${u.username}`);
                  if (password) busy(e.currentTarget, async () => (await patch(`/users/${encodeURIComponent(u.username)}`, { password }), toast("Password changed; the user's sessions ended")));
                },
              }, "Set password"),
              " ",
              h("button", { type: "button", class: "danger", onclick: (e) => confirm(`Remove ${u.username}?`) && busy(e.currentTarget, async () => (await del(`/users/${encodeURIComponent(u.username)}`), loadUsers())) }, "Remove"),
            ],
          },
        ],
        list,
      ),
    );
  }
  async function loadTokens() {
    const list = await get("/tokens");
    clear(
      tokenBox,
      table(
        [
          { label: "Name", key: "name" },
          { label: "Role", key: "role" },
          { label: "Created", render: (t) => fmt.time(t.createdAt) },
          { label: "Last used", render: (t) => fmt.time(t.lastUsedAt) },
          { label: "", render: (t) => h("button", { type: "button", class: "danger", onclick: (e) => confirm(`Revoke token ${t.name}?`) && busy(e.currentTarget, async () => (await del(`/tokens/${t.id}`), loadTokens())) }, "Revoke") },
        ],
        list,
        { empty: "No API tokens." },
      ),
    );
  }
  const name = h("input", { id: "user-name", required: true, maxlength: 64 });
  const role = h("select", { id: "user-role" }, roles.map((r) => h("option", { value: r }, r)));
  const password = h("input", { id: "user-password", type: "password", required: true, autocomplete: "new-password" });
  const userForm = h("form", { class: "form", id: "user-form" }, h("label", {}, h("span", { class: "req" }, "User name"), name), h("label", {}, "Role", role), h("label", {}, h("span", { class: "req" }, "Password"), password), h("button", { type: "submit" }, "Add user"));
  userForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(userForm.querySelector("button"), async () => {
      await post("/users", { username: name.value.trim(), role: role.value, password: password.value });
      toast(`User ${name.value.trim()} added`);
      userForm.reset();
      await loadUsers();
    });
  });
  const tokenName = h("input", { id: "token-name", required: true, maxlength: 100 });
  const tokenRole = h("select", { id: "token-role" }, roles.map((r) => h("option", { value: r }, r)));
  const secret = h("div", { "aria-live": "polite" });
  const tokenForm = h("form", { class: "form", id: "token-form" }, h("label", {}, h("span", { class: "req" }, "Token name"), tokenName), h("label", {}, "Role", tokenRole), h("button", { type: "submit" }, "Create token"));
  tokenForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(tokenForm.querySelector("button"), async () => {
      const created = await post("/tokens", { name: tokenName.value.trim(), role: tokenRole.value });
      clear(secret, h("p", {}, "Copy the token now, it is shown only once:"), h("pre", { id: "token-secret" }, created.token ?? JSON.stringify(created)));
      tokenForm.reset();
      await loadTokens();
    });
  });
  main.append(
    h("section", { class: "card" }, h("h2", {}, "Users"), userForm, userBox),
    h("section", { class: "card" }, h("h2", {}, "API tokens"), tokenForm, secret, tokenBox),
  );
  await Promise.all([loadUsers(), loadTokens()]);
}

const PAGES = { audit: ["Audit trail", audit], users: ["Users and tokens", users] };

export async function render(main, [name], page) {
  const [title, fn] = PAGES[name];
  document.title = `${title} · WattHub`;
  main.append(h("h1", {}, title));
  await fn(main, page);
}

// The console shell: login, navigation (hash routes), and a per-page context whose live
// streams and timers are closed when the operator leaves the page.
import { ApiError, can, login, logout, me, session, sessionGeneration, setUnauthorizedHandler } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { openLive } from "./live.js";

const routes = [
  [/^\/$/, () => import("./pages/overview.js")],
  [/^\/stations$/, () => import("./pages/stations.js")],
  [/^\/stations\/new$/, () => import("./pages/station_form.js"), "operator"],
  [/^\/stations\/([^/]+)\/edit$/, () => import("./pages/station_form.js"), "operator"],
  [/^\/stations\/([^/]+)$/, () => import("./pages/station.js")],
  [/^\/transactions$/, () => import("./pages/transactions.js")],
  [/^\/transactions\/(\d+)$/, () => import("./pages/transaction.js")],
  [/^\/id-tags$/, () => import("./pages/id_tags.js")],
  [/^\/(reservations|local-lists|firmware|diagnostics)$/, () => import("./pages/more.js")],
  [/^\/smart-charging$/, () => import("./pages/smart.js")],
  [/^\/security$/, () => import("./pages/security.js")],
  [/^\/(users)$/, () => import("./pages/admin.js"), "admin"],
  [/^\/(audit)$/, () => import("./pages/admin.js")],
];

const main = document.getElementById("main");
const header = document.querySelector("header.top");
let current = null; // the page context of the page on screen

class Page {
  constructor() {
    this.cleanups = [];
    this.alive = true;
  }
  live(filter, onBatch, onResync) {
    this.cleanups.push(openLive(filter, onBatch, onResync));
  }
  every(ms, fn) {
    const id = setInterval(fn, ms);
    this.cleanups.push(() => clearInterval(id));
  }
  onLeave(fn) {
    this.cleanups.push(fn);
  }
  close() {
    this.alive = false;
    for (const fn of this.cleanups) fn();
  }
}

function path() {
  return decodeURIComponent((location.hash || "#/").slice(1)) || "/";
}

async function route() {
  current?.close();
  if (!session.user) {
    showLogin();
    return;
  }
  const [target, search] = path().split("?");
  for (const a of document.querySelectorAll("#nav a")) {
    const href = a.getAttribute("href").slice(1);
    const active = href === "/" ? target === "/" : target === href || target.startsWith(`${href}/`);
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.getElementById("nav").classList.remove("open");
  const page = new Page();
  current = page;
  for (const [pattern, load, role] of routes) {
    const match = target.match(pattern);
    if (!match) continue;
    if (role && !can(role)) {
      clear(
        main,
        h("h1", {}, "Not allowed"),
        h("p", {}, `You are logged in as ${session.user.username} with the role ${session.user.role}; this page needs the ${role} role.`),
        h("p", {}, h("a", { href: "#/" }, "Back to the overview")),
      );
      main.focus({ preventScroll: true });
      return;
    }
    try {
      const module = await load();
      if (!page.alive) return;
      // Each page renders into its own element: a page left while it was still loading
      // (or updating) writes into a detached element, never into the next page.
      const root = h("div", { class: "page" });
      clear(main, root);
      await module.render(root, match.slice(1), page, new URLSearchParams(search || ""));
    } catch (err) {
      if (!page.alive || (err instanceof ApiError && err.status === 401)) return;
      clear(main, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, err.message || String(err)));
    }
    main.focus({ preventScroll: true });
    return;
  }
  clear(main, h("h1", {}, "Not found"), h("p", {}, "No such page. ", h("a", { href: "#/" }, "Back to the overview")));
}

function showLogin(message) {
  current?.close();
  header.hidden = true;
  document.title = "Log in · WattHub";
  const error = h("p", { class: "error", role: "alert", id: "login-error" }, message || "");
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true, value: "admin" });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    { class: "form stack", "aria-describedby": "login-error" },
    h("label", {}, "User name", user),
    h("label", {}, "Password", pass),
    button,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      await login(user.value, pass.value);
      started();
    } catch (err) {
      if (err.status === 429) error.textContent = `Too many attempts. ${err.message}`;
      else if (err.status === 401) error.textContent = "Wrong user name or password.";
      else error.textContent = err.message;
      pass.select();
    } finally {
      button.disabled = false;
    }
  });
  clear(
    main,
    h("div", { class: "card login" }, h("h1", {}, "⚡ WattHub"), h("p", { class: "muted" }, "Log in to the operator console."), form, error),
  );
  (user.value ? pass : user).focus();
}

function started() {
  header.hidden = false;
  document.getElementById("who").textContent = `${session.user.username} (${session.user.role})`;
  for (const el of document.querySelectorAll("[data-role]")) el.hidden = !can(el.dataset.role);
  route();
}

document.getElementById("logout").addEventListener("click", async () => {
  await logout();
  toast("Logged out");
  showLogin();
});
document.querySelector(".menu-toggle").addEventListener("click", (e) => {
  const nav = document.getElementById("nav");
  nav.classList.toggle("open");
  e.currentTarget.setAttribute("aria-expanded", String(nav.classList.contains("open")));
});
setUnauthorizedHandler(() => {
  session.user = null;
  showLogin("Your session has ended. Please log in again.");
});
window.addEventListener("hashchange", route);
window.addEventListener("watthub-unauthorized", () => {
  // The live feed of a session that has ended; nothing to do if the login form already shows.
  if (!session.user) return;
  const at = sessionGeneration();
  me().catch(() => {
    if (at !== sessionGeneration() || !session.user) return; // logged out or in again meanwhile
    session.user = null;
    showLogin("Your session has ended. Please log in again.");
  });
});

try {
  await me();
  started();
} catch (err) {
  showLogin(err.status === 401 || err.status === 404 ? "" : err.message);
}

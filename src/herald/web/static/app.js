// The shell: sign-in, routes (#/, #/clients, #/mailings…), polling, banners and dialogs.

import { ApiError, Unreachable, call, events, session } from "./api.js";
import * as clients from "./clients.js";
import * as dashboard from "./dashboard.js";
import { fill, h, setErrorReporter } from "./dom.js";
import { describe } from "./forms.js";
import * as detail from "./mailing-detail.js";
import * as mailingForm from "./mailing-form.js";
import * as mailings from "./mailings.js";

const POLL_MS = 1500;
const $ = (id) => document.getElementById(id);

const ROUTES = [
  [/^\/?$/, dashboard, "Dashboard"],
  [/^\/clients$/, clients, "Clients"],
  [/^\/mailings$/, mailings, "Mailings"],
  [/^\/mailings\/new$/, mailingForm, "New mailing"],
  [/^\/mailings\/(\d+)$/, detail, "Mailing"],
  [/^\/mailings\/(\d+)\/edit$/, mailingForm, "Edit mailing"],
];

let current = null; // {view, refresh, unmount}
let toastTimer = 0;

const app = {
  navigate(hash) {
    location.hash = hash;
  },
  toast(text, kind = "ok") {
    const el = $("announce");
    el.textContent = text;
    el.className = `toast toast-${kind}`;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      el.className = "visually-hidden";
      el.textContent = "";
    }, 5000);
  },
  confirm(text, okLabel = "Confirm") {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  },
};

function banner(text) {
  const el = $("banner");
  el.textContent = text || "";
  el.hidden = !text;
}

function report(err) {
  if (err instanceof Unreachable) return; // the banner says so already
  if (err instanceof ApiError && err.status === 401) return; // back to sign-in already
  app.toast(describe(err), "error");
}

function unmount() {
  current?.unmount?.();
  current = null;
  fill($("view"));
}

function markNav(path) {
  for (const link of document.querySelectorAll("#nav a")) {
    const section = link.getAttribute("href").slice(1);
    const here = section === "/" ? path === "/" || path === "" : path.startsWith(section);
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

const notFound = () => [
  h("h1", { tabindex: "-1" }, "Not found"),
  h("p", {}, h("a", { href: "#/" }, "Back to the dashboard")),
];

function route() {
  unmount();
  if (!session.token) return;
  const path = decodeURIComponent(location.hash.replace(/^#/, ""));
  const found = ROUTES.map(([re, view, title]) => [re.exec(path), view, title]).find(([m]) => m);
  markNav(path);
  const [match, view, title] = found || [null, null, "Not found"];
  document.title = `${title} — Herald`;
  const root = h("section", { class: "view" });
  fill($("view"), root);
  if (view) current = view.mount(root, match.slice(1), app) || {};
  else fill(root, notFound());
  if (current?.refresh) refresh(current);
  root.querySelector("h1")?.focus({ preventScroll: true });
}

async function refresh(view) {
  if (view.busy) return;
  view.busy = true;
  try {
    await view.refresh();
  } catch (err) {
    if (current === view) report(err);
  } finally {
    view.busy = false;
  }
}

function poll() {
  setTimeout(poll, POLL_MS);
  if (current?.refresh && session.token && !document.hidden) refresh(current);
}

function showSignIn(note) {
  unmount();
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-note").textContent = note || "";
  document.title = "Sign in — Herald";
  $("token").value = "";
  $("token").focus();
}

function showApp() {
  $("sign-in").hidden = true;
  $("sign-in-note").textContent = "";
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  route();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("token");
  const error = $("token-error");
  const token = input.value.trim();
  error.textContent = "";
  input.removeAttribute("aria-invalid");
  if (!token) {
    error.textContent = "Enter the admin token.";
  } else {
    try {
      await call("GET", "/pipeline", { token });
      session.set(token);
      showApp();
      return;
    } catch (err) {
      const refused = err instanceof ApiError && err.status === 401;
      error.textContent = refused
        ? "This token was refused. Check HERALD_API_TOKEN."
        : describe(err);
    }
  }
  input.setAttribute("aria-invalid", "true");
  input.focus();
}

function signOut(note) {
  session.clear();
  banner("");
  showSignIn(note);
}

function start() {
  setErrorReporter(report);
  window.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    report(event.reason);
  });
  events.addEventListener("unauthorized", () =>
    signOut("Your session has ended: the token was refused (expired or changed). Sign in again."),
  );
  events.addEventListener("unreachable", () =>
    banner("The Herald API cannot be reached. Retrying every few seconds…"),
  );
  events.addEventListener("reachable", () => banner(""));
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut("You have signed out."));
  $("skip").addEventListener("click", (event) => {
    event.preventDefault(); // "#main" would be taken for a route
    $("main").focus();
  });
  window.addEventListener("hashchange", () => session.token && showApp());
  if (session.token) showApp();
  else showSignIn();
  setTimeout(poll, POLL_MS);
}

start();

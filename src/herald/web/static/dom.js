// Building the DOM without markup strings: every piece of data goes in as text.

/**
 * h("a", {href: "#/", class: "x", onclick: fn, "aria-label": "y"}, "text", child, [more])
 * Strings and numbers become text nodes; null, undefined and false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) setAttr(el, name, value);
  append(el, children);
  return el;
}

function setAttr(el, name, value) {
  if (value === undefined || value === null || value === false) return;
  if (name.startsWith("on") && typeof value === "function") {
    el.addEventListener(name.slice(2), value);
  } else if (name === "text") {
    el.textContent = String(value);
  } else if (name === "value" && "value" in el) {
    el.value = String(value);
  } else {
    el.setAttribute(name, value === true ? "" : String(value));
  }
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let report = () => {};

/** Who hears of an error that a button's action did not handle (the app shows it). */
export function setErrorReporter(fn) {
  report = fn;
}

/**
 * A button that calls `action`, ignoring clicks (aria-busy) while its promise runs; an
 * error it throws goes to the error reporter.
 */
export function button(label, action, attrs = {}) {
  const el = h("button", { type: "button", ...attrs }, label);
  el.addEventListener("click", async () => {
    if (el.getAttribute("aria-busy") === "true") return;
    el.setAttribute("aria-busy", "true");
    try {
      await action(el);
    } catch (err) {
      report(err);
    } finally {
      el.removeAttribute("aria-busy");
    }
  });
  return el;
}

/** A text input named after the API field it sets, without the browser's autofill. */
export const textInput = (name, attrs = {}) => h("input", { name, autocomplete: "off", ...attrs });

/** A phone as typed ("+7 900 123-45-67") in the form the API takes ("79001234567"). */
export const barePhone = (value) => value.replace(/[\s()+-]/g, "");

let uid = 0;
export const newId = (prefix) => `${prefix}-${++uid}`;

/**
 * A labelled form field: label, control, help text and an error slot the control describes.
 * `control` is an element whose `name` is the API field it sets.
 */
export function field(labelText, control, help) {
  control.id ||= newId(control.name || "field");
  const helpEl = help ? h("p", { class: "help", id: `${control.id}-help` }, help) : null;
  const error = h("p", { class: "error", id: `${control.id}-error` });
  error.dataset.errorFor = control.name;
  const described = [helpEl?.id, error.id].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  const label = h("label", { for: control.id }, labelText);
  return h("div", { class: "field" }, label, control, helpEl, error);
}

// Create or edit a mailing: text with a counter, filter with its live reach, start and end in
// the operator's time zone (sent as ISO 8601 with the offset).

import { get, patch, post } from "./api.js";
import { field, h, textInput } from "./dom.js";
import { clearErrors, describe, formError, showErrors } from "./forms.js";
import { count, fromLocalInput, offsetOf, toLocalInput, zoneName } from "./format.js";

const MAX_TEXT = 4096;
const DAY_MS = 86400000;

const codesOf = (value) => value.split(/[\s,;]+/).filter(Boolean);
const tagsOf = (value) => value.split(",").map((t) => t.trim()).filter(Boolean);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function controls() {
  return {
    text: h("textarea", { name: "text", rows: 5, required: true }),
    codes: textInput("filter.operator_codes", { inputmode: "numeric", placeholder: "any" }),
    tags: textInput("filter.tags", { placeholder: "any" }),
    start: h("input", { name: "start_at", type: "datetime-local", step: 1, required: true }),
    end: h("input", { name: "end_at", type: "datetime-local", step: 1, required: true }),
  };
}

/** "12 / 4096 characters" under the textarea, which it describes. */
function counter(textarea) {
  const el = h("p", { class: "help counter", id: `${textarea.id}-count` });
  const described = textarea.getAttribute("aria-describedby");
  textarea.setAttribute("aria-describedby", `${described} ${el.id}`);
  const update = () => {
    const used = [...textarea.value].length; // characters as the API counts them (code points)
    el.textContent = `${used} / ${MAX_TEXT} characters`;
    el.classList.toggle("warn", used > MAX_TEXT * 0.9 && used <= MAX_TEXT);
    el.classList.toggle("over", used > MAX_TEXT);
  };
  textarea.addEventListener("input", update);
  update();
  return el;
}

const FILTER_FIELDS = ["filter.operator_codes", "filter.tags"];

/** The live count of clients the filter reaches; re-asked 300 ms after the last change. */
function reach(inputs, form) {
  const el = h("p", { class: "reach", "aria-live": "polite" });
  let timer = 0;
  let asked = 0;
  const ask = async () => {
    const mine = ++asked;
    const filter = { operator_codes: codesOf(inputs.codes.value), tags: tagsOf(inputs.tags.value) };
    try {
      const { clients } = await post("/mailings/preview", filter);
      if (mine !== asked) return;
      clearErrors(form, FILTER_FIELDS);
      el.textContent = `Reaches ${count(clients)} client(s) now.`;
    } catch (err) {
      if (mine !== asked) return;
      el.textContent = err.errors?.length ? "" : describe(err);
      const shown = { focus: false, prefix: "filter.", only: FILTER_FIELDS };
      if (err.errors?.length) showErrors(form, err, shown);
    }
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(ask, 300);
  };
  inputs.codes.addEventListener("input", later);
  inputs.tags.addEventListener("input", later);
  return { el, ask };
}

function bodyOf(inputs, original) {
  const wanted = {
    text: inputs.text.value,
    filter: { operator_codes: codesOf(inputs.codes.value), tags: tagsOf(inputs.tags.value) },
    start_at: fromLocalInput(inputs.start.value),
    end_at: fromLocalInput(inputs.end.value),
  };
  if (!original) return Object.fromEntries(Object.entries(wanted).filter(([, v]) => v !== null));
  const changed = {};
  if (wanted.text !== original.text) changed.text = wanted.text;
  if (!same(wanted.filter, original.filter)) changed.filter = wanted.filter;
  if (inputs.start.value !== toLocalInput(original.start_at)) changed.start_at = wanted.start_at;
  if (inputs.end.value !== toLocalInput(original.end_at)) changed.end_at = wanted.end_at;
  return changed;
}

function prefill(inputs, mailing) {
  const now = new Date();
  now.setSeconds(0, 0);
  inputs.text.value = mailing?.text ?? "";
  inputs.codes.value = mailing?.filter.operator_codes.join(", ") ?? "";
  inputs.tags.value = mailing?.filter.tags.join(", ") ?? "";
  inputs.start.value = toLocalInput(mailing?.start_at ?? now);
  inputs.end.value = toLocalInput(mailing?.end_at ?? new Date(now.getTime() + DAY_MS));
  inputs.text.dispatchEvent(new Event("input"));
}

function layout(root, inputs, editing, id) {
  const zone = `${zoneName()} (UTC${offsetOf(new Date())})`;
  const form = h("form", { class: "mailing-form card", novalidate: true });
  const preview = reach(inputs, form);
  const title = editing ? `Edit mailing ${id}` : "New mailing";
  const submit = editing ? "Save changes" : "Create mailing";
  form.append(
    formError(),
    field("Text", inputs.text),
    counter(inputs.text),
    h(
      "fieldset",
      {},
      h("legend", {}, "Who receives it"),
      field("Operator codes", inputs.codes, "3-digit codes, separated by commas; empty: any."),
      field("Tags", inputs.tags, "Separated by commas; empty: any. A client must match both."),
      preview.el,
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "When"),
      h(
        "div",
        { class: "row" },
        field("Start", inputs.start, `In your time zone, ${zone}.`),
        field("End", inputs.end, "Nothing is sent after it, whatever is left."),
      ),
    ),
    h(
      "div",
      { class: "actions" },
      h("a", { class: "button", href: editing ? `#/mailings/${id}` : "#/mailings" }, "Cancel"),
      h("button", { type: "submit", class: "primary" }, submit),
    ),
  );
  root.append(h("div", { class: "head" }, h("h1", { tabindex: "-1" }, title)), form);
  return { form, preview };
}

export function mount(root, [id], app) {
  const inputs = controls();
  const { form, preview } = layout(root, inputs, id !== undefined, id);
  let original = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const saved = original
        ? await patch(`/mailings/${id}`, bodyOf(inputs, original))
        : await post("/mailings", bodyOf(inputs, null));
      app.toast(original ? `Mailing ${saved.id} saved.` : `Mailing ${saved.id} created.`);
      app.navigate(`#/mailings/${saved.id}`);
    } catch (err) {
      showErrors(form, err);
    }
  });
  const load = async () => {
    if (id !== undefined) original = await get(`/mailings/${id}`);
    prefill(inputs, original);
    await preview.ask();
  };
  load().catch((err) => showErrors(form, err));
  return {};
}

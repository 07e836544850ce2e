// CSV import of clients, with the API's per-line report.

import { ApiError, call } from "./api.js";
import { field, fill, h } from "./dom.js";
import { clearErrors, formError, showErrors } from "./forms.js";
import { count } from "./format.js";

function reportOf(result) {
  const bad = result.errors.length;
  const added = `${count(result.created)} added, ${count(result.updated)} updated`;
  const refused = `${count(bad)} line(s) refused`;
  const summary = h("p", { class: bad ? "warn" : "ok" }, `${added}, ${refused}.`);
  if (!bad) return [summary];
  const cells = (e) => [e.line, e.field, e.message].map((text) => h("td", {}, text));
  const rows = result.errors.map((e) => h("tr", {}, cells(e)));
  const head = h("tr", {}, ["Line", "Field", "Problem"].map((c) => h("th", { scope: "col" }, c)));
  const table = h(
    "table",
    { class: "import-errors" },
    h("caption", {}, "Refused lines"),
    h("thead", {}, head),
    h("tbody", {}, rows),
  );
  return [summary, h("div", { class: "scroll" }, table)];
}

const HELP =
  "Header line: phone,operator_code,tag,timezone. A known phone is updated, a new one added; " +
  "bad lines are reported and skipped.";

/** The import section; `done()` runs after a successful import (to reload the list). */
export function importer(app, done) {
  const file = h("input", { name: "file", type: "file", accept: ".csv,text/csv", required: true });
  const report = h("div", { class: "import-report", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "import", novalidate: true },
    formError(),
    field("CSV file", file, HELP),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Import")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    fill(report);
    const chosen = file.files[0];
    if (!chosen) {
      const errors = [{ field: "file", message: "Choose a CSV file first." }];
      showErrors(form, new ApiError(0, { detail: "No file chosen", errors }));
      return;
    }
    try {
      const result = await call("POST", "/clients/import", { text: await chosen.text() });
      fill(report, reportOf(result));
      app.toast(`Imported ${chosen.name}.`);
      await done();
    } catch (err) {
      showErrors(form, err);
    }
  });
  return h(
    "details",
    { class: "card import-section" },
    h("summary", {}, "Import clients from a CSV file"),
    form,
    report,
  );
}

// Clients: search, cursor paging, add / edit / delete, CSV import.

import { del, get } from "./api.js";
import { editClient } from "./client-form.js";
import { barePhone, button, field, h, textInput } from "./dom.js";
import { clearErrors, formError, showErrors } from "./forms.js";
import { when } from "./format.js";
import { importer } from "./import.js";
import { cursorPager, emptyRow, keyedRows, labelled, table } from "./table.js";

const COLUMNS = ["Phone", "Operator", "Tag", "Time zone", "Added", "Actions"];

function clientRow(actions) {
  const cells = [0, 1, 2, 3, 4].map(() => h("td", {}));
  let client = null;
  const edit = button("Edit", () => actions.edit(client), { class: "small" });
  const remove = button("Delete", () => actions.remove(client), { class: "small danger" });
  const buttons = h("td", {}, h("div", { class: "row-actions" }, edit, remove));
  const el = labelled(h("tr", {}, cells, buttons), COLUMNS);
  const update = (c) => {
    client = c;
    el.dataset.id = c.id;
    const text = [c.phone, c.operator_code, c.tag || "—", c.timezone, when(c.created_at)];
    text.forEach((t, i) => (cells[i].textContent = t));
    edit.setAttribute("aria-label", `Edit client ${c.phone}`);
    remove.setAttribute("aria-label", `Delete client ${c.phone}`);
  };
  return { el, update };
}

function searchForm(onSearch) {
  const sizes = [25, 100, 500].map((n) => h("option", { value: n, selected: n === 100 }, n));
  const inputs = {
    phone: textInput("phone", { inputmode: "tel", placeholder: "7900…" }),
    operator_code: textInput("operator_code", { inputmode: "numeric", maxlength: 3 }),
    tag: textInput("tag", { maxlength: 64 }),
    limit: h("select", { name: "limit" }, sizes),
  };
  const form = h(
    "form",
    { class: "search", role: "search", novalidate: true },
    formError(),
    h(
      "div",
      { class: "row" },
      field("Phone or its beginning", inputs.phone),
      field("Operator code", inputs.operator_code),
      field("Tag", inputs.tag),
      field("Per page", inputs.limit),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Search"),
      h("button", { type: "reset" }, "Clear"),
    ),
  );
  const query = () => ({
    phone: barePhone(inputs.phone.value),
    operator_code: inputs.operator_code.value.trim(),
    tag: inputs.tag.value.trim(),
    limit: inputs.limit.value,
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSearch();
  });
  form.addEventListener("reset", () => setTimeout(onSearch));
  return { form, query };
}

export function mount(root, _params, app) {
  const tbody = h("tbody", {});
  const empty = emptyRow(COLUMNS.length, "No client matches.");
  const count = h("p", { class: "help", "aria-live": "polite" });
  let query = {};
  const fetchPage = (cursor) => get("/clients", { ...query, cursor });
  const render = (page) => {
    clearErrors(search.form);
    sync(page.items);
    if (page.items.length) empty.remove();
    else tbody.append(empty);
    count.textContent = `${page.items.length} client(s) on this page`;
    return page.next_cursor;
  };
  const pager = cursorPager("Client pages", fetchPage, render);
  const search = searchForm(() => {
    query = search.query();
    pager.first().catch((err) => showErrors(search.form, err));
  });
  const actions = {
    async edit(client) {
      const saved = await editClient(client);
      if (!saved) return;
      app.toast(`Client ${saved.phone} ${client ? "saved" : "added"}.`);
      await pager.refresh();
    },
    async remove(client) {
      const question =
        `Delete client ${client.phone}? ` +
        "Its unsent messages are cancelled; what was sent stays counted.";
      if (!(await app.confirm(question, "Delete client"))) return;
      await del(`/clients/${client.id}`);
      app.toast(`Client ${client.phone} deleted.`);
      await pager.refresh();
    },
  };
  const sync = keyedRows(tbody, () => clientRow(actions));
  root.append(
    h(
      "div",
      { class: "head" },
      h("h1", { tabindex: "-1" }, "Clients"),
      button("Add a client", () => actions.edit(null), { class: "primary" }),
    ),
    importer(app, () => pager.refresh()),
    search.form,
    count,
    h("div", { class: "scroll" }, table("clients stack", "Clients", COLUMNS, tbody)),
    pager.el,
  );
  query = search.query();
  pager.first().catch((err) => showErrors(search.form, err));
  return {};
}

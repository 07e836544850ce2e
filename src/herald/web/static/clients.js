// Clients: search, cursor paging, add / edit / delete, CSV import.

import { del, get } from "./api.js";
import { editClient } from "./client-form.js";
import { button, field, fill, h } from "./dom.js";
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
  const input = (name, attrs) => h("input", { name, autocomplete: "off", ...attrs });
  const sizes = [25, 100, 500].map((n) => h("option", { value: n, selected: n === 100 }, n));
  const inputs = {
    phone: input("phone", { inputmode: "numeric", placeholder: "7900…" }),
    operator_code: input("operator_code", { inputmode: "numeric", maxlength: 3 }),
    tag: input("tag", { maxlength: 64 }),
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
    phone: inputs.phone.value.replace(/[\s()+-]/g, ""),
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
  const search = searchForm(() => {
    pager.reset();
    load(undefined).then(pager.setNext, (err) => showErrors(search.form, err));
  });
  const count = h("p", { class: "help", "aria-live": "polite" });
  const load = async (cursor) => {
    clearErrors(search.form);
    const page = await get("/clients", { ...search.query(), cursor });
    sync(page.items);
    if (!page.items.length) tbody.append(emptyRow(COLUMNS.length, "No client matches."));
    count.textContent = `${page.items.length} client(s) on this page`;
    return page.next_cursor;
  };
  const reload = () => load(pager.cursor).then(pager.setNext);
  const actions = {
    async edit(client) {
      const saved = await editClient(client);
      if (saved) {
        app.toast(`Client ${saved.phone} ${client ? "saved" : "added"}.`);
        await reload();
      }
    },
    async remove(client) {
      const question =
        `Delete client ${client.phone}? ` +
        "Its unsent messages are cancelled; what was sent stays counted.";
      if (!(await app.confirm(question, "Delete client"))) return;
      await del(`/clients/${client.id}`);
      app.toast(`Client ${client.phone} deleted.`);
      await reload();
    },
  };
  const sync = (items) => {
    fill(tbody);
    keyed(items);
  };
  const keyed = keyedRows(tbody, () => clientRow(actions));
  const pager = cursorPager("Client pages", load);
  root.append(
    h(
      "div",
      { class: "head" },
      h("h1", { tabindex: "-1" }, "Clients"),
      button("Add a client", () => actions.edit(null), { class: "primary" }),
    ),
    importer(app, reload),
    search.form,
    count,
    h("div", { class: "scroll" }, table("clients stack", "Clients", COLUMNS, tbody)),
    pager.el,
  );
  reload().catch((err) => showErrors(search.form, err));
  return {};
}

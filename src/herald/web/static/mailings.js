// Mailings: the list (newest first, by cursor, filtered by status), live, with their actions.

import { get } from "./api.js";
import { badge, setBadge } from "./counts.js";
import { field, h } from "./dom.js";
import { when } from "./format.js";
import { lifecycle } from "./mailing-actions.js";
import { cursorPager, emptyRow, keyedRows, labelled, table } from "./table.js";

const COLUMNS = ["Mailing", "Status", "Filter", "Start", "End", "Actions"];
const STATUSES = ["scheduled", "running", "paused", "finished", "cancelled"];

export function filterText(filter) {
  const { operator_codes: codes, tags } = filter;
  const who = codes.length ? `operators ${codes.join(", ")}` : "any operator";
  const which = tags.length ? `tags ${tags.join(", ")}` : "any tag";
  return `${who}; ${which}`;
}

function mailingRow(app, reload) {
  const link = h("a", {});
  const text = h("span", { class: "excerpt" });
  const status = badge("scheduled");
  const cells = [0, 1, 2].map(() => h("td", { class: "time" }));
  const actions = lifecycle(app, reload, { compact: true });
  const name = h("td", { class: "name" }, link, text);
  const el = labelled(
    h("tr", {}, name, h("td", {}, status), cells, h("td", {}, actions.el)),
    COLUMNS,
  );
  const update = (m) => {
    el.dataset.id = m.id;
    link.href = `#/mailings/${m.id}`;
    link.textContent = `#${m.id}`;
    text.textContent = m.text;
    setBadge(status, m.status);
    cells[0].textContent = filterText(m.filter);
    cells[1].textContent = when(m.start_at);
    cells[2].textContent = when(m.end_at);
    actions.update(m);
  };
  return { el, update };
}

export function mount(root, _params, app) {
  const tbody = h("tbody", {});
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "All"),
    STATUSES.map((s) => h("option", { value: s }, s)),
  );
  const empty = emptyRow(COLUMNS.length, "No mailing here yet.");
  const fetchPage = (cursor) => get("/mailings", { status: status.value, cursor, limit: 50 });
  const render = (page) => {
    sync(page.items);
    if (page.items.length) empty.remove();
    else tbody.append(empty);
    return page.next_cursor;
  };
  const pager = cursorPager("Mailing pages", fetchPage, render);
  const sync = keyedRows(tbody, () => mailingRow(app, pager.refresh));
  status.addEventListener("change", () => pager.first());
  root.append(
    h(
      "div",
      { class: "head" },
      h("h1", { tabindex: "-1" }, "Mailings"),
      h("a", { class: "button primary", href: "#/mailings/new" }, "New mailing"),
    ),
    h("div", { class: "search row" }, field("Status", status)),
    h("div", { class: "scroll" }, table("mailing-list stack", "Mailings", COLUMNS, tbody)),
    pager.el,
  );
  return { refresh: pager.refresh };
}

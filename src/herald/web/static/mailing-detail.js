// One mailing: live counts, a chart of messages sent over time, its messages by status, paged.

import { ApiError, get } from "./api.js";
import { sentChart } from "./chart.js";
import { MESSAGE_STATUSES, badge, countsList, progressBar, setBadge } from "./counts.js";
import { field, fill, h } from "./dom.js";
import { instant, when } from "./format.js";
import { lifecycle } from "./mailing-actions.js";
import { filterText } from "./mailings.js";
import { cursorPager, emptyRow, keyedRows, labelled, table } from "./table.js";

const PAGE = 50;
const COLUMNS = [
  "Message",
  "Client",
  "Status",
  "Attempts",
  "Last error",
  "Created",
  "Sent",
  "Last change",
];

function messageRow() {
  const cells = COLUMNS.map(() => h("td", {}));
  const status = badge("pending");
  const el = labelled(h("tr", {}, cells), COLUMNS);
  cells[2].append(status);
  const update = (m) => {
    el.dataset.id = m.id;
    cells[0].textContent = m.id;
    cells[1].textContent = `${m.phone} (#${m.client_id})`;
    setBadge(status, m.status);
    cells[3].textContent = m.attempts;
    cells[4].textContent = m.last_error || "—";
    cells[5].textContent = instant(m.created_at);
    cells[6].textContent = instant(m.sent_at);
    cells[7].textContent = instant(m.updated_at);
  };
  return { el, update };
}

function about() {
  const labels = { text: "Text", filter: "Filter", start: "Start", end: "End" };
  const values = Object.fromEntries(Object.keys(labels).map((k) => [k, h("dd", { class: k })]));
  const items = Object.keys(labels).map((k) => h("div", {}, h("dt", {}, labels[k]), values[k]));
  const update = (m) => {
    values.text.textContent = m.text;
    values.filter.textContent = filterText(m.filter);
    values.start.textContent = when(m.start_at);
    values.end.textContent = when(m.end_at);
  };
  return { el: h("dl", { class: "about" }, items), update };
}

function card(title, id, ...body) {
  return h(
    "section",
    { class: "card wide", "aria-labelledby": id },
    h("h2", { id }, title),
    ...body,
  );
}

function statusFilter() {
  const all = h("option", { value: "" }, "All");
  return h("select", { name: "status" }, all, MESSAGE_STATUSES.map((s) => h("option", {}, s)));
}

function messagesSection(tbody, select, pager) {
  return h(
    "section",
    { "aria-labelledby": "messages-title" },
    h("h2", { id: "messages-title" }, "Messages"),
    h("div", { class: "search row" }, field("Status", select)),
    h("div", { class: "scroll" }, table("messages stack", "Messages", COLUMNS, tbody)),
    pager.el,
  );
}

function gone(root, title) {
  fill(
    root,
    title,
    h("p", { class: "warn" }, "This mailing does not exist (any more)."),
    h("a", { href: "#/mailings" }, "Back to the mailings"),
  );
}

export function mount(root, [id], app) {
  const title = h("h1", { tabindex: "-1" }, `Mailing #${id}`);
  const status = badge("scheduled");
  const info = about();
  const progress = progressBar(`Progress of mailing ${id}`);
  const counts = countsList(`Messages of mailing ${id} by status`);
  const chart = sentChart(`Messages of mailing ${id} sent over time`);
  const tbody = h("tbody", {});
  const empty = emptyRow(COLUMNS.length, "No message here yet.");
  const select = statusFilter();
  const changed = (m) => (m ? pager.refresh() : app.navigate("#/mailings"));
  const actions = lifecycle(app, changed, { hold: () => pager.hold() });
  const sync = keyedRows(tbody, messageRow);
  let missing = false;
  const fetchPage = async (cursor) => {
    if (missing) return null;
    try {
      return await get(`/mailings/${id}/stats`, { status: select.value, cursor, limit: PAGE });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      return null;
    }
  };
  const render = (d) => {
    if (!d) {
      if (!missing) gone(root, title);
      missing = true;
      return null;
    }
    setBadge(status, d.mailing.status);
    info.update(d.mailing);
    actions.update(d.mailing);
    progress.update(d.counts, d.total);
    counts.update(d.counts);
    chart.add(d.counts.sent, d.total);
    sync(d.messages);
    if (d.messages.length) empty.remove();
    else tbody.append(empty);
    return d.next_cursor;
  };
  const pager = cursorPager("Message pages", fetchPage, render);
  select.addEventListener("change", () => pager.first());
  root.append(
    h("div", { class: "head" }, title, status, actions.el),
    h("section", { class: "card about-card", "aria-label": "About" }, info.el),
    h(
      "div",
      { class: "cards" },
      card("Progress", "progress-title", progress.el, counts.el),
      card("Sent over time", "chart-title", chart.el),
    ),
    messagesSection(tbody, select, pager),
  );
  return { refresh: pager.refresh };
}

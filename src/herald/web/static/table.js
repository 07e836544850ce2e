// Tables that update in place (rows keep their elements, so focus survives a refresh) and
// cursor paging.

import { button, h } from "./dom.js";

/**
 * Rows keyed by id in `tbody`. `make(item)` returns {el, update(item)}; an existing row is
 * updated, a new one made, a missing one removed, and the order follows `items`.
 */
export function keyedRows(tbody, make) {
  const rows = new Map();
  return (items) => {
    const keep = new Set();
    let previous = null;
    for (const item of items) {
      keep.add(item.id);
      let row = rows.get(item.id);
      if (!row) rows.set(item.id, (row = make(item)));
      row.update(item);
      const expected = previous ? previous.nextSibling : tbody.firstChild;
      if (row.el !== expected) tbody.insertBefore(row.el, expected);
      previous = row.el;
    }
    for (const [id, row] of rows) {
      if (!keep.has(id)) {
        row.el.remove();
        rows.delete(id);
      }
    }
  };
}

/** A table with a caption for screen readers and a header row of `columns`. */
export function table(className, caption, columns, tbody) {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)));
  return h(
    "table",
    { class: className },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, head),
    tbody,
  );
}

/** Labels a row's cells with their column names, shown when a narrow screen stacks them. */
export function labelled(row, columns) {
  [...row.children].forEach((cell, i) => cell.setAttribute("data-label", columns[i] ?? ""));
  return row;
}

/** A row saying the table is empty (or why), spanning `columns`. */
export function emptyRow(columns, text) {
  return h("tr", { class: "empty" }, h("td", { colspan: columns }, text));
}

/**
 * Previous / next buttons over cursor pages. `fetch(cursor)` gets a page (the first page's
 * cursor is undefined) and `render(page)` shows it and returns its next_cursor.
 *
 * The newest move wins: a page that arrives after the operator moved on (a poll's refresh
 * overtaken by "Next", or an older search) is dropped, never drawn over the newer one.
 */
export function cursorPager(label, fetch, render) {
  const cursors = [undefined];
  let index = 0;
  let epoch = 0;
  let held = false;
  const loading = new Set(); // pages on their way, settled or not, errors left to the callers
  const status = h("span", { class: "page-number", "aria-live": "polite" });
  const show = (to, next) => {
    index = to;
    cursors.length = to + 1;
    if (next !== null && next !== undefined) cursors.push(next);
    prev.disabled = to === 0;
    fwd.disabled = cursors.length === to + 1;
    status.textContent = to === 0 && fwd.disabled ? "" : `Page ${to + 1}`;
  };
  const load = (to, mine) => {
    const page = fetch(cursors[to]).then((found) => mine === epoch && show(to, render(found)));
    const settled = page.catch(() => {});
    loading.add(settled);
    settled.then(() => loading.delete(settled));
    return page;
  };
  const go = (to) => load(to, ++epoch);
  const prev = button("← Previous", () => go(index - 1), { class: "prev" });
  const fwd = button("Next →", () => go(index + 1), { class: "next" });
  const el = h("nav", { class: "pager", "aria-label": label }, prev, status, fwd);
  show(0, null);
  return {
    el,
    /** Back to the first page (the filter changed). */
    first: () => go(0),
    /** The current page again (polling); dropped if the operator moves meanwhile. */
    refresh: () => (held ? Promise.resolve() : load(index, epoch)),
    /**
     * Stops refreshing and waits for the page on its way, so that what comes next (deleting
     * the object the pages belong to) is not raced by a poll; resolves to a release function.
     */
    async hold() {
      held = true;
      await Promise.all(loading);
      return () => {
        held = false;
      };
    },
  };
}

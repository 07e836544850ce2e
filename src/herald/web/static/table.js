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
 * Previous / next buttons over cursor pages. `load(cursor)` fetches a page and returns its
 * next_cursor; the first page's cursor is undefined.
 */
export function cursorPager(label, load) {
  const cursors = [undefined];
  let index = 0;
  let next = null;
  const status = h("span", { class: "page-number", "aria-live": "polite" });
  const go = async (to) => {
    const found = await load(cursors[to]);
    index = to;
    setNext(found);
  };
  const prev = button("← Previous", () => go(index - 1), { class: "prev" });
  const fwd = button("Next →", () => {
    if (cursors.length === index + 1) cursors.push(next);
    return go(index + 1);
  }, { class: "next" });
  const setNext = (cursor) => {
    next = cursor ?? null;
    cursors.length = index + 1;
    prev.disabled = index === 0;
    fwd.disabled = next === null;
    status.textContent = index === 0 && next === null ? "" : `Page ${index + 1}`;
  };
  const el = h("nav", { class: "pager", "aria-label": label }, prev, status, fwd);
  return {
    el,
    setNext,
    get cursor() {
      return cursors[index];
    },
    reset() {
      cursors.length = 1;
      index = 0;
    },
  };
}

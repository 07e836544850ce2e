// Counts by status: a stacked progress bar, a list of counts, status badges.

import { h } from "./dom.js";
import { count, percent } from "./format.js";

export const MESSAGE_STATUSES = [
  "pending",
  "queued",
  "sending",
  "sent",
  "failed",
  "expired",
  "cancelled",
];
const SEGMENTS = ["sent", "failed", "expired", "cancelled", "waiting"];
const WAITING = ["pending", "queued", "sending"];

export const waiting = (counts) => WAITING.reduce((sum, s) => sum + (counts[s] || 0), 0);
export const done = (counts, total) => total - waiting(counts);

export function badge(status) {
  return h("span", { class: `badge badge-${status}` }, status);
}

export function setBadge(el, status) {
  el.className = `badge badge-${status}`;
  el.textContent = status;
}

/** A stacked bar of a mailing's messages; `update(counts, total)` redraws it in place. */
export function progressBar(label) {
  const segments = Object.fromEntries(
    SEGMENTS.map((s) => [s, h("span", { class: `seg seg-${s}` })]),
  );
  const bar = h(
    "div",
    { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 },
    Object.values(segments),
  );
  bar.setAttribute("aria-label", label);
  const pct = h("span", { class: "pct" });
  const summary = h("span", { class: "summary" });
  const el = h("div", { class: "progress" }, h("div", { class: "bar-line" }, bar, pct), summary);
  const update = (counts, total) => {
    const shares = { ...counts, waiting: waiting(counts) };
    for (const s of SEGMENTS) {
      segments[s].style.width = total ? `${(100 * shares[s]) / total}%` : "0";
    }
    const finished = done(counts, total);
    const text = percent(finished, total);
    pct.textContent = text;
    bar.setAttribute("aria-valuenow", total ? Math.floor((100 * finished) / total) : 0);
    bar.setAttribute("aria-valuetext", `${text}: ${describe(counts, total)}`);
    summary.textContent = describe(counts, total);
  };
  return { el, update };
}

function describe(counts, total) {
  if (!total) return "no messages yet";
  const parts = [`${count(counts.sent)} sent`];
  for (const s of ["failed", "expired", "cancelled"]) {
    if (counts[s]) parts.push(`${count(counts[s])} ${s}`);
  }
  const left = waiting(counts);
  if (left) parts.push(`${count(left)} pending`);
  return `${parts.join(" · ")} of ${count(total)}`;
}

/** A definition list of every status and its count; `update(counts)` rewrites the numbers. */
export function countsList(label) {
  const values = {};
  const items = MESSAGE_STATUSES.map((s) => {
    values[s] = h("dd", { "data-status": s }, "0");
    return h("div", { class: `count count-${s}` }, h("dt", {}, s), values[s]);
  });
  const el = h("dl", { class: "counts", "aria-label": label }, items);
  const update = (counts) => {
    for (const s of MESSAGE_STATUSES) values[s].textContent = count(counts[s] || 0);
  };
  return { el, update };
}

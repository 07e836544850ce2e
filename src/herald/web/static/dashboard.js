// Dashboard: every mailing with its progress, totals, the sending rate and the provider's state.

import { get } from "./api.js";
import { badge, countsList, progressBar, setBadge } from "./counts.js";
import { h } from "./dom.js";
import { count, rate, time, when } from "./format.js";
import { emptyRow, keyedRows, table } from "./table.js";

const RATE_WINDOW_MS = 5000;
const COLUMNS = ["Mailing", "Status", "Progress", "Start", "End"];

const PROVIDER = {
  healthy: "The workers reach the provider.",
  failing: "The circuit breaker is open: sending is held back and resumes by itself.",
  paused: "The provider refused our token (401/403): sending is paused until it accepts it.",
  unknown: "No worker has reported in the last few seconds.",
};

/** Messages per second from the change of the sent total between polls. */
export function rateMeter() {
  let samples = [];
  return (sent) => {
    const now = performance.now();
    if (samples.length && sent < samples.at(-1).sent) samples = []; // a mailing was deleted
    samples.push({ now, sent });
    samples = samples.filter((s) => now - s.now <= RATE_WINDOW_MS || s === samples.at(-1));
    const first = samples[0];
    const seconds = (now - first.now) / 1000;
    return seconds > 0 ? (sent - first.sent) / seconds : null;
  };
}

function mailingRow() {
  const link = h("a", {});
  const text = h("span", { class: "excerpt" });
  const status = badge("scheduled");
  const progress = progressBar("Progress");
  const start = h("td", { class: "time" });
  const end = h("td", { class: "time" });
  const el = h(
    "tr",
    {},
    h("td", { class: "name" }, link, text),
    h("td", {}, status),
    h("td", { class: "progress-cell" }, progress.el),
    start,
    end,
  );
  const update = (m) => {
    el.dataset.id = m.id;
    link.href = `#/mailings/${m.id}`;
    link.textContent = `#${m.id}`;
    text.textContent = m.text;
    setBadge(status, m.status);
    progress.el.querySelector(".bar").setAttribute("aria-label", `Progress of mailing ${m.id}`);
    progress.update(m.counts, m.total);
    start.textContent = when(m.start_at);
    end.textContent = when(m.end_at);
  };
  return { el, update };
}

function card(title, ...body) {
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), ...body);
}

function layout(root) {
  const parts = {
    provider: h("span", { class: "state" }),
    providerNote: h("p", { class: "help" }),
    workers: h("p", { class: "help" }),
    rate: h("p", { class: "big", id: "rate" }, "—"),
    totals: countsList("Messages of all mailings by status"),
    updated: h("p", { class: "help updated" }),
    tbody: h("tbody", {}),
  };
  root.append(
    h("div", { class: "head" }, h("h1", { tabindex: "-1" }, "Dashboard"), parts.updated),
    h(
      "div",
      { class: "cards" },
      card(
        "Provider",
        h("p", { class: "big", "aria-live": "polite" }, parts.provider),
        parts.providerNote,
        parts.workers,
      ),
      card("Sending rate", parts.rate, h("p", { class: "help" }, "messages per second, last 5 s")),
      card("All messages", parts.totals.el),
    ),
    h("h2", {}, "Mailings"),
    h("div", { class: "scroll" }, table("mailings", "Mailings", COLUMNS, parts.tbody)),
  );
  return parts;
}

export function mount(root) {
  const parts = layout(root);
  const sync = keyedRows(parts.tbody, mailingRow);
  const meter = rateMeter();
  const empty = emptyRow(COLUMNS.length, "No mailings yet. Create one under Mailings.");
  const showProvider = (pipeline) => {
    parts.provider.textContent = pipeline.provider;
    parts.provider.className = `state state-${pipeline.provider}`;
    parts.providerNote.textContent = PROVIDER[pipeline.provider] || "";
    const workers = `${count(pipeline.workers.length)} worker(s)`;
    parts.workers.textContent = `${workers} · ${count(pipeline.queued)} queued`;
  };
  const refresh = async () => {
    const [stats, pipeline] = await Promise.all([get("/stats"), get("/pipeline")]);
    const perSecond = meter(stats.totals.sent);
    parts.rate.textContent = perSecond === null ? "—" : `${rate(perSecond)} msg/s`;
    parts.totals.update(stats.totals);
    showProvider(pipeline);
    sync([...stats.mailings].sort((a, b) => b.id - a.id));
    if (stats.mailings.length) empty.remove();
    else parts.tbody.append(empty);
    parts.updated.textContent = `Updated ${time(new Date())}`;
  };
  return { refresh };
}

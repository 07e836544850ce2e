// Messages sent over time: an SVG line drawn from the sent count sampled on every poll.

import { h } from "./dom.js";
import { count, time } from "./format.js";

const H = 220;
const PAD = { left: 56, right: 16, top: 14, bottom: 30 };
const MAX_SAMPLES = 1200;
const MIN_SPAN_MS = 10000;

const svg = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

// Drawn at the element's own width, so that its text keeps its size on a phone.
function scales(samples, total, W) {
  const t0 = samples[0].t;
  const span = Math.max(MIN_SPAN_MS, samples.at(-1).t - t0);
  const top = Math.max(1, total, ...samples.map((s) => s.sent));
  const x = (t) => PAD.left + ((t - t0) / span) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  return { x, y, top, t0, t1: t0 + span, W };
}

function axes({ x, y, top, t0, t1, W }) {
  const grid = [0, 0.5, 1].map((f) => {
    const v = Math.round(top * f);
    return svg(
      "g",
      { class: "grid" },
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      svg("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, count(v)),
    );
  });
  const labels = [
    svg("text", { x: x(t0), y: H - 8, "text-anchor": "start" }, time(new Date(t0))),
    svg("text", { x: x(t1), y: H - 8, "text-anchor": "end" }, time(new Date(t1))),
  ];
  return svg("g", { class: "axes" }, grid, labels);
}

function line(samples, { x, y }) {
  const points = samples.map((s) => `${x(s.t).toFixed(1)},${y(s.sent).toFixed(1)}`);
  const base = `${x(samples.at(-1).t).toFixed(1)},${y(0)} ${x(samples[0].t).toFixed(1)},${y(0)}`;
  return [
    svg("polygon", { class: "area", points: `${points.join(" ")} ${base}` }),
    svg("polyline", { class: "line", points: points.join(" ") }),
    svg("circle", { class: "dot", r: 3.5, cx: x(samples.at(-1).t), cy: y(samples.at(-1).sent) }),
  ];
}

/** The chart; `add(sent, total)` samples now and redraws. */
export function sentChart(label) {
  const samples = [];
  const desc = svg("desc", {});
  const plot = svg("g", {});
  const el = svg(
    "svg",
    { class: "chart", viewBox: `0 0 640 ${H}`, role: "img", "aria-label": label },
    svg("title", {}, label),
    desc,
    plot,
  );
  const add = (sent, total) => {
    samples.push({ t: Date.now(), sent });
    if (samples.length > MAX_SAMPLES) samples.shift();
    const width = Math.max(300, Math.round(el.getBoundingClientRect().width) || 640);
    el.setAttribute("viewBox", `0 0 ${width} ${H}`);
    const s = scales(samples, total, width);
    plot.replaceChildren(axes(s), ...line(samples, s));
    desc.textContent = `${count(sent)} of ${count(total)} sent at ${time(new Date())}`;
    el.dataset.samples = samples.length;
    el.dataset.sent = sent;
  };
  return { el, add };
}

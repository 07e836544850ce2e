// Numbers, instants and the operator's local time zone.

const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const tenths = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const stamp = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

export const count = (n) => whole.format(n);
export const rate = (n) => tenths.format(n);
export const when = (iso) => (iso ? stamp.format(new Date(iso)) : "—");
export const instant = (iso) => (iso ? exact.format(new Date(iso)) : "—");
export const time = (date) => clock.format(date);

/** "100 %" style: whole percent, never 100 before every message is done. */
export function percent(done, total) {
  if (!total) return "—";
  const value = done >= total ? 100 : Math.min(99, Math.floor((100 * done) / total));
  return `${value} %`;
}

const pad = (n, width = 2) => String(Math.abs(n)).padStart(width, "0");

/** The offset of `date` in this browser's zone, as +HH:MM. */
export function offsetOf(date) {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  return `${sign}${pad(Math.trunc(minutes / 60))}:${pad(minutes % 60)}`;
}

export function zoneName() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
}

/** An instant as the value of a datetime-local input with step="1" (local time, seconds). */
export function toLocalInput(value) {
  const d = value instanceof Date ? value : new Date(value);
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${day}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * A datetime-local value as ISO 8601 with this zone's offset at that instant,
 * e.g. "2026-12-04T10:00" → "2026-12-04T10:00:00+03:00". A wall time skipped by a DST change
 * is moved forward the way the browser resolves it. Returns null for an empty or bad value.
 */
export function fromLocalInput(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || "");
  if (!m) return null;
  const [y, mo, d, hh, mi, ss] = m.slice(1).map((part) => Number(part || 0));
  const date = new Date(y, mo - 1, d, hh, mi, ss, 0);
  if (Number.isNaN(date.getTime())) return null;
  return `${toLocalInput(date)}${offsetOf(date)}`;
}

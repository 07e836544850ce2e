// The API's field errors ({field, message}) shown next to the control they concern.

import { ApiError, Unreachable } from "./api.js";
import { h } from "./dom.js";

/** The form-level error slot; put it once at the top of every form. */
export const formError = () =>
  h("p", { class: "error form-error", "data-error-for": "_form", role: "alert", tabindex: "-1" });

/** Clears the error slots of `form`, or only those of the fields named in `only`. */
export function clearErrors(form, only = null) {
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    const name = slot.dataset.errorFor;
    if (only && !only.includes(name)) continue;
    slot.textContent = "";
    form.querySelector(`[name="${CSS.escape(name)}"]`)?.removeAttribute("aria-invalid");
  }
}

// "filter.operator_codes.2" belongs to the control named "filter.operator_codes".
function slotFor(form, field) {
  const parts = String(field).split(".");
  while (parts.length) {
    const name = parts.join(".");
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (slot) return { slot, name };
    parts.pop();
  }
  return null;
}

function place(form, field, message, leftovers) {
  const found = slotFor(form, field);
  if (!found) {
    leftovers.push(field && field !== "body" ? `${field}: ${message}` : message);
    return null;
  }
  const before = found.slot.textContent;
  found.slot.textContent = before ? `${before}; ${message}` : message;
  const control = form.querySelector(`[name="${CSS.escape(found.name)}"]`);
  control?.setAttribute("aria-invalid", "true");
  return control;
}

/** What went wrong, for an error that names no field. */
export function describe(err) {
  if (err instanceof Unreachable) {
    return `The Herald API did not answer (${err.message}). Try again.`;
  }
  if (err instanceof ApiError) return err.message;
  return String(err?.message || err);
}

/**
 * Shows an error from the API in `form`: each field error beside its control (the first
 * such control gets the focus unless `focus` is false), anything else in the form-level slot.
 * `prefix` maps the API's field names to the form's (a body that is one part of the form);
 * `only` limits the slots cleared first to those fields.
 */
export function showErrors(form, err, { focus = true, prefix = "", only = null } = {}) {
  clearErrors(form, only);
  const leftovers = [];
  let first = null;
  const fieldErrors = err instanceof ApiError ? err.errors : [];
  for (const { field, message } of fieldErrors) {
    const control = place(form, `${prefix}${field}`, message, leftovers);
    first ||= control;
  }
  if (!fieldErrors.length) leftovers.push(describe(err));
  else if (leftovers.length) leftovers.unshift(err.message);
  const top = form.querySelector('[data-error-for="_form"]');
  if (top && (leftovers.length || !only)) top.textContent = leftovers.join(". ");
  if (focus) (first || top)?.focus?.();
}

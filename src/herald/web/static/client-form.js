// The add / edit client dialog; the API's field errors appear beside their fields.

import { patch, post } from "./api.js";
import { barePhone, field, h, textInput } from "./dom.js";
import { clearErrors, formError, showErrors } from "./forms.js";

let zones = null;

function zoneList() {
  zones ||= h(
    "datalist",
    { id: "timezones" },
    (Intl.supportedValuesOf?.("timeZone") || []).map((z) => h("option", { value: z })),
  );
  if (!zones.isConnected) document.body.append(zones);
  return zones.id;
}

function controls() {
  return {
    phone: textInput("phone", { inputmode: "tel", required: true, autofocus: true }),
    operator_code: textInput("operator_code", { inputmode: "numeric", placeholder: "from phone" }),
    tag: textInput("tag", { maxlength: 64 }),
    timezone: textInput("timezone", { list: zoneList(), placeholder: "UTC" }),
  };
}

function values(inputs) {
  const v = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
  return { ...v, phone: barePhone(v.phone) };
}

function body(inputs, client) {
  const v = values(inputs);
  if (!client) {
    const created = { phone: v.phone, tag: v.tag, timezone: v.timezone || "UTC" };
    if (v.operator_code) created.operator_code = v.operator_code;
    return created;
  }
  const changed = {};
  for (const [k, value] of Object.entries(v)) {
    if (value !== client[k] && !(k === "operator_code" && !value)) changed[k] = value;
  }
  if (changed.timezone === "") changed.timezone = "UTC";
  return changed;
}

/**
 * Opens the dialog for a new client (`client` null) or an existing one; resolves to the
 * saved client, or null when the operator closes it.
 */
export function editClient(client) {
  const inputs = controls();
  const form = h(
    "form",
    { novalidate: true },
    h("h2", { id: "client-dialog-title" }, client ? `Edit client ${client.phone}` : "Add a client"),
    formError(),
    field("Phone", inputs.phone, "7 followed by 10 digits."),
    field("Operator code", inputs.operator_code, "3 digits; empty means digits 2–4 of the phone."),
    field("Tag", inputs.tag, "Free text, up to 64 characters; may be empty."),
    field("Time zone", inputs.timezone, "An IANA name such as Europe/Moscow; empty means UTC."),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", value: "cancel", class: "cancel" }, "Cancel"),
      h("button", { type: "submit", class: "primary" }, client ? "Save" : "Add client"),
    ),
  );
  for (const [k, el] of Object.entries(inputs)) el.value = client?.[k] ?? "";
  const dialog = h("dialog", { "aria-labelledby": "client-dialog-title" }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    let saved = null;
    form.querySelector(".cancel").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(saved);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      try {
        saved = client
          ? await patch(`/clients/${client.id}`, body(inputs, client))
          : await post("/clients", body(inputs, null));
        dialog.close();
      } catch (err) {
        showErrors(form, err);
      }
    });
    dialog.showModal();
  });
}

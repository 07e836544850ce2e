// A mailing's lifecycle buttons: pause, resume, cancel, edit, delete (the last two confirmed).

import { del, post } from "./api.js";
import { button, h } from "./dom.js";

const ACTIVE = new Set(["scheduled", "running", "paused"]);

const shown = {
  pause: (s) => s === "scheduled" || s === "running",
  resume: (s) => s === "paused",
  cancel: (s) => ACTIVE.has(s),
  edit: (s) => ACTIVE.has(s),
  delete: () => true,
};

/**
 * The buttons for one mailing; `update(mailing)` shows those its status allows.
 * `changed(mailing or null)` runs after an action (null: deleted).
 */
export function lifecycle(app, changed, { compact = false } = {}) {
  let mailing = null;
  const label = (verb) => `${verb} mailing ${mailing.id}`;
  const act = async (verb, path, done) => {
    const updated = await post(`/mailings/${mailing.id}/${path}`);
    app.toast(`Mailing ${mailing.id} ${done}.`);
    await changed(updated);
  };
  const buttons = {
    pause: button("Pause", () => act("pause", "pause", "paused"), { "data-action": "pause" }),
    resume: button("Resume", () => act("resume", "resume", "resumed"), { "data-action": "resume" }),
    cancel: button("Cancel", async () => {
      const question = `Cancel mailing ${mailing.id}? Nothing more is sent for it; this cannot be undone.`;
      if (await app.confirm(question, "Cancel the mailing")) await act("cancel", "cancel", "cancelled");
    }, { "data-action": "cancel", class: "danger" }),
    edit: button("Edit", () => app.navigate(`#/mailings/${mailing.id}/edit`), { "data-action": "edit" }),
    delete: button("Delete", async () => {
      const question = `Delete mailing ${mailing.id}? Its sending stops first; what was sent stays counted.`;
      if (!(await app.confirm(question, "Delete the mailing"))) return;
      await del(`/mailings/${mailing.id}`);
      app.toast(`Mailing ${mailing.id} deleted.`);
      await changed(null);
    }, { "data-action": "delete", class: "danger" }),
  };
  for (const b of Object.values(buttons)) if (compact) b.classList.add("small");
  const el = h("div", { class: "row-actions", role: "group", "aria-label": "Actions" }, Object.values(buttons));
  const update = (m) => {
    mailing = m;
    el.setAttribute("aria-label", `Actions on mailing ${m.id}`);
    const focused = Object.entries(buttons).find(([, b]) => b === document.activeElement)?.[0];
    for (const [name, b] of Object.entries(buttons)) {
      b.hidden = !shown[name](m.status);
      b.setAttribute("aria-label", label(name[0].toUpperCase() + name.slice(1)));
    }
    if (focused && buttons[focused].hidden) {
      const twin = { pause: "resume", resume: "pause" }[focused];
      (twin && !buttons[twin].hidden ? buttons[twin] : buttons.delete).focus();
    }
  };
  return { el, update };
}

// A mailing's lifecycle buttons: pause, resume, cancel, edit, delete. Cancel and delete cannot
// be undone, so they ask first; pause and resume undo each other, so they act at once.

import { del, post } from "./api.js";
import { button, h } from "./dom.js";

const ACTIVE = new Set(["scheduled", "running", "paused"]);

const SHOWN = {
  pause: (s) => s === "scheduled" || s === "running",
  resume: (s) => s === "paused",
  cancel: (s) => ACTIVE.has(s),
  edit: (s) => ACTIVE.has(s),
  delete: () => true,
};

const TWIN = { pause: "resume", resume: "pause" };

const noHold = async () => () => {};

/**
 * The buttons for one mailing; `update(mailing)` shows those its status allows.
 * `changed(mailing or null)` runs after an action (null: deleted). `hold()` runs before a
 * delete and resolves to a release: a view polling the mailing stops, so no poll of it can
 * land after the delete (and answer 404).
 */
export function lifecycle(app, changed, { compact = false, hold = noHold } = {}) {
  let mailing = null;
  const act = async (path, done) => {
    const updated = await post(`/mailings/${mailing.id}/${path}`);
    app.toast(`Mailing ${mailing.id} ${done}.`);
    await changed(updated);
  };
  const cancel = async () => {
    const question = `Cancel mailing ${mailing.id}? Nothing more is sent for it; no undo.`;
    if (await app.confirm(question, "Cancel the mailing")) await act("cancel", "cancelled");
  };
  const remove = async () => {
    const question = `Delete mailing ${mailing.id}? Its sending stops; the sent stay counted.`;
    if (!(await app.confirm(question, "Delete the mailing"))) return;
    const release = await hold();
    try {
      await del(`/mailings/${mailing.id}`);
    } catch (err) {
      release();
      throw err;
    }
    app.toast(`Mailing ${mailing.id} deleted.`);
    await changed(null);
  };
  const buttons = {
    pause: button("Pause", () => act("pause", "paused")),
    resume: button("Resume", () => act("resume", "resumed")),
    cancel: button("Cancel", cancel, { class: "danger" }),
    edit: button("Edit", () => app.navigate(`#/mailings/${mailing.id}/edit`)),
    delete: button("Delete", remove, { class: "danger" }),
  };
  for (const b of Object.values(buttons)) if (compact) b.classList.add("small");
  const el = h("div", { class: "row-actions", role: "group" }, Object.values(buttons));
  const update = (m) => {
    mailing = m;
    el.setAttribute("aria-label", `Actions on mailing ${m.id}`);
    const focused = Object.keys(buttons).find((name) => buttons[name] === document.activeElement);
    for (const [name, b] of Object.entries(buttons)) {
      b.hidden = !SHOWN[name](m.status);
      b.setAttribute("aria-label", `${b.textContent} mailing ${m.id}`);
    }
    if (focused && buttons[focused].hidden) {
      const twin = buttons[TWIN[focused]];
      (twin && !twin.hidden ? twin : buttons.delete).focus();
    }
  };
  return { el, update };
}

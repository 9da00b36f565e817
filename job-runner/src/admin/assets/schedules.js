"use strict";
// The schedules (`/schedules`): every schedule with its next and last tick; pause, resume,
// edit and remove (those defined in code can be paused only); and a form to add one or
// change one, the server's refusal shown beside it.

(function () {
  const { h, td, api } = Console;
  const path = (id) => "/api/schedules/" + encodeURIComponent(id);

  /** Milliseconds as the API's rate text (`90s`, `15m`, `2h`, `1d`). */
  function everyText(ms) {
    if (!ms) return "";
    for (const [unit, size] of [["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000]]) if (ms % size === 0) return ms / size + unit;
    return ms + "ms";
  }

  Console.page(/^\/schedules$/, () => "Schedules", (view) => {
    const list = Console.panel("schedule-list", "Schedules");
    const editor = Console.panel("schedule-editor", "Add a schedule");

    const id = h("input", { id: "schedule-id", name: "id", required: true, autocomplete: "off" });
    const job = h("select", { id: "schedule-job", name: "job", required: true });
    const cron = h("input", { id: "schedule-cron", name: "cron", placeholder: "0 3 * * *", autocomplete: "off" });
    const every = h("input", { id: "schedule-every", name: "every", placeholder: "15m", autocomplete: "off" });
    const timezone = h("input", { id: "schedule-timezone", name: "timezone", placeholder: "UTC", autocomplete: "off" });
    const args = h("textarea", { id: "schedule-args", name: "args", rows: "2", spellcheck: "false" }, "null");
    const catchUp = h("select", { id: "schedule-catch-up", name: "catch_up" }, h("option", { value: "skip" }, "skip missed ticks"), h("option", { value: "once" }, "run once for missed ticks"));
    const error = h("p", { id: "schedule-error", class: "error", role: "alert", hidden: true });
    const done = h("p", { id: "schedule-done", class: "ok-text", role: "status" });
    const submit = h("button", { type: "submit", id: "schedule-submit", class: "primary" }, "Add schedule");
    const cancelEdit = h("button", { type: "button", id: "schedule-cancel-edit", hidden: true, onclick: () => editing(null) }, "Stop editing");
    let editingId = null;
    const armed = new Set();

    function editing(schedule) {
      editingId = schedule ? schedule.id : null;
      editor.section.querySelector("h2").textContent = schedule ? "Change schedule " + schedule.id : "Add a schedule";
      id.value = schedule ? schedule.id : "";
      id.readOnly = !!schedule;
      if (schedule) job.value = schedule.job;
      cron.value = schedule && schedule.cron ? schedule.cron : "";
      every.value = schedule ? everyText(schedule.every_ms) : "";
      timezone.value = schedule ? schedule.timezone : "";
      args.value = schedule ? JSON.stringify(schedule.args === undefined ? null : schedule.args) : "null";
      catchUp.value = schedule ? schedule.catch_up : "skip";
      submit.textContent = schedule ? "Save changes" : "Add schedule";
      cancelEdit.hidden = !schedule;
      error.hidden = true;
      done.textContent = "";
      (schedule ? cron : id).focus();
    }

    const field = (label, input, help) => h("div", { class: "field" }, h("label", { for: input.id }, label), input, help ? h("span", { class: "muted hint" }, help) : null);
    const form = h(
      "form",
      {
        id: "schedule-form",
        onsubmit: async (event) => {
          event.preventDefault();
          error.hidden = true;
          done.textContent = "";
          let parsedArgs;
          try {
            parsedArgs = JSON.parse(args.value.trim() || "null");
          } catch (e) {
            error.textContent = "The arguments are not JSON: " + e.message;
            error.hidden = false;
            args.focus();
            return;
          }
          const body = { job: job.value };
          if (cron.value.trim()) body.cron = cron.value.trim();
          if (every.value.trim()) body.every = every.value.trim();
          if (timezone.value.trim()) body.timezone = timezone.value.trim();
          if (parsedArgs !== null) body.args = parsedArgs;
          body.catch_up = catchUp.value;
          try {
            if (editingId) {
              await api("PATCH", path(editingId), body);
              done.textContent = "Saved " + editingId + ".";
              editing(null);
              done.textContent = "Saved.";
            } else {
              body.id = id.value.trim();
              const added = await api("POST", "/api/schedules", body);
              editing(null);
              done.textContent = "Added " + added.id + ".";
            }
            Console.refresh();
          } catch (e) {
            error.textContent = e.message;
            error.hidden = false;
          }
        },
      },
      h(
        "div",
        { class: "form-grid" },
        field("Id", id, "letters, digits, - and _"),
        field("Job", job),
        field("Cron", cron, "5 fields, 6 with seconds, or @daily"),
        field("or every", every, "a rate such as 15m"),
        field("Time zone", timezone, "IANA name; UTC when empty"),
        field("Missed ticks", catchUp),
      ),
      field("Arguments (JSON)", args, "what each tick passes; null for none"),
      h("div", { class: "toolbar" }, submit, cancelEdit, error, done),
    );
    editor.show(form);
    view.append(Console.heading("Schedules"), list.section, editor.section);

    function actions(s) {
      const out = [
        s.enabled
          ? Console.button("Pause", "pause", { schedule: s.id }, () => Console.act("Paused schedule " + s.id, () => api("POST", path(s.id) + "/pause")))
          : Console.button("Resume", "resume", { schedule: s.id }, () => Console.act("Resumed schedule " + s.id, () => api("POST", path(s.id) + "/resume"))),
      ];
      if (s.in_code) {
        out.push(h("span", { class: "muted" }, "defined in code"));
        return out;
      }
      out.push(Console.button("Edit", "edit", { schedule: s.id }, () => editing(s)));
      // Removing takes a second press; which schedules wait for it outlives a refresh.
      const remove = Console.button(
        armed.has(s.id) ? "Really remove " + s.id + "?" : "Remove",
        "remove",
        { schedule: s.id },
        () => {
          if (!armed.has(s.id)) {
            armed.add(s.id);
            remove.textContent = "Really remove " + s.id + "?";
            remove.classList.add("danger");
            return;
          }
          armed.delete(s.id);
          Console.act("Removed schedule " + s.id, () => api("DELETE", path(s.id)));
        },
        armed.has(s.id) ? "danger" : undefined,
      );
      out.push(remove);
      return out;
    }

    async function refresh() {
      await Promise.all([
        Console.fill(list, api("GET", "/api/schedules"), (schedules) =>
          list.show(
            Console.table(
              "schedules",
              ["Id", "Job", "When", "Arguments", "Missed ticks", "Next run", "Last run", "State", ""],
              schedules.map((s) =>
                h(
                  "tr",
                  { id: "schedule-" + s.id, data: { schedule: s.id }, class: s.enabled ? "" : "paused" },
                  td(h("code", {}, s.id)),
                  td(Console.jobLink(s.job)),
                  td(s.cron ? s.cron + " (" + s.timezone + ")" : "every " + everyText(s.every_ms)),
                  td(s.args === null || s.args === undefined ? null : h("code", {}, JSON.stringify(s.args))),
                  td(s.catch_up),
                  td(Console.time(s.next_run)),
                  td(Console.time(s.last_run)),
                  td(s.enabled ? h("span", { class: "badge ok" }, "active") : h("span", { class: "badge paused" }, "paused")),
                  td(actions(s), "actions"),
                ),
              ),
              "No schedule yet.",
            ),
          ),
        ),
        api("GET", "/api/jobs").then(
          (jobs) => {
            if (job.options.length) return;
            job.append(...jobs.map((j) => h("option", { value: j.name }, j.name)));
          },
          () => {},
        ),
      ]);
    }
    return { refresh };
  });
})();

"use strict";
// The tasks (`/tasks`): filters by state, job, queue, time and text in the arguments, all in
// the query string (a URL to share); pages of 50, "Older" through the cursor; and actions on
// every task matching the filter (count first, then confirm). A task (`/tasks/{id}`): its
// arguments, attempts as a timeline with each error in full, result, progress, chain and
// origin, with retry and cancel.

(function () {
  const { h, td, api } = Console;
  const PAGE = 50;
  const STATES = ["pending", "running", "succeeded", "dead", "cancelled"];
  const FILTERS = ["state", "job", "queue", "since", "until", "q"];

  /** The first line of an error, for a table cell (the task's page shows it whole). */
  const firstLine = (text) => (text ? text.split("\n")[0] : null);

  Console.TASK_COLUMNS = ["Task", "Job", "Queue", "State", "Attempt", "Created", "Finished", "Last error"];
  Console.taskRows = (items) =>
    items.map((t) =>
      h(
        "tr",
        { data: { task: String(t.id), job: t.job, state: t.state }, class: Console.FAILURES.has(t.state) ? "failure" : "" },
        td(Console.taskLink(t.id)),
        td(Console.jobLink(t.job)),
        td(t.queue),
        td(Console.badge(t.state)),
        td(t.attempt + " of " + t.max_attempts),
        td(Console.time(t.created_at)),
        td(Console.time(t.finished_at)),
        td(firstLine(t.last_error), "error-line"),
      ),
    );

  Console.EXECUTION_COLUMNS = ["#", "Task", "Attempt", "Trigger", "Started", "Duration", "Status", "Error"];
  Console.executionRows = (items) =>
    items.map((e) =>
      h(
        "tr",
        { data: { job: e.job, status: e.status, task: String(e.task_id), trigger: e.trigger }, class: Console.FAILURES.has(e.status) ? "failure" : "" },
        td(e.id),
        td(Console.taskLink(e.task_id)),
        td(e.attempt),
        td(e.trigger),
        td(Console.time(e.started_at)),
        td(Console.duration(e.duration_ms)),
        td(Console.badge(e.status)),
        td(firstLine(e.error), "error-line"),
      ),
    );

  /** `2026-11-30T10:00:00Z` for a `datetime-local` value (read in the viewer's zone). */
  function toUtc(local) {
    if (!local) return "";
    const date = new Date(local);
    return isNaN(date) ? local : date.toISOString().replace(/\.000Z$/, "Z");
  }

  /** The `datetime-local` value (the viewer's zone) of an RFC 3339 time. */
  function toLocal(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (isNaN(date)) return "";
    const pad = (n) => String(n).padStart(2, "0");
    return (
      date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds())
    );
  }

  const ACTIONS = {
    retry: { verb: "Retry", past: "retried", applies: "dead and cancelled tasks are retried; others are skipped" },
    cancel: { verb: "Cancel", past: "cancelled", applies: "pending and running tasks are cancelled; others are skipped" },
    delete: { verb: "Delete", past: "deleted", applies: "finished tasks (succeeded, dead, cancelled) are deleted; a pending or running task is never deleted" },
  };

  Console.page(/^\/tasks$/, () => "Tasks", (view) => {
    const params = Console.params();
    const filter = {};
    for (const key of FILTERS) if (params.get(key)) filter[key] = params.get(key);
    const cursor = params.get("cursor");

    const stateSelect = h("select", { id: "filter-state", name: "state" }, h("option", { value: "" }, "any"), STATES.map((s) => h("option", { value: s }, s)));
    stateSelect.value = filter.state || "";
    const jobSelect = h("select", { id: "filter-job", name: "job" }, h("option", { value: "" }, "any"));
    if (filter.job) jobSelect.append(h("option", { value: filter.job }, filter.job));
    jobSelect.value = filter.job || "";
    const queue = h("input", { id: "filter-queue", name: "queue", value: filter.queue || "", size: "10" });
    const since = h("input", { id: "filter-since", name: "since", type: "datetime-local", step: "1", value: toLocal(filter.since) });
    const until = h("input", { id: "filter-until", name: "until", type: "datetime-local", step: "1", value: toLocal(filter.until) });
    const text = h("input", {
      id: "filter-q",
      name: "q",
      type: "search",
      value: filter.q || "",
      placeholder: "text in the arguments",
      "data-filter-box": "",
      "aria-keyshortcuts": "/",
    });
    const field = (label, input) => h("label", { class: "field-inline" }, h("span", {}, label), input);
    const form = h(
      "form",
      {
        id: "filters",
        role: "search",
        onsubmit: (event) => {
          event.preventDefault();
          const q = new URLSearchParams();
          const values = { state: stateSelect.value, job: jobSelect.value, queue: queue.value.trim(), since: toUtc(since.value), until: toUtc(until.value), q: text.value.trim() };
          for (const key of FILTERS) if (values[key]) q.set(key, values[key]);
          const search = q.toString();
          Console.go("/tasks" + (search ? "?" + search : ""));
        },
      },
      field("State", stateSelect),
      field("Job", jobSelect),
      field("Queue", queue),
      field("Changed since", since),
      field("until", until),
      field("Arguments contain", text),
      h("button", { type: "submit", id: "filter-apply" }, "Apply"),
      Console.link("/tasks", "Clear"),
    );
    const hint = h(
      "p",
      { class: "muted intro" },
      "Times are in your zone (" +
        Intl.DateTimeFormat().resolvedOptions().timeZone +
        ") and go into the address in UTC. A task's time is when it finished, or when it was created while not finished. Press / to search.",
    );

    const list = Console.panel("task-list", "Tasks");
    const pager = h("nav", { class: "pager", "aria-label": "Pages of tasks" });

    // Bulk actions, on everything the filter matches (not only this page).
    const bulk = Console.panel("bulk", "Act on every matching task", "Counts the matching tasks first and asks to confirm. Tasks stored after the count are never touched.");
    const confirmBox = h("div", { id: "bulk-confirm", class: "confirm", hidden: true });
    const result = h("p", { id: "bulk-result", role: "status" });
    const start = async (action) => {
      const info = ACTIONS[action];
      result.textContent = "";
      result.className = "";
      let counted;
      try {
        counted = await api("GET", "/api/tasks/count?" + new URLSearchParams(filter));
      } catch (e) {
        result.textContent = (e.missing ? "Not available: " : "Cannot count: ") + e.message + ".";
        result.className = "error";
        return;
      }
      if (!counted.count || counted.up_to_id === null) {
        confirmBox.hidden = true;
        result.textContent = "No task matches this filter.";
        return;
      }
      const plural = counted.count === 1 ? " task" : " tasks";
      const go = h(
        "button",
        {
          type: "button",
          id: "bulk-confirm-button",
          class: action === "delete" ? "danger" : "primary",
          onclick: async () => {
            confirmBox.hidden = true;
            try {
              const r = await api("POST", "/api/tasks/bulk/" + action, { filter, up_to_id: counted.up_to_id });
              result.className = "ok-text";
              result.textContent =
                info.verb + ": " + r.matched + " matched, " + r.applied + " " + info.past + ", " + r.skipped + " skipped" + (r.skipped ? " (" + info.applies + ")." : ".");
              Console.refresh();
            } catch (e) {
              result.className = "error";
              result.textContent = info.verb + " failed: " + e.message;
            }
          },
        },
        info.verb + " " + counted.count + plural,
      );
      // Always drawn anew: its button holds this count's snapshot id.
      confirmBox.replaceChildren(
        h("p", { id: "bulk-question" }, h("strong", {}, info.verb + " " + counted.count + plural + " matching this filter?"), " " + info.applies[0].toUpperCase() + info.applies.slice(1) + "."),
        go,
        h("button", { type: "button", onclick: () => { confirmBox.hidden = true; result.textContent = "Nothing done."; } }, "Keep them"),
      );
      confirmBox.hidden = false;
      go.focus();
    };
    bulk.show(
      h(
        "div",
        { class: "toolbar" },
        Object.entries(ACTIONS).map(([action, info]) =>
          h("button", { type: "button", id: "bulk-" + action, class: action === "delete" ? "danger" : "", onclick: () => start(action) }, info.verb + " all matching…"),
        ),
      ),
      confirmBox,
      result,
    );

    view.append(Console.heading("Tasks"), form, hint, bulk.section, list.section, pager);

    async function refresh() {
      const q = new URLSearchParams(filter);
      q.set("limit", String(PAGE));
      if (cursor) q.set("cursor", cursor);
      await Promise.all([
        Console.fill(list, api("GET", "/api/tasks?" + q), (page) => {
          list.show(Console.table("tasks", Console.TASK_COLUMNS, Console.taskRows(page.items), cursor ? "No older task." : "No task matches."));
          const base = new URLSearchParams(filter);
          const links = [];
          if (cursor) links.push(Console.link("/tasks" + (base.toString() ? "?" + base : ""), "Newest"));
          if (page.next_cursor) {
            const older = new URLSearchParams(base);
            older.set("cursor", page.next_cursor);
            links.push(h("a", { href: "/tasks?" + older, id: "older", rel: "next" }, "Older"));
          }
          Console.replace(pager, ...links);
        }),
        api("GET", "/api/jobs").then(
          (jobs) => {
            if (jobSelect.options.length > 1 + (filter.job ? 1 : 0)) return;
            for (const j of jobs) if (j.name !== filter.job) jobSelect.append(h("option", { value: j.name }, j.name));
          },
          () => {},
        ),
      ]);
    }
    return { refresh };
  });

  function attemptItem(e) {
    const bad = Console.FAILURES.has(e.status);
    return h(
      "li",
      { class: "attempt" + (bad ? " failure" : ""), data: { attempt: String(e.attempt), status: e.status } },
      h(
        "div",
        { class: "attempt-head" },
        h("strong", {}, "Attempt " + e.attempt),
        " ",
        Console.badge(e.status),
        " started ",
        Console.time(e.started_at),
        ", took " + Console.duration(e.duration_ms) + " on ",
        h("code", {}, e.runner_id),
        e.records_processed !== null && e.records_processed !== undefined ? ", " + e.records_processed + " records" : "",
      ),
      e.error ? h("pre", { class: "error-text" }, e.error) : null,
      e.progress ? h("div", {}, "Progress: ", Console.progress(e.progress)) : null,
    );
  }

  function originFacts(origin, task) {
    const rows = [h("dt", {}, "Trigger"), h("dd", {}, origin.trigger)];
    const add = (label, value) => rows.push(h("dt", {}, label), h("dd", {}, value));
    if (origin.schedule_id) add("Schedule", h("a", { href: "/schedules#schedule-" + encodeURIComponent(origin.schedule_id) }, origin.schedule_id));
    if (origin.tick_at) add("Tick", Console.time(origin.tick_at));
    if (origin.event) add("Event", [h("a", { href: "/events" }, origin.event.source), " ", h("code", {}, origin.event.event_id)]);
    if (origin.previous_task_id) add("After", Console.taskLink(origin.previous_task_id, "task #" + origin.previous_task_id));
    if (origin.trigger === "manual") add("By", "a person, through the console, API or CLI");
    if (origin.trigger === "enqueue") add("By", "the application, through the client's enqueue");
    if (task.unique_key) add("Unique key", h("code", {}, task.unique_key));
    return h("dl", { class: "facts", id: "origin" }, rows);
  }

  Console.page(/^\/tasks\/(\d+)$/, ([id]) => "Task #" + id, (view, [id]) => {
    const badges = h("span", { class: "heading-badges" });
    const actions = h("div", { class: "toolbar", id: "task-actions" });
    const facts = Console.panel("task-facts", "Task");
    const args = Console.panel("task-args", "Arguments");
    const attempts = Console.panel("attempts", "Attempts", "Oldest first, each error in full.");
    const outcome = Console.panel("task-result", "Result and progress");
    const chain = Console.panel("chain", "Chain");
    const origin = Console.panel("task-origin", "Origin");
    view.append(
      h("p", { class: "crumbs" }, Console.link("/tasks", "Tasks"), " / "),
      Console.heading("Task #" + id, badges),
      actions,
      h("div", { id: "task", data: { task: id } }, h("div", { class: "grid-2" }, facts.section, h("div", {}, origin.section, chain.section)), args.section, outcome.section, attempts.section),
    );

    async function load() {
      try {
        return await api("GET", "/api/tasks/" + id + "/detail");
      } catch (e) {
        if (!e.missing) throw e;
        // An older runner: the task and its attempts from the endpoints it has.
        const [task, page] = await Promise.all([api("GET", "/api/tasks/" + id), api("GET", "/api/executions?limit=100&task=" + id)]);
        return { task, attempts: [...page.items].reverse(), chain: null, origin: null, missing: e };
      }
    }

    async function refresh() {
      let detail;
      try {
        detail = await load();
      } catch (e) {
        if (e.status === 401) throw e;
        for (const p of [facts, args, attempts, outcome, chain, origin]) p.fail(e);
        return;
      }
      const t = detail.task;
      document.title = "Task #" + t.id + " · " + t.job + " · Jobs";
      Console.replace(badges, Console.badge(t.state));
      const buttons = [];
      if (t.state === "dead" || t.state === "cancelled")
        buttons.push(Console.button("Retry", "retry", { task: String(t.id) }, () => Console.act("Retrying task " + t.id, () => api("POST", "/api/tasks/" + t.id + "/retry")), "primary"));
      if (t.state === "pending" || t.state === "running")
        buttons.push(
          t.cancel_requested_at
            ? h("span", { class: "muted" }, "Cancelling…")
            : Console.button("Cancel", "cancel", { task: String(t.id) }, () => Console.act("Cancelling task " + t.id, () => api("POST", "/api/tasks/" + t.id + "/cancel")), "danger"),
        );
      buttons.push(Console.link("/tasks?job=" + encodeURIComponent(t.job), "Other tasks of " + t.job));
      Console.replace(actions, buttons);
      facts.show(
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Job"),
          h("dd", {}, Console.jobLink(t.job)),
          h("dt", {}, "Queue"),
          h("dd", {}, t.queue),
          h("dt", {}, "State"),
          h("dd", {}, Console.badge(t.state)),
          h("dt", {}, "Attempt"),
          h("dd", {}, t.attempt + " of " + t.max_attempts + (t.snoozes ? ", snoozed " + t.snoozes + " times" : "")),
          h("dt", {}, "Priority"),
          h("dd", {}, String(t.priority)),
          h("dt", {}, "Created"),
          h("dd", {}, Console.time(t.created_at)),
          h("dt", {}, "Scheduled for"),
          h("dd", {}, Console.time(t.scheduled_at)),
          h("dt", {}, "Runs at"),
          h("dd", {}, Console.time(t.run_at)),
          h("dt", {}, "Finished"),
          h("dd", {}, Console.time(t.finished_at)),
          t.locked_by ? [h("dt", {}, "Held by"), h("dd", {}, h("a", { href: "/runners" }, t.locked_by))] : null,
          t.last_error ? [h("dt", {}, "Last error"), h("dd", {}, h("span", { class: "bad-text" }, firstLine(t.last_error)))] : null,
        ),
      );
      args.show(Console.json(t.args));
      const succeeded = [...detail.attempts].reverse().find((e) => e.status === "succeeded");
      outcome.show(
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Progress"),
          h("dd", { id: "task-progress" }, Console.progress(t.progress), Console.meta(t.progress) ? " · " + Console.meta(t.progress) : ""),
          h("dt", {}, "Result"),
          h("dd", { id: "task-result-value" }, succeeded && succeeded.result !== null && succeeded.result !== undefined ? Console.json(succeeded.result) : h("span", { class: "muted" }, t.state === "succeeded" ? "nothing returned" : "none yet")),
        ),
      );
      attempts.show(detail.attempts.length ? h("ol", { class: "timeline", id: "attempt-list" }, detail.attempts.map(attemptItem)) : h("p", { class: "muted" }, "No attempt yet."));
      if (detail.missing) {
        chain.fail(detail.missing);
        origin.fail(detail.missing);
        return;
      }
      origin.show(originFacts(detail.origin, t));
      chain.show(
        detail.chain.length
          ? h(
              "ol",
              { class: "chain", id: "chain-steps" },
              detail.chain.map((s) =>
                h(
                  "li",
                  { data: { task: String(s.task_id) } },
                  s.task_id === t.id
                    ? h("strong", { "aria-current": "page" }, "Step " + s.step + ": " + s.job + " (this task) ")
                    : [Console.taskLink(s.task_id, "Step " + s.step + ": " + s.job), " "],
                  Console.badge(s.state),
                ),
              ),
            )
          : h("p", { class: "muted" }, "Not part of a chain."),
      );
    }
    return { refresh };
  });
})();

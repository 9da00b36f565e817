"use strict";
// The jobs (`/jobs`): every job with its schedule, next and last run, state, pause and
// resume, and the limits of jobs and queues. A job (`/jobs/{name}`): its settings, its
// schedules and their next runs, its limits, pause and resume, a trigger form with JSON
// arguments (the server's refusal shown beside it), its activity and its latest tasks.

(function () {
  const { h, td, api } = Console;
  const path = (name) => "/api/jobs/" + encodeURIComponent(name);

  function stateCell(job) {
    if (!job.enabled) return h("span", { class: "badge muted-badge" }, "disabled");
    if (job.paused) return h("span", { class: "badge paused" }, "paused");
    return h("span", { class: "badge ok" }, "active");
  }

  function pauseButton(job) {
    return job.paused
      ? Console.button("Resume", "resume", { job: job.name }, () => Console.act("Resumed " + job.name, () => api("POST", path(job.name) + "/resume")))
      : Console.button("Pause", "pause", { job: job.name }, () => Console.act("Paused " + job.name, () => api("POST", path(job.name) + "/pause")));
  }

  function lastRun(job) {
    if (!job.last_run) return [td(null), td(null)];
    return [td(Console.time(job.last_run.started_at)), td(Console.badge(job.last_run.status))];
  }

  function limitRows(limits, queues) {
    const rows = limits.map((l) =>
      h(
        "tr",
        { data: { job: l.job }, class: l.waiting > 0 && l.rate_remaining === 0 ? "held" : "" },
        td(Console.jobLink(l.job)),
        td(l.limit),
        td(l.rate === null || l.rate === undefined ? null : l.rate + (l.rate_remaining === null || l.rate_remaining === undefined ? "" : " (" + l.rate_remaining + " left)")),
        td(l.per.join(", ") || null),
        td(l.source),
        td(l.running),
        td(l.started_in_window),
        td(l.waiting),
        td(l.keys.slice(0, 3).map((k) => (k.key || "(none)") + ": " + k.waiting + " waiting, " + k.running + " running").join("; ") || null),
      ),
    );
    for (const q of queues) {
      rows.push(
        h(
          "tr",
          { data: { queue: q.queue } },
          td("queue " + q.queue + " (" + q.jobs.join(", ") + ")"),
          td(q.limit),
          td(null),
          td(null),
          td(q.source),
          td(q.running),
          td(null),
          td(q.waiting),
          td(null),
        ),
      );
    }
    return rows;
  }
  const LIMIT_COLUMNS = ["Job", "Limit", "Rate", "Per", "From", "Running", "Started in window", "Waiting", "Top keys"];

  Console.page(/^\/jobs$/, () => "Jobs", (view) => {
    const jobs = Console.panel("jobs", "Jobs");
    const limits = Console.panel("limits", "Limits");
    view.append(Console.heading("Jobs"), jobs.section, limits.section);
    async function refresh() {
      await Promise.all([
        Console.fill(jobs, api("GET", "/api/jobs"), (list) =>
          jobs.show(
            Console.table(
              "jobs",
              ["Job", "Queue", "Schedule", "Next run", "Last run", "Last status", "State", ""],
              list.map((job) =>
                h(
                  "tr",
                  { data: { job: job.name }, class: job.last_run && Console.FAILURES.has(job.last_run.status) ? "failure" : "" },
                  td(Console.jobLink(job.name), "name"),
                  td(job.queue),
                  td(job.schedule ? job.schedule + " (" + job.timezone + ")" : "on demand"),
                  td(Console.time(job.next_run)),
                  lastRun(job),
                  td(stateCell(job)),
                  td([
                    pauseButton(job),
                    h("a", { href: "/jobs/" + encodeURIComponent(job.name) + "#trigger-panel", class: "button-link" }, "Trigger…"),
                  ]),
                ),
              ),
              "No job.",
            ),
          ),
        ),
        Console.fill(limits, Promise.all([api("GET", "/api/limits"), api("GET", "/api/queues/limits")]), ([l, q]) =>
          limits.show(Console.table("limits", LIMIT_COLUMNS, limitRows(l, q), "No job or queue has limits.")),
        ),
      ]);
    }
    return { refresh };
  });

  Console.page(/^\/jobs\/([^/]+)$/, ([name]) => name, (view, [name]) => {
    const header = h("span", { class: "heading-badges" });
    const settings = Console.panel("job-settings", "Settings");
    const schedules = Console.panel("job-schedules", "Schedules and next runs");
    const limits = Console.panel("job-limits", "Limits");
    const trigger = Console.panel("trigger", "Trigger");
    const tasks = Console.panel("job-tasks", "Latest tasks");
    const executions = Console.panel("job-executions", "Latest attempts");
    const activity = Console.activity();
    const pauseSlot = h("span", {});
    schedules.actions.append(Console.link("/schedules", "All schedules"));

    // The trigger form, drawn once: a refresh never wipes what is being typed.
    const args = h("textarea", { id: "trigger-args", rows: "6", spellcheck: "false", "aria-describedby": "trigger-help trigger-error" }, "{}");
    const help = h("p", { id: "trigger-help", class: "muted" });
    const error = h("p", { id: "trigger-error", class: "error", role: "alert", hidden: true });
    const done = h("p", { id: "trigger-done", class: "ok-text", role: "status" });
    const argsField = h("div", { class: "field" }, h("label", { for: "trigger-args" }, "Arguments (JSON)"), args, help);
    let argsType = null;
    const form = h(
      "form",
      {
        id: "trigger-form",
        onsubmit: async (event) => {
          event.preventDefault();
          error.hidden = true;
          done.textContent = "";
          let body = {};
          if (argsType !== "()") {
            try {
              body = { args: JSON.parse(args.value) };
            } catch (e) {
              error.textContent = "The arguments are not JSON: " + e.message;
              error.hidden = false;
              args.focus();
              return;
            }
          }
          try {
            const task = await api("POST", path(name) + "/trigger", body);
            Console.replace(done, "Enqueued ", Console.taskLink(task.id, "task #" + task.id), ".");
            Console.refresh();
          } catch (e) {
            error.textContent = e.message;
            error.hidden = false;
          }
        },
      },
      argsField,
      h("button", { type: "submit", id: "trigger-submit" }, "Trigger now"),
      error,
      done,
    );
    trigger.show(form);

    view.append(
      h("p", { class: "crumbs" }, Console.link("/jobs", "Jobs"), " / "),
      Console.heading(name, header),
      h("div", { class: "toolbar" }, pauseSlot, Console.link("/tasks?job=" + encodeURIComponent(name), "All tasks"), Console.link("/tasks?job=" + encodeURIComponent(name) + "&state=dead", "Dead tasks", { deadTasks: name })),
      h("div", { id: "job-detail", data: { job: name } }, h("div", { class: "grid-2" }, settings.section, trigger.section)),
      h("div", { class: "grid-2" }, activity.sections),
      schedules.section,
      limits.section,
      tasks.section,
      executions.section,
    );

    async function refresh() {
      const q = encodeURIComponent(name);
      await Promise.all([
        Console.fill(settings, api("GET", path(name)), (job) => {
          argsType = job.args_type;
          argsField.hidden = job.args_type === "()";
          help.textContent = job.args_type === "()" ? "" : "Of type " + job.args_type + ". The runner checks them and says what is wrong.";
          Console.replace(header, stateCell(job), job.last_run ? Console.badge(job.last_run.status) : null);
          Console.replace(pauseSlot, pauseButton(job));
          settings.show(
            h(
              "dl",
              { class: "facts" },
              h("dt", {}, "Queue"),
              h("dd", {}, Console.link("/queues", job.queue)),
              h("dt", {}, "Schedule"),
              h("dd", {}, job.schedule ? job.schedule + " (" + job.timezone + ")" : "on demand"),
              h("dt", {}, "Next run"),
              h("dd", {}, Console.time(job.next_run)),
              h("dt", {}, "Last run"),
              h("dd", {}, job.last_run ? [Console.time(job.last_run.started_at), " ", Console.badge(job.last_run.status), " ", Console.taskLink(job.last_run.task_id, "task #" + job.last_run.task_id)] : "never"),
              h("dt", {}, "Arguments"),
              h("dd", {}, h("code", {}, job.args_type)),
              h("dt", {}, "Limits"),
              h("dd", {}, job.limits || "none"),
              h("dt", {}, "Defined at"),
              h("dd", {}, h("code", {}, job.location)),
            ),
          );
        }),
        Console.fill(schedules, api("GET", "/api/schedules"), (list) =>
          schedules.show(
            Console.table(
              "job-schedule-list",
              ["Schedule", "When", "Next run", "Last run", "State"],
              list
                .filter((s) => s.job === name)
                .map((s) =>
                  h(
                    "tr",
                    { data: { schedule: s.id } },
                    td(h("a", { href: "/schedules#schedule-" + encodeURIComponent(s.id) }, s.id)),
                    td(s.cron ? s.cron + " (" + s.timezone + ")" : "every " + Console.duration(s.every_ms)),
                    td(Console.time(s.next_run)),
                    td(Console.time(s.last_run)),
                    td(s.enabled ? h("span", { class: "badge ok" }, "active") : h("span", { class: "badge paused" }, "paused")),
                  ),
                ),
              "No schedule: the job runs when triggered or enqueued.",
            ),
          ),
        ),
        Console.fill(limits, api("GET", path(name) + "/limits"), (l) =>
          limits.show(Console.table("job-limit", LIMIT_COLUMNS, limitRows([l], []), "No limits.")),
        ),
        Console.fill(activity, api("GET", "/api/overview?window=hour&job=" + q), (o) => activity.render(o)),
        Console.fill(tasks, api("GET", "/api/tasks?limit=10&job=" + q), (page) =>
          tasks.show(Console.table("job-tasks", Console.TASK_COLUMNS, Console.taskRows(page.items), "No task.")),
        ),
        Console.fill(executions, api("GET", "/api/executions?limit=10&job=" + q), (page) =>
          executions.show(Console.table("job-executions", Console.EXECUTION_COLUMNS, Console.executionRows(page.items), "No attempt yet.")),
        ),
      ]);
    }
    return { refresh, destroy: activity.destroy };
  });
})();

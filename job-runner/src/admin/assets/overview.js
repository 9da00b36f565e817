"use strict";
// The overview (`/`): attempts per bucket over the last hour or day, for every job, one
// job or one queue (GET /api/overview); the wait from enqueue to start; queues with their
// depth and oldest due task; per-job totals, failing jobs first; the tasks running now
// (with progress and cancel) and the latest dead tasks.

(function () {
  const { h, td } = Console;

  /** The running tasks, with progress and a cancel button (shared with the jobs page). */
  Console.runningRows = function runningRows(items) {
    return items.map((t) =>
      h(
        "tr",
        { data: { task: String(t.id), job: t.job } },
        td(Console.taskLink(t.id)),
        td(Console.jobLink(t.job)),
        td(t.attempt + " of " + t.max_attempts),
        td(t.locked_by),
        td(Console.progress(t.progress)),
        td(Console.meta(t.progress)),
        td(
          t.cancel_requested_at
            ? "cancelling"
            : Console.button("Cancel", "cancel", { task: String(t.id) }, () =>
                Console.act("Cancelling task " + t.id, () => Console.api("POST", "/api/tasks/" + t.id + "/cancel")),
              ),
        ),
      ),
    );
  };
  Console.RUNNING_COLUMNS = ["Task", "Job", "Attempt", "Runner", "Progress", "Details", ""];

  /** The queues table (shared with the queues page, which adds the controls). */
  Console.queueCells = function queueCells(q) {
    return [
      td(q.paused ? h("span", { class: "badge paused" }, "paused") : h("span", { class: "badge ok" }, "active")),
      td(q.pending),
      td(q.due),
      td(q.running),
      td(q.due > 0 ? Console.duration(q.oldest_due_age_seconds * 1000) : "–", q.oldest_due_age_seconds > 300 ? "warn" : ""),
      td(q.jobs.length ? q.jobs.flatMap((j, i) => (i ? [", ", Console.jobLink(j)] : [Console.jobLink(j)])) : null),
    ];
  };

  /** The attempts and wait charts of a window, for every job or one (shared with a job's page). */
  Console.activity = function activity() {
    const attempts = Console.panel("throughput", "Attempts", null);
    const wait = Console.panel("wait", "Wait from enqueue to start", null);
    const attemptsChart = h("div", { class: "chart", id: "throughput-chart" });
    const attemptsSummary = h("p", { class: "summary", id: "throughput-summary" });
    const waitChart = h("div", { class: "chart", id: "wait-chart" });
    const waitSummary = h("p", { class: "summary", id: "wait-summary" });
    attempts.show(attemptsChart, attemptsSummary);
    wait.show(waitChart, waitSummary);
    const throughput = Console.chart(
      attemptsChart,
      [
        { label: "Succeeded", color: "#1a7f37", fill: "rgba(26,127,55,0.08)" },
        { label: "Failed", color: "#d97706" },
        { label: "Dead", color: "#b42318", fill: "rgba(180,35,24,0.10)" },
      ],
      "attempts",
    );
    const waits = Console.chart(
      waitChart,
      [
        { label: "Average wait", color: "#2f6fde", format: Console.duration },
        { label: "Longest wait", color: "#8250df", format: Console.duration },
      ],
      "ms",
    );
    return {
      sections: [attempts.section, wait.section],
      render(overview) {
        attempts.show(attemptsChart, attemptsSummary);
        wait.show(waitChart, waitSummary);
        const times = overview.series.map((b) => Date.parse(b.at) / 1000);
        const sum = (key) => overview.series.reduce((n, b) => n + b[key], 0);
        const per = overview.bucket_seconds >= 60 ? overview.bucket_seconds / 60 + " min" : overview.bucket_seconds + " s";
        throughput.draw(times, [
          overview.series.map((b) => b.succeeded),
          overview.series.map((b) => b.failed),
          overview.series.map((b) => b.dead),
        ]);
        const failed = sum("failed");
        const dead = sum("dead");
        Console.replace(
          attemptsSummary,
          "Last " + overview.window + ", per " + per + ": ",
          sum("succeeded") + " succeeded, ",
          h("span", { class: failed ? "bad-text" : "" }, failed + " failed"),
          ", ",
          h("span", { class: dead ? "bad-text" : "" }, dead + " dead"),
          ", " + sum("cancelled") + " cancelled.",
        );
        waits.draw(times, [overview.series.map((b) => b.avg_wait_ms), overview.series.map((b) => b.max_wait_ms)]);
        const started = sum("started");
        const longest = overview.series.reduce((m, b) => Math.max(m, b.max_wait_ms || 0), 0);
        const weighted = overview.series.reduce((n, b) => n + (b.avg_wait_ms || 0) * b.started, 0);
        waitSummary.textContent = started
          ? started + " attempts started; average wait " + Console.duration(weighted / started) + ", longest " + Console.duration(longest) + "."
          : "No attempt started in this window.";
      },
      fail(error) {
        attempts.fail(error);
        wait.fail(error);
      },
      destroy() {
        throughput.destroy();
        waits.destroy();
      },
    };
  };

  Console.page(/^\/$/, () => "Overview", (view) => {
    const params = Console.params();
    const state = {
      window: params.get("window") === "day" ? "day" : "hour",
      job: params.get("job") || "",
      queue: params.get("queue") || "",
    };
    const syncUrl = () => {
      const q = new URLSearchParams();
      if (state.window !== "hour") q.set("window", state.window);
      if (state.job) q.set("job", state.job);
      if (state.queue) q.set("queue", state.queue);
      const search = q.toString();
      history.replaceState({}, "", "/" + (search ? "?" + search : ""));
    };
    const windowButtons = ["hour", "day"].map((w) =>
      h(
        "button",
        {
          type: "button",
          id: "window-" + w,
          "aria-pressed": String(state.window === w),
          onclick: () => {
            state.window = w;
            for (const b of windowButtons) b.setAttribute("aria-pressed", String(b.id === "window-" + w));
            syncUrl();
            Console.refresh();
          },
        },
        w === "hour" ? "Last hour" : "Last day",
      ),
    );
    const jobSelect = h("select", { id: "overview-job" }, h("option", { value: "" }, "every job"));
    const queueSelect = h("select", { id: "overview-queue" }, h("option", { value: "" }, "every queue"));
    const choose = (select, key) =>
      select.addEventListener("change", () => {
        state[key] = select.value;
        syncUrl();
        Console.refresh();
      });
    choose(jobSelect, "job");
    choose(queueSelect, "queue");
    const setOptions = (select, values, current) => {
      const wanted = ["", ...values];
      const have = [...select.options].map((o) => o.value);
      if (wanted.join("\n") === have.join("\n")) return;
      const first = select.options[0].textContent;
      select.replaceChildren(...wanted.map((v) => h("option", { value: v }, v || first)));
      select.value = current;
    };

    const knownQueues = new Set();
    const addQueues = (names) => {
      for (const n of names) knownQueues.add(n);
      setOptions(queueSelect, [...knownQueues].sort(), state.queue);
    };

    const activity = Console.activity();
    const queues = Console.panel("overview-queues", "Queues");
    const totals = Console.panel("job-totals", "Jobs in this window", "Attempts per job; failing jobs first.");
    const running = Console.panel("running", "Running tasks");
    const dead = Console.panel("dead", "Latest dead tasks");
    dead.actions.append(Console.link("/tasks?state=dead", "All dead tasks"));
    queues.actions.append(Console.link("/queues", "Manage queues"));

    view.append(
      Console.heading("Overview"),
      h(
        "div",
        { class: "toolbar", role: "group", "aria-label": "What the charts show" },
        h("span", { class: "segmented" }, windowButtons),
        h("label", {}, "Job ", jobSelect),
        h("label", {}, "Queue ", queueSelect),
      ),
      h("div", { class: "grid-2" }, activity.sections),
      totals.section,
      queues.section,
      running.section,
      dead.section,
    );

    async function refresh() {
      const q = new URLSearchParams({ window: state.window });
      if (state.job) q.set("job", state.job);
      if (state.queue) q.set("queue", state.queue);
      const api = Console.api;
      // The running and dead tasks of the job or queue chosen.
      let narrow = "";
      if (state.job) narrow += "&job=" + encodeURIComponent(state.job);
      if (state.queue) narrow += "&queue=" + encodeURIComponent(state.queue);
      const jobsPromise = api("GET", "/api/jobs");
      await Promise.all([
        api("GET", "/api/overview?" + q).then((o) => {
          activity.render(o);
          const rows = [...o.jobs]
            .sort((a, b) => b.dead + b.failed - (a.dead + a.failed) || a.job.localeCompare(b.job))
            .map((j) => {
              const failing = j.failed + j.dead > 0;
              return h(
                "tr",
                { data: { job: j.job }, class: failing ? "failure" : "" },
                td([Console.jobLink(j.job), failing ? h("span", { class: "badge bad" }, h("span", { "aria-hidden": "true" }, "✖ "), "failing") : null]),
                td(j.queue),
                td(j.succeeded),
                td(j.failed, j.failed ? "bad-text" : ""),
                td(j.dead, j.dead ? "bad-text" : ""),
                td(j.cancelled),
                td(Console.duration(j.avg_wait_ms)),
                td(Console.duration(j.max_wait_ms)),
              );
            });
          totals.show(
            Console.table(
              "job-totals",
              ["Job", "Queue", "Succeeded", "Failed", "Dead", "Cancelled", "Average wait", "Longest wait"],
              rows,
              "No attempt in this window.",
            ),
          );
          const queueRows = o.queues
            .filter((x) => !state.queue || x.queue === state.queue)
            .map((x) => h("tr", { data: { queue: x.queue }, class: x.paused ? "paused" : "" }, td(x.queue), Console.queueCells(x)));
          queues.show(
            Console.table("overview-queues", ["Queue", "State", "Pending", "Due", "Running", "Oldest due", "Jobs"], queueRows, "No queue."),
          );
          addQueues(o.queues.map((x) => x.queue));
        }, (e) => {
          // Without the overview endpoint, the charts, totals and queues say so.
          if (e.status === 401) throw e;
          activity.fail(e);
          totals.fail(e);
          queues.fail(e);
        }),
        Console.fill(running, api("GET", "/api/tasks?state=running&limit=50" + narrow), (page) =>
          running.show(Console.table("running", Console.RUNNING_COLUMNS, Console.runningRows(page.items), "No task is running.")),
        ),
        Console.fill(dead, api("GET", "/api/tasks?state=dead&limit=10" + narrow), (page) =>
          dead.show(
            Console.table(
              "dead",
              ["Task", "Job", "Attempts", "Last error", "Finished", ""],
              page.items.map((t) =>
                h(
                  "tr",
                  { data: { task: String(t.id), job: t.job }, class: "failure" },
                  td(Console.taskLink(t.id)),
                  td(Console.jobLink(t.job)),
                  td(t.attempt + " of " + t.max_attempts),
                  td(h("span", { class: "error-line" }, t.last_error || "–")),
                  td(Console.time(t.finished_at)),
                  td(
                    Console.button("Retry", "retry", { task: String(t.id) }, () =>
                      Console.act("Retrying task " + t.id, () => Console.api("POST", "/api/tasks/" + t.id + "/retry")),
                    ),
                  ),
                ),
              ),
              "No dead tasks.",
            ),
          ),
        ),
        jobsPromise.then(
          (jobs) => {
            setOptions(jobSelect, jobs.map((j) => j.name), state.job);
            addQueues(jobs.map((j) => j.queue));
          },
          () => {},
        ),
      ]);
    }
    return { refresh, destroy: activity.destroy };
  });
})();

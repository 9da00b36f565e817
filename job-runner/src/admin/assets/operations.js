"use strict";
// The machinery: queues (`/queues`: depth, oldest due task, pause and resume), runners
// (`/runners`: alive or not, last heartbeat, the attempts each holds) and events
// (`/events`: what came in and why an event started nothing).

(function () {
  const { h, td, api } = Console;

  Console.page(/^\/queues$/, () => "Queues", (view) => {
    const list = Console.panel("queue-list", "Queues", "A paused queue keeps its tasks; no runner claims them until it is resumed.");
    view.append(Console.heading("Queues"), list.section);
    async function refresh() {
      let limits = [];
      try {
        limits = await api("GET", "/api/queues/limits");
      } catch (e) {
        if (e.status === 401) throw e;
      }
      await Console.fill(list, api("GET", "/api/queues"), (queues) =>
        list.show(
          Console.table(
            "queues",
            ["Queue", "State", "Pending", "Due", "Running", "Oldest due", "Jobs", "Limit", "Paused since", ""],
            queues.map((q) => {
              const limit = limits.find((l) => l.queue === q.queue);
              const path = "/api/queues/" + encodeURIComponent(q.queue);
              return h(
                "tr",
                { data: { queue: q.queue }, class: q.paused ? "paused" : "" },
                td(h("a", { href: "/tasks?queue=" + encodeURIComponent(q.queue) }, q.queue)),
                Console.queueCells(q),
                td(limit && limit.limit ? String(limit.limit) : null),
                td(q.paused ? Console.time(q.paused_at) : null),
                td(
                  q.paused
                    ? Console.button("Resume", "resume", { queue: q.queue }, () => Console.act("Resumed queue " + q.queue, () => api("POST", path + "/resume")))
                    : Console.button("Pause", "pause", { queue: q.queue }, () => Console.act("Paused queue " + q.queue, () => api("POST", path + "/pause"))),
                ),
              );
            }),
            "No queue.",
          ),
        ),
      );
    }
    return { refresh };
  });

  Console.page(/^\/runners$/, () => "Runners", (view) => {
    const list = Console.panel("runner-list", "Runners", "A runner is alive while its heartbeat is within the lease; the attempts a dead runner held are rescued.");
    view.append(Console.heading("Runners"), list.section);
    async function refresh() {
      await Console.fill(list, api("GET", "/api/runners"), (runners) =>
        list.show(
          Console.table(
            "runners",
            ["Runner", "Host", "PID", "Queues", "Started", "Last heartbeat", "State", "Holding"],
            runners.map((r) =>
              h(
                "tr",
                { data: { runner: r.id }, class: r.alive ? "" : "failure" },
                td(h("code", {}, r.id)),
                td(r.host),
                td(r.pid),
                td(r.queues.length ? r.queues.join(", ") : h("span", { class: "muted" }, "all")),
                td(Console.time(r.started_at)),
                td([Console.time(r.heartbeat_at), h("span", { class: "muted" }, " (" + Console.ago(r.heartbeat_at) + ")")]),
                td(r.alive ? h("span", { class: "badge ok" }, "alive") : h("span", { class: "badge bad" }, h("span", { "aria-hidden": "true" }, "✖ "), "no heartbeat")),
                td(
                  r.holding.length
                    ? h(
                        "ul",
                        { class: "plain" },
                        r.holding.map((t) =>
                          h("li", {}, Console.taskLink(t.task_id), " ", Console.jobLink(t.job), " attempt " + t.attempt + " since ", Console.time(t.locked_at)),
                        ),
                      )
                    : h("span", { class: "muted" }, "nothing"),
                ),
              ),
            ),
            "No runner has a heartbeat stored.",
          ),
        ),
      );
    }
    return { refresh };
  });

  Console.page(/^\/events$/, () => "Events", (view) => {
    const list = Console.panel("event-list", "Latest events", "Newest first; an event that started nothing says why.");
    view.append(Console.heading("Events"), list.section);
    async function refresh() {
      await Console.fill(list, api("GET", "/api/events?limit=50"), (events) =>
        list.show(
          Console.table(
            "events",
            ["Received", "Source", "Event", "Job", "Kind", "Started"],
            events.map((e) =>
              h(
                "tr",
                { data: { source: e.source, event: e.event_id }, class: e.task_id === null ? "failure" : "" },
                td(Console.time(e.received_at)),
                td(e.source),
                td(h("code", {}, e.event_id)),
                td(Console.jobLink(e.job)),
                td(e.kind),
                td(
                  e.task_id !== null
                    ? Console.taskLink(e.task_id, "task #" + e.task_id)
                    : h("span", { class: "bad-text" }, h("span", { "aria-hidden": "true" }, "✖ "), "started nothing" + (e.error ? ": " + e.error : "")),
                ),
              ),
            ),
            "No event received yet.",
          ),
        ),
      );
    }
    return { refresh };
  });
})();

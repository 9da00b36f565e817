"use strict";
// The dashboard: reads the JSON API every two seconds and renders three tables. The session
// cookie (HttpOnly, set by /login) admits its calls; X-Jobs-Dashboard marks them as the
// dashboard's own, which the server requires of changes made with the session.

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: { "X-Jobs-Dashboard": "1" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("logged out");
  }
  const data = await response.json();
  if (!response.ok) {
    throw new Error(data.error ? data.error.message : "HTTP " + response.status);
  }
  return data;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(label, action, attributes, handler) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  for (const [key, value] of Object.entries(attributes)) b.dataset[key] = value;
  b.addEventListener("click", handler);
  return b;
}

function when(text) {
  if (!text) return null;
  const date = new Date(text);
  return date.toLocaleString();
}

function say(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = isError ? "error" : "ok";
}

async function act(description, call) {
  try {
    await call();
    say(description + ".", false);
  } catch (e) {
    say(description + " failed: " + e.message, true);
  }
  refresh();
}

function renderJobs(jobs) {
  const body = document.querySelector("#jobs tbody");
  body.replaceChildren();
  for (const job of jobs) {
    const row = document.createElement("tr");
    row.dataset.job = job.name;
    cell(row, job.name, "name");
    cell(row, job.queue);
    cell(row, job.schedule ? job.schedule + " (" + job.timezone + ")" : "on demand");
    cell(row, when(job.next_run));
    cell(row, job.last_run ? when(job.last_run.started_at) : null);
    cell(row, job.last_run ? job.last_run.status : null, job.last_run ? "status " + job.last_run.status : "");
    cell(row, !job.enabled ? "disabled" : job.paused ? "paused" : "active", job.paused ? "paused" : "");
    const actions = cell(row, "");
    actions.replaceChildren(
      button("Trigger", "trigger", { job: job.name }, () => {
        let body = {};
        if (job.args_type !== "()") {
          const text = window.prompt("Arguments for " + job.name + " (JSON, " + job.args_type + ")", "{}");
          if (text === null) return;
          try {
            body = { args: JSON.parse(text) };
          } catch (e) {
            say("Not valid JSON: " + e.message, true);
            return;
          }
        }
        act("Triggered " + job.name, () => api("POST", "/api/jobs/" + encodeURIComponent(job.name) + "/trigger", body));
      }),
      job.paused
        ? button("Resume", "resume", { job: job.name }, () =>
            act("Resumed " + job.name, () => api("POST", "/api/jobs/" + encodeURIComponent(job.name) + "/resume")))
        : button("Pause", "pause", { job: job.name }, () =>
            act("Paused " + job.name, () => api("POST", "/api/jobs/" + encodeURIComponent(job.name) + "/pause"))),
    );
    body.appendChild(row);
  }
}

function renderExecutions(page) {
  const body = document.querySelector("#executions tbody");
  body.replaceChildren();
  for (const e of page.items) {
    const row = document.createElement("tr");
    row.dataset.job = e.job;
    row.dataset.status = e.status;
    row.dataset.task = e.task_id;
    if (e.status !== "succeeded" && e.status !== "snoozed") row.className = "failure";
    cell(row, e.id);
    cell(row, e.job);
    cell(row, e.task_id);
    cell(row, e.attempt);
    cell(row, e.trigger);
    cell(row, e.chain_id ? "#" + e.chain_id + " step " + e.chain_step : null);
    cell(row, when(e.started_at));
    cell(row, e.duration_ms + " ms");
    cell(row, e.status, "status " + e.status);
    cell(row, e.records_processed);
    cell(row, e.result === null || e.result === undefined ? null : JSON.stringify(e.result));
    cell(row, e.error, "error-text");
    body.appendChild(row);
  }
}

function renderLimits(limits, queues) {
  const body = document.querySelector("#limits tbody");
  body.replaceChildren();
  document.getElementById("no-limits").hidden = limits.length + queues.length > 0;
  for (const l of limits) {
    const row = document.createElement("tr");
    row.dataset.job = l.job;
    if (l.waiting > 0 && l.rate_remaining === 0) row.className = "held";
    cell(row, l.job);
    cell(row, l.limit);
    cell(row, l.rate === null ? null : l.rate + (l.rate_remaining === null ? "" : " (" + l.rate_remaining + " left)"));
    cell(row, l.per.join(", "));
    cell(row, l.source);
    cell(row, l.running);
    cell(row, l.started_in_window);
    cell(row, l.waiting);
    cell(row, l.keys.slice(0, 3).map((k) => (k.key || "(none)") + ": " + k.waiting + " waiting, " + k.running + " running").join("; "));
    body.appendChild(row);
  }
  for (const q of queues) {
    const row = document.createElement("tr");
    row.dataset.queue = q.queue;
    cell(row, "queue " + q.queue + " (" + q.jobs.join(", ") + ")");
    cell(row, q.limit);
    cell(row, null);
    cell(row, null);
    cell(row, q.source);
    cell(row, q.running);
    cell(row, null);
    cell(row, q.waiting);
    cell(row, null);
    body.appendChild(row);
  }
}

function progressText(progress) {
  if (!progress) return null;
  if (progress.done === undefined) return null;
  if (progress.total === undefined) return String(progress.done);
  const percent = progress.total > 0 ? Math.floor((100 * progress.done) / progress.total) : 100;
  return progress.done + " of " + progress.total + " (" + percent + "%)";
}

function renderRunning(page) {
  const body = document.querySelector("#running tbody");
  body.replaceChildren();
  document.getElementById("no-running").hidden = page.items.length > 0;
  for (const t of page.items) {
    const row = document.createElement("tr");
    row.dataset.task = t.id;
    cell(row, t.id);
    cell(row, t.job);
    cell(row, t.attempt + " of " + t.max_attempts);
    cell(row, t.locked_by);
    cell(row, progressText(t.progress));
    const meta = t.progress && t.progress.meta ? t.progress.meta : {};
    cell(row, Object.entries(meta).map(([k, v]) => k + ": " + (typeof v === "string" ? v : JSON.stringify(v))).join(", ") || null);
    const actions = cell(row, "");
    if (t.cancel_requested_at) {
      actions.textContent = "cancelling";
    } else {
      actions.replaceChildren(
        button("Cancel", "cancel", { task: t.id }, () => act("Cancelling task " + t.id, () => api("POST", "/api/tasks/" + t.id + "/cancel"))),
      );
    }
    body.appendChild(row);
  }
}

function renderDead(page) {
  const body = document.querySelector("#dead tbody");
  body.replaceChildren();
  document.getElementById("no-dead").hidden = page.items.length > 0;
  for (const t of page.items) {
    const row = document.createElement("tr");
    row.dataset.task = t.id;
    cell(row, t.id);
    cell(row, t.job);
    cell(row, t.attempt + " of " + t.max_attempts);
    cell(row, t.last_error, "error-text");
    cell(row, when(t.finished_at));
    const actions = cell(row, "");
    actions.replaceChildren(
      button("Retry", "retry", { task: t.id }, () => act("Retrying task " + t.id, () => api("POST", "/api/tasks/" + t.id + "/retry"))),
    );
    body.appendChild(row);
  }
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [jobs, limits, queueLimits, running, executions, dead] = await Promise.all([
      api("GET", "/api/jobs"),
      api("GET", "/api/limits"),
      api("GET", "/api/queues/limits"),
      api("GET", "/api/tasks?state=running&limit=50"),
      api("GET", "/api/executions?limit=30"),
      api("GET", "/api/tasks?state=dead&limit=50"),
    ]);
    renderJobs(jobs);
    renderLimits(limits, queueLimits);
    renderRunning(running);
    renderExecutions(executions);
    renderDead(dead);
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (e.message !== "logged out") say("Cannot refresh: " + e.message, true);
  } finally {
    refreshing = false;
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-Jobs-Dashboard": "1" } });
  } finally {
    window.location.assign("/login");
  }
});

refresh();
setInterval(refresh, 2000);

"use strict";
// The console's shared pieces: calls to the JSON API, building elements, times, states,
// panels and tables, charts, and the register of pages that app.js routes to.
//
// The session cookie (HttpOnly, set by /login) admits the calls; X-Jobs-Dashboard marks
// them as the console's own, which the server requires of changes made with the session.

const Console = { pages: [] };

/** An API call that did not succeed: its message is the server's, `missing` when the
 * runner has no such endpoint (an older runner, or a part not built in yet). */
class ApiError extends Error {
  constructor(message, status, missing) {
    super(message);
    this.status = status;
    this.missing = missing;
  }
}

Console.api = async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: { "X-Jobs-Dashboard": "1" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new ApiError("cannot reach the runner (" + e.message + ")", 0, false);
  }
  if (response.status === 401) {
    window.location.assign("/login");
    throw new ApiError("logged out", 401, false);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    // The runner does not serve this endpoint: a 404 or 405 without the API's JSON error
    // (an older runner), or with its "no endpoint at" answer for an unknown path.
    const message = data && data.error && data.error.message;
    const unknownPath = typeof message === "string" && message.startsWith("no endpoint at ");
    if (message && !unknownPath) throw new ApiError(message, response.status, false);
    const missing = response.status === 404 || response.status === 405;
    const what = method + " " + path.split("?")[0];
    throw new ApiError(
      missing ? "this runner does not serve " + what : what + " answered HTTP " + response.status,
      response.status,
      missing,
    );
  }
  return data;
};

/** An element: `h("a", {href: "/jobs", class: "x", data: {job: "j"}, onclick: f}, "text", child)`. */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "data") for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}
Console.h = h;

/** Replaces the children of `container` unless they are the same, keeping the focus on
 * the control of the same `data-focus` key (a refresh must not throw a keyboard user back
 * to the top). */
Console.replace = function replace(container, ...nodes) {
  const fresh = nodes.flat().filter((n) => n !== null && n !== undefined).map((n) => (n instanceof Node ? n : document.createTextNode(String(n))));
  // Unchanged: keep what is there (a click or a selection in progress goes on undisturbed).
  const old = container.childNodes;
  if (fresh.length === old.length && fresh.every((n, i) => n === old[i] || n.isEqualNode(old[i]))) return;
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focus : undefined;
  container.replaceChildren(...fresh);
  if (key) {
    const again = container.querySelector('[data-focus="' + CSS.escape(key) + '"]');
    if (again) again.focus();
  }
};

/** A button that runs `handler`; `focus` names it across refreshes. */
Console.button = function button(label, action, data, handler, className) {
  const attributes = Object.assign({ action }, data || {});
  return h(
    "button",
    {
      type: "button",
      class: className,
      data: Object.assign(attributes, { focus: action + ":" + Object.values(data || {}).join(":") }),
      onclick: handler,
    },
    label,
  );
};

/** A link to another page of the console. */
Console.link = function link(href, text, data) {
  return h("a", { href, data }, text);
};

Console.jobLink = (job) => Console.link("/jobs/" + encodeURIComponent(job), job, { job });
Console.taskLink = (id, text) => Console.link("/tasks/" + id, text || "#" + id, { task: String(id) });

/** The date in UTC, for the `title` of a shown time. */
function utcText(date) {
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** A time in the viewer's zone; its UTC time on hover. */
Console.time = function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "–");
  const date = new Date(iso);
  return h("time", { datetime: iso, title: utcText(date) }, date.toLocaleString());
};

/** A length of time, such as `850 ms`, `12 s`, `3 min 4 s`, `2 h 5 min`. */
Console.duration = function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s % 60) + " s";
  const hours = Math.floor(m / 60);
  if (hours < 48) return hours + " h " + (m % 60) + " min";
  return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
};

/** How long ago `iso` was. */
Console.ago = function ago(iso) {
  if (!iso) return "–";
  return Console.duration(Math.max(0, Date.now() - Date.parse(iso))) + " ago";
};

/** Task states and attempt statuses that mean something went wrong. */
Console.FAILURES = new Set(["failed", "dead", "panicked", "timed_out"]);

/** A state or status: failures stand out by colour and by a mark and their word. */
Console.badge = function badge(state) {
  const bad = Console.FAILURES.has(state);
  return h(
    "span",
    { class: "badge " + (bad ? "bad" : state), data: { state } },
    bad ? h("span", { "aria-hidden": "true" }, "✖ ") : null,
    state.replace("_", " "),
  );
};

/** A JSON value, pretty-printed. */
Console.json = function json(value) {
  return h("pre", { class: "json" }, value === undefined ? "–" : JSON.stringify(value, null, 2));
};

/** The progress of a task: `<progress>` and its text. */
Console.progress = function progress(p) {
  if (!p || p.done === undefined) return h("span", { class: "muted" }, "–");
  if (p.total === undefined || p.total === null) return h("span", {}, String(p.done) + " done");
  const percent = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
  return h(
    "span",
    { class: "progress" },
    h("progress", { max: String(p.total), value: String(p.done), "aria-hidden": "true" }),
    " " + p.done + " of " + p.total + " (" + percent + "%)",
  );
};

/** The `meta` of a progress report, as `key: value` pairs. */
Console.meta = function meta(p) {
  const entries = Object.entries((p && p.meta) || {});
  if (!entries.length) return null;
  return entries.map(([k, v]) => k + ": " + (typeof v === "string" ? v : JSON.stringify(v))).join(", ");
};

/** A table, or `empty` when there is no row. */
Console.table = function table(id, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted empty", id: id + "-empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
  );
};

/** A table cell. */
Console.td = function td(content, className) {
  return h("td", { class: className }, content === null || content === undefined ? "–" : content);
};

/** A section of a page whose data may be missing: `show(...)` fills it, `fail(error)`
 * says why it is empty ("not available" when the runner lacks the endpoint). */
Console.panel = function panel(id, title, intro) {
  const body = h("div", { class: "panel-body" });
  const note = h("p", { class: "unavailable", hidden: true });
  const actions = h("div", { class: "panel-actions" });
  const section = h(
    "section",
    { id: id + "-panel", "aria-labelledby": id + "-title" },
    h("div", { class: "panel-head" }, h("h2", { id: id + "-title" }, title), actions),
    intro ? h("p", { class: "muted intro" }, intro) : null,
    note,
    body,
  );
  return {
    section,
    body,
    actions,
    show(...nodes) {
      note.hidden = true;
      body.hidden = false;
      Console.replace(body, ...nodes);
    },
    fail(error) {
      note.hidden = false;
      note.textContent = (error.missing ? "Not available: " : "Cannot load: ") + error.message + ".";
      body.hidden = true;
    },
  };
};

/** Awaits `promise` and gives its data to `render`, or tells `panel` why it failed; a
 * missing session still stops the whole refresh. */
Console.fill = async function fill(panel, promise, render) {
  try {
    const data = await promise;
    render(data);
    return data;
  } catch (e) {
    if (e.status === 401) throw e;
    panel.fail(e);
    return undefined;
  }
};

/** The message line under the header. */
Console.say = function say(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = isError ? "error" : "ok";
};

/** Runs a change, says how it went, and refreshes the page. */
Console.act = async function act(description, call) {
  try {
    const result = await call();
    Console.say(description + ".", false);
    Console.refresh();
    return result;
  } catch (e) {
    Console.say(description + " failed: " + e.message, true);
    Console.refresh();
    return undefined;
  }
};

/** The page's query string. */
Console.params = () => new URLSearchParams(window.location.search);

/** Registers a page: `pattern` matches the path (its groups are handed to `mount`);
 * `mount(view, args, params)` draws it into `view` and returns `{refresh, destroy}`. */
Console.page = function page(pattern, title, mount) {
  Console.pages.push({ pattern, title, mount });
};

/** The page's main heading, which a navigation focuses. */
Console.heading = function heading(text, extra) {
  return h("h1", { tabindex: "-1" }, text, extra || null);
};

/** A chart over time (uPlot): `series` = [{label, color}], `draw(times, values)` with
 * times in seconds and one array of values per series. A text summary goes beside it for
 * screen readers, and the tables of the page hold the same numbers. */
Console.chart = function chart(container, series, yLabel) {
  let plot = null;
  const width = () => Math.max(320, container.clientWidth || 800);
  const resize = () => plot && plot.setSize({ width: width(), height: 220 });
  window.addEventListener("resize", resize);
  return {
    draw(times, values) {
      const data = [times, ...values];
      if (typeof uPlot === "undefined") {
        container.textContent = "The chart library did not load.";
        return;
      }
      if (plot) {
        plot.setData(data);
        return;
      }
      plot = new uPlot(
        {
          width: width(),
          height: 220,
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
          axes: [{}, { label: yLabel, size: 60 }],
          series: [
            {},
            ...series.map((s) => ({
              label: s.label,
              stroke: s.color,
              width: 2,
              fill: s.fill,
              points: { show: false },
              value: s.format ? (u, v) => (v === null ? "–" : s.format(v)) : undefined,
            })),
          ],
        },
        data,
        container,
      );
    },
    destroy() {
      window.removeEventListener("resize", resize);
      if (plot) plot.destroy();
      plot = null;
    },
  };
};

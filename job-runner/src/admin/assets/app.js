"use strict";
// The console's router and live updates. Every page URL answers the same shell; this
// script draws the page its path names, follows links between pages without reloading
// (history.pushState), and re-reads the page's data when the server announces a change
// over server-sent events (GET /api/stream), or every 5 s when the stream is unavailable.

(function () {
  const { h } = Console;
  const POLL_MS = 5000;
  const RETRY_STREAM_MS = 30000;
  const DEBOUNCE_MS = 250;

  let current = null;

  function render(focusHeading) {
    if (current && current.destroy) current.destroy();
    current = null;
    const view = document.getElementById("view");
    view.replaceChildren();
    if (focusHeading) Console.say("", false);
    const path = window.location.pathname;
    const page = Console.pages.find((p) => p.pattern.test(path));
    for (const a of document.querySelectorAll("header nav a")) {
      const href = a.getAttribute("href");
      const here = href === "/" ? path === "/" : path === href || path.startsWith(href + "/");
      if (here) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    if (!page) {
      document.title = "Not found · Jobs";
      view.append(Console.heading("Not found"), h("p", {}, "The console has no page at " + path + ". ", Console.link("/", "Go to the overview.")));
      return;
    }
    const args = path.match(page.pattern).slice(1).map(decodeURIComponent);
    document.title = page.title(args) + " · Jobs";
    current = page.mount(view, args, Console.params()) || {};
    // A link to a part of a page (`/jobs/x#trigger-panel`) lands there, once drawn; any
    // other navigation lands on the heading.
    const hash = window.location.hash ? decodeURIComponent(window.location.hash.slice(1)) : "";
    const land = () => {
      const target = hash ? document.getElementById(hash) : null;
      if (!target) return false;
      target.scrollIntoView();
      const controls = "a, button, input, select, textarea";
      const field = target.matches(controls) ? target : [...target.querySelectorAll(controls)].find((c) => c.offsetParent !== null);
      if (field) field.focus({ preventScroll: true });
      return true;
    };
    const onHeading = () => {
      const heading = view.querySelector("h1");
      if (heading) heading.focus({ preventScroll: true });
      window.scrollTo(0, 0);
    };
    if (!hash) {
      if (focusHeading) onHeading();
      Console.refresh();
      return;
    }
    const mounted = current;
    Console.refresh().then(() => {
      if (current === mounted && !land() && focusHeading) onHeading();
    });
  }

  /** Opens a page of the console without reloading. */
  Console.go = function go(url) {
    history.pushState({}, "", url);
    render(true);
  };

  // At most one read runs, and at most one waits behind it (which every later call joins):
  // a page's data is read again after the changes that asked for it.
  let last = Promise.resolve();
  let waiting = null;
  async function read() {
    waiting = null;
    const page = current;
    if (!page || !page.refresh) return;
    try {
      await page.refresh();
      const updated = document.getElementById("updated");
      if (updated) updated.textContent = new Date().toLocaleTimeString();
    } catch (e) {
      if (e.status !== 401) Console.say("Cannot refresh: " + e.message, true);
    }
  }
  /** Re-reads the data of the page on screen; resolves once a read that started after the
   * call has finished. */
  Console.refresh = function refresh() {
    if (!waiting) {
      waiting = last.then(read);
      last = waiting;
    }
    return waiting;
  };

  let debounce = null;
  function refreshSoon() {
    clearTimeout(debounce);
    debounce = setTimeout(Console.refresh, DEBOUNCE_MS);
  }

  // Live updates: the stream when it works, else polling, and the header says which.
  const live = document.getElementById("live");
  let poll = null;
  let source = null;
  function showLive(mode, why) {
    live.dataset.mode = mode;
    live.className = "live " + mode;
    live.textContent = mode === "live" ? "● Live" : mode === "connecting" ? "Connecting…" : "Polling every 5 s";
    live.title = mode === "live" ? "The page updates as the runner announces changes." : "Live updates are unavailable (" + why + "); the page reads its data every 5 s.";
  }
  // What the stream says of the whole system, in the header: tasks by state (dead ones
  // stand out) and the paused queues, each a link to the matching page.
  const pulse = h("span", { id: "pulse", class: "pulse" });
  live.after(pulse);
  function showPulse(data) {
    let change;
    try {
      change = JSON.parse(data);
    } catch (_) {
      return;
    }
    const counts = change.counts || {};
    const parts = [];
    for (const state of ["pending", "running", "dead"]) {
      if (counts[state] === undefined) continue;
      const bad = state === "dead" && counts[state] > 0;
      parts.push(h("a", { href: "/tasks?state=" + state, class: bad ? "bad" : "", data: { count: state } }, (bad ? "✖ " : "") + counts[state] + " " + state));
    }
    for (const q of change.paused_queues || []) parts.push(h("a", { href: "/queues", class: "paused", data: { pausedQueue: q } }, "queue " + q + " paused"));
    pulse.replaceChildren(...parts);
  }
  function startPolling(why) {
    showLive("polling", why);
    if (!poll) poll = setInterval(Console.refresh, POLL_MS);
  }
  function stopPolling() {
    clearInterval(poll);
    poll = null;
  }
  function connect() {
    if (typeof EventSource === "undefined") {
      startPolling("this browser has no EventSource");
      return;
    }
    source = new EventSource("/api/stream");
    source.addEventListener("open", () => {
      stopPolling();
      showLive("live");
    });
    source.addEventListener("change", (event) => {
      if (live.dataset.mode !== "live") {
        stopPolling();
        showLive("live");
      }
      showPulse(event.data);
      refreshSoon();
    });
    source.addEventListener("error", () => {
      // A stream the server does not serve, or that broke: poll, and try it again later.
      source.close();
      source = null;
      startPolling("the stream /api/stream did not answer");
      setTimeout(connect, RETRY_STREAM_MS);
    });
  }

  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target.closest("a[href]");
    if (!a || a.target || a.hasAttribute("download")) return;
    const url = new URL(a.href, window.location.href);
    if (url.origin !== window.location.origin) return;
    if (url.pathname === window.location.pathname && url.search === window.location.search && url.hash) return;
    if (!Console.pages.some((p) => p.pattern.test(url.pathname))) return;
    event.preventDefault();
    Console.go(url.pathname + url.search + url.hash);
  });
  window.addEventListener("popstate", () => render(true));

  // `/` jumps to the page's filter box.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const box = document.querySelector("[data-filter-box]");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });

  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-Jobs-Dashboard": "1" } });
    } finally {
      window.location.assign("/login");
    }
  });

  pulse.after(h("span", { id: "updated", class: "muted", title: "When this page last read its data" }));
  showLive("connecting");
  connect();
  // Ages and "ago"s move on with no change to announce: read them again now and then.
  setInterval(() => {
    if (live.dataset.mode === "live") Console.refresh();
  }, 30000);
  render(false);
})();

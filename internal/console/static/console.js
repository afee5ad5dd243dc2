// sessiond console: the events page's live tail, the overview's charts,
// the kill switch form's sign-in deadline and running notice, and the URL
// kept for a page showing an action's result.
// Served as a file (CSP script-src 'self'); every value is set with
// textContent, never as HTML; chart data comes from the data-charts
// attribute of the overview's #overview-data (no inline script).
"use strict";
(function () {
  var source = null;
  var sourceRows = null; // the table source fills
  var tailIDs = Object.create(null); // the IDs of the live tail's rows
  // Why the live tail says events may have been missed (its `missed`
  // event's reason).
  var missedWhy = {
    skipped: ": more match the filters than the live tail shows. Narrow the filters, or find them with the filters above.",
    expired: ": the live tail was disconnected for too long to catch up. Find them with the filters above.",
    invalid: ": the live tail could not resume where it left off. Find them with the filters above.",
  };
  // Why the live tail cannot send events now (its `unavailable` event's
  // reason): it goes on, or reconnects, by itself.
  var unavailableWhy = {
    store: "The store is unavailable: the live tail goes on when it is back.",
    read: "Reading the event log failed (see the server log): the live tail tries again every second.",
    shutdown: "This server is shutting down: the live tail reconnects.",
  };
  function cell(row, label, text, cls) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    if (cls) td.className = cls;
    td.textContent = text;
    row.appendChild(td);
  }
  function start(button) {
    var rows = document.getElementById("tail-rows");
    var status = document.getElementById("tail-status");
    var seen = 0;
    // An unavailable notice says why no event comes: keep it until the
    // server says the tail reads again (event: available, which a tail
    // also opens with) or sends an event. A stream's opening does not
    // clear it: a node shutting down opens one to say so, and the status
    // alternated with "Watching" at each reconnect.
    var held = false;
    // say changes the status only when its text changes: aria-live
    // announces every replacement, the same text too.
    function say(text) { if (status.textContent !== text) status.textContent = text; }
    var es = new EventSource(button.getAttribute("data-src"));
    source = es;
    sourceRows = rows;
    es.onopen = function () { if (!held) say("Watching for new events."); };
    es.onerror = function () {
      // An answer that is no stream (a proxy's error page, the sign-in
      // page once the console session ended) ends an EventSource for
      // good: say so, and let the button start it again.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        if (source === es) source = null;
        button.textContent = "Start live tail";
        status.textContent = "The live tail stopped: the server did not answer with a stream (a proxy's error, or the console session ended). Start it again, or reload the page.";
        return;
      }
      if (!held) say("Connection lost; retrying.");
    };
    es.addEventListener("unavailable", function (m) {
      var n = JSON.parse(m.data);
      held = true;
      say(unavailableWhy[n.reason] || "The live tail cannot read events now; it tries again.");
    });
    es.addEventListener("available", function () {
      held = false;
      say("Watching for new events.");
    });
    es.onmessage = function (m) {
      held = false;
      var e = JSON.parse(m.data);
      // At least once: after this node's clock stepped back the server
      // may send an event again; it is shown once.
      if (tailIDs[e.id]) return;
      tailIDs[e.id] = true;
      var tr = document.createElement("tr");
      tr.setAttribute("data-id", e.id);
      cell(tr, "Time", e.time);
      cell(tr, "Type", e.type);
      cell(tr, "Subject", e.subject);
      cell(tr, "Session", e.session_id);
      cell(tr, "Client", e.ip + " " + e.user_agent, "ua");
      cell(tr, "Details", e.details, "ua");
      rows.insertBefore(tr, rows.firstChild);
      while (rows.children.length > 200) {
        var id = rows.lastChild.getAttribute("data-id");
        if (id) delete tailIDs[id];
        rows.removeChild(rows.lastChild);
      }
      seen++;
      status.textContent = seen + " new event(s).";
    };
    // The server could not send every event: too many match, or a
    // reconnect came too late or with an id it could not resume from. A
    // row marks the place; back-to-back notices (a sustained flood) widen
    // the one on top instead of filling the table.
    es.addEventListener("missed", function (m) {
      var n = JSON.parse(m.data);
      var top = rows.firstChild;
      var since = n.since;
      if (top && top.className === "missed" && top.getAttribute("data-since")) {
        since = since ? top.getAttribute("data-since") : "";
      }
      var text = "Events may have been missed";
      if (since) text += " between " + since + " and " + n.until;
      text += missedWhy[n.reason] || ".";
      var tr = top && top.className === "missed" ? top : document.createElement("tr");
      tr.className = "missed";
      tr.setAttribute("data-since", since || "");
      tr.textContent = "";
      var td = document.createElement("td");
      td.colSpan = 6;
      td.setAttribute("data-label", "Notice");
      td.textContent = text;
      tr.appendChild(td);
      if (tr !== top) rows.insertBefore(tr, rows.firstChild);
      say(text);
    });
    button.textContent = "Stop live tail";
  }
  function stop(button) {
    if (source) source.close();
    source = null;
    button.textContent = "Start live tail";
    document.getElementById("tail-status").textContent = "Stopped.";
  }
  function wire() {
    var button = document.getElementById("tail-toggle");
    if (!button || button.getAttribute("data-wired")) return;
    button.setAttribute("data-wired", "1");
    tailIDs = Object.create(null); // a new page: no rows yet
    button.addEventListener("click", function () { if (source) stop(button); else start(button); });
  }
  // The overview's charts (uPlot, vendored): one per window, a line per
  // series, coloured from the theme's CSS variables, redrawn when the
  // width or the colour scheme changes.
  var plots = [];
  var hhmm = null;
  function utc(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }
  function drawCharts() {
    plots.forEach(function (p) { p.destroy(); });
    plots = [];
    var el = document.getElementById("overview-data");
    if (!el || !window.uPlot) return;
    hhmm = hhmm || uPlot.fmtDate("{HH}:{mm}");
    var data = JSON.parse(el.getAttribute("data-charts"));
    var css = getComputedStyle(document.documentElement);
    function v(name) { return css.getPropertyValue(name).trim(); }
    [["chart-hour", data.hour], ["chart-day", data.day]].forEach(function (pair) {
      var box = document.getElementById(pair[0]);
      var w = pair[1];
      if (!box || !w) return;
      box.textContent = "";
      var xs = w.series.length ? w.series[0].counts.map(function (_, i) { return w.start + i * w.step; }) : [];
      var axis = { stroke: v("--muted"), grid: { stroke: v("--line"), width: 1 }, ticks: { stroke: v("--line"), width: 1 } };
      var opts = {
        width: Math.max(box.clientWidth, 200), height: 170,
        tzDate: utc,
        legend: { show: false }, cursor: { show: false }, select: { show: false },
        scales: { y: { range: function (u, min, max) { return [0, Math.max(max, 1)]; } } },
        // Times in UTC on a 24-hour clock, as everywhere in the console.
        axes: [Object.assign({ values: function (u, splits) { return splits.map(function (ts) { return hhmm(utc(ts)); }); } }, axis),
          Object.assign({ size: 40 }, axis)],
        series: [{}].concat(w.series.map(function (s, i) {
          return { label: s.name, stroke: v("--s" + i), width: 2, points: { show: true, size: 4 } };
        })),
      };
      plots.push(new uPlot(opts, [xs].concat(w.series.map(function (s) { return s.counts; })), box));
    });
  }
  // The kill switch form says until when the operator's sign-in is recent
  // enough to run it (data-reauth-in: the seconds left when the page was
  // made); once that has passed, show the warning that running it first
  // asks for a sign-in, and loses what was typed. Checked every second and
  // when the tab comes back, as a background tab's timers are slowed.
  var reauthDeadline = 0;
  var reauthTimer = null;
  function checkReauth() {
    var soon = document.getElementById("reauth-soon");
    var due = document.getElementById("reauth-due");
    if (!soon || !due) { clearInterval(reauthTimer); reauthTimer = null; return; }
    if (Date.now() >= reauthDeadline) {
      soon.hidden = true;
      due.hidden = false;
      clearInterval(reauthTimer);
      reauthTimer = null;
    }
  }
  function watchReauth() {
    clearInterval(reauthTimer);
    reauthTimer = null;
    var soon = document.getElementById("reauth-soon");
    if (!soon || soon.hidden) return;
    var left = parseInt(soon.getAttribute("data-reauth-in"), 10);
    if (!(left >= 0)) return;
    // One second over: the server refuses only past the deadline.
    reauthDeadline = Date.now() + (left + 1) * 1000;
    reauthTimer = setInterval(checkReauth, 1000);
  }
  document.addEventListener("visibilitychange", function () { if (reauthTimer) checkReauth(); });

  // The kill switch answers once every session is revoked: minutes for
  // millions. Until then say that it runs (htmx disables its button), so
  // the operator neither takes it for hung nor leaves before the count.
  function incidentNotice(e, text) {
    var form = (e.detail.requestConfig && e.detail.requestConfig.elt) || e.detail.elt;
    if (!form || !form.classList || !form.classList.contains("incident")) return;
    var running = document.getElementById("incident-running");
    if (running) running.textContent = text;
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    incidentNotice(e, "Running the kill switch: revoking many sessions can take minutes. Keep this page open to see how many were revoked.");
  });
  // No answer came (the connection dropped): the server runs the kill
  // switch to its end regardless, so it may have revoked sessions.
  document.addEventListener("htmx:sendError", function (e) {
    incidentNotice(e, "The connection was lost before the kill switch answered: it may have run. Look for incident.revoked on the Events page before running it again.");
  });
  // A proxy in front of sessiond that stops waiting (nginx's default
  // proxy_read_timeout is 60 s) answers 504 or 502 while the kill switch
  // runs on: its error page would replace the form and say nothing of
  // that. sessiond itself never answers the kill switch so.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr && e.detail.xhr.status;
    if (status !== 502 && status !== 504) return;
    // This event fires on the swap's target: the form is the request's.
    var form = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (!form || !form.classList || !form.classList.contains("incident")) return;
    e.detail.shouldSwap = false;
    incidentNotice(e, "A proxy in front of sessiond stopped waiting for the kill switch (HTTP " + status + "): it may still be running. Look for incident.revoked on the Events page before running it again.");
  });

  // A page showing an action's result notice (?revoked=, ?retried=) names
  // its URL without it (data-replace-url): keep that one, so that a
  // reload does not report the action again. htmx does the same from the
  // answer's HX-Replace-Url; this is for a full page load.
  function replaceURL() {
    var el = document.querySelector("[data-replace-url]");
    if (el && window.history && history.replaceState) history.replaceState(history.state, "", el.getAttribute("data-replace-url"));
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawCharts, 150);
  });
  if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawCharts);

  document.addEventListener("DOMContentLoaded", function () { replaceURL(); wire(); drawCharts(); watchReauth(); });
  // hx-boost swaps the body: wire the new page, and end a tail left behind
  // with the table it filled, also when the new page is an events page
  // (its Start button then stopped the old tail instead of starting one).
  document.addEventListener("htmx:afterSettle", function () {
    if (source && !document.contains(sourceRows)) { source.close(); source = null; }
    replaceURL();
    wire();
    drawCharts();
    watchReauth();
  });
})();

// sessiond console: the events page's live tail. Served as a file (CSP
// script-src 'self'); every value is set with textContent, never as HTML.
"use strict";
(function () {
  var source = null;
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
    source = new EventSource(button.getAttribute("data-src"));
    source.onopen = function () { status.textContent = "Watching for new events."; };
    source.onerror = function () { status.textContent = "Connection lost; retrying."; };
    source.onmessage = function (m) {
      var e = JSON.parse(m.data);
      var tr = document.createElement("tr");
      cell(tr, "Time", e.time);
      cell(tr, "Type", e.type);
      cell(tr, "Subject", e.subject);
      cell(tr, "Session", e.session_id);
      cell(tr, "Client", e.ip + " " + e.user_agent, "ua");
      cell(tr, "Details", e.details, "ua");
      rows.insertBefore(tr, rows.firstChild);
      while (rows.children.length > 200) rows.removeChild(rows.lastChild);
      seen++;
      status.textContent = seen + " new event(s).";
    };
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
    button.addEventListener("click", function () { if (source) stop(button); else start(button); });
  }
  document.addEventListener("DOMContentLoaded", wire);
  // hx-boost swaps the body: wire the new page, and end a tail left behind.
  document.addEventListener("htmx:afterSettle", function () {
    if (source && !document.getElementById("tail-toggle")) { source.close(); source = null; }
    wire();
  });
})();

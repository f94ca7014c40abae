// The console's behaviour beyond plain forms (every page works without it):
// - pages marked data-live-queue follow the gateway's queue through server-sent events and
//   reload their list when it changes;
// - keyboard shortcuts on pages that declare them (data-shortcut on links and buttons, which the
//   key clicks; data-focus-key on buttons and forms, which the key only focuses — a verdict is
//   never given on a single key: the person confirms with Enter on the focused button).
(function () {
  "use strict";

  function liveQueue() {
    var region = document.querySelector("[data-live-queue]");
    if (!region || !window.EventSource) { return; }
    var source = new EventSource(region.getAttribute("data-live-queue"));
    var pending = null;
    source.addEventListener("queue", function () {
      if (pending) { return; }
      pending = window.setTimeout(function () {
        pending = null;
        var url = region.getAttribute("data-refresh");
        fetch(url, { credentials: "same-origin", headers: { "accept": "text/html" } })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) {
            if (html === null) { return; }
            var parsed = new DOMParser().parseFromString(html, "text/html");
            var fresh = parsed.querySelector("[data-live-queue]");
            if (fresh) {
              region.innerHTML = fresh.innerHTML;
              var status = document.getElementById("live-status");
              if (status) { status.textContent = status.getAttribute("data-updated") || ""; }
            }
          });
      }, 150);
    });
  }

  function shortcuts() {
    var keyed = document.querySelectorAll("[data-shortcut]");
    var focusable = document.querySelectorAll("[data-focus-key]");
    if (!keyed.length && !focusable.length) { return; }
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) { return; }
      var target = event.target;
      var tag = target && target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) { return; }
      if (event.key === "j" || event.key === "k") {
        var rows = Array.prototype.slice.call(document.querySelectorAll("[data-row-link]"));
        if (!rows.length) { return; }
        var at = rows.indexOf(document.activeElement);
        var next = event.key === "j" ? Math.min(at + 1, rows.length - 1) : Math.max(at - 1, 0);
        rows[next].focus();
        event.preventDefault();
        return;
      }
      for (var f = 0; f < focusable.length; f++) {
        if (focusable[f].getAttribute("data-focus-key") === event.key) {
          var into = focusable[f];
          if (into.tagName === "FORM") {
            into = into.querySelector("input:not([type=hidden]), select, textarea, button") || into;
          }
          into.focus();
          event.preventDefault();
          return;
        }
      }
      for (var i = 0; i < keyed.length; i++) {
        if (keyed[i].getAttribute("data-shortcut") === event.key) {
          keyed[i].click ? keyed[i].click() : null;
          if (keyed[i].focus) { keyed[i].focus(); }
          event.preventDefault();
          return;
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveQueue();
    shortcuts();
  });
})();

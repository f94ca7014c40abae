// The inspectors' pages beyond plain forms (each works without it):
// - trail verification: the form is posted in the background, then the progress of the
//   verification is followed through server-sent events and the report shown in place;
// - the explanation's "Print" link opens the browser's print dialog.
(function () {
  "use strict";

  function say(status, key, values) {
    var text = status.getAttribute("data-" + key) || "";
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    status.textContent = text;
  }

  function verification() {
    var form = document.querySelector("form[data-verification]");
    if (!form || !window.EventSource || !window.fetch) { return; }
    var live = document.getElementById("verification-live");
    var bar = document.getElementById("verification-progress");
    var status = document.getElementById("verification-status");
    var report = document.getElementById("verification-report");
    var button = document.getElementById("verification-start");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      report.innerHTML = "";
      live.hidden = false;
      bar.removeAttribute("value");
      say(status, "running");
      fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
        headers: { "accept": "application/json" }
      })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (run) {
          var source = new EventSource(run.stream);
          source.addEventListener("progress", function (e) {
            var p = JSON.parse(e.data);
            if (p.total > 0) {
              bar.max = p.total;
              bar.value = p.checked;
              say(status, "checked", { checked: p.checked, total: p.total });
            }
          });
          function finish(key) {
            source.close();
            button.disabled = false;
            fetch(run.report, { credentials: "same-origin", headers: { "accept": "text/html" } })
              .then(function (r) { return r.text(); })
              .then(function (html) {
                var page = new DOMParser().parseFromString(html, "text/html");
                var fresh = page.getElementById("verification-report");
                if (fresh) { report.innerHTML = fresh.innerHTML; }
                live.hidden = true;
                say(status, key);
                var verdict = document.getElementById("verification-verdict");
                if (verdict) { verdict.setAttribute("tabindex", "-1"); verdict.focus(); }
              });
          }
          source.addEventListener("report", function () { finish("done"); });
          source.addEventListener("refused", function () { finish("failed"); });
          source.onerror = function () { if (source.readyState === 2) { finish("failed"); } };
        })
        .catch(function () {
          button.disabled = false;
          live.hidden = true;
          say(status, "failed");
        });
    });
  }

  function printing() {
    var link = document.querySelector("[data-print]");
    if (!link || !window.print) { return; }
    link.hidden = false;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      window.print();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    verification();
    printing();
  });
})();

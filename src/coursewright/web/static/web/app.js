// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Generation job page: poll the job's status.json every second, move the progress
  // bar, and open the course once the draft is ready. Without JS the page has a
  // "Refresh" link instead.
  function pollJob(box) {
    var url = box.getAttribute("data-job-status-url");
    var bar = box.querySelector("progress");
    var status = box.querySelector("#job-status");
    var percent = box.querySelector("#job-percent");
    var failures = 0;

    function show(data) {
      if (bar) {
        bar.value = data.progress;
        bar.textContent = data.progress + "%";
      }
      if (percent) { percent.textContent = data.progress + "% done"; }
      var text = data.status_label + (data.stage ? ": " + data.stage : "");
      if (status && status.textContent !== text) {
        status.textContent = text;
      }
    }

    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.json();
        })
        .then(function (data) {
          failures = 0;
          show(data);
          if (data.status === "succeeded" && data.course_url) {
            window.location.assign(data.course_url);
          } else if (data.done) {
            window.location.reload();  // the page shows the error and what to do next
          } else {
            window.setTimeout(tick, 1000);
          }
        })
        .catch(function () {
          failures += 1;
          if (failures < 30) { window.setTimeout(tick, Math.min(1000 * failures, 10000)); }
        });
    }

    window.setTimeout(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-job-polling]");
    for (var i = 0; i < boxes.length; i += 1) { pollJob(boxes[i]); }

    // Forms with an error summary: move focus to it so keyboard and screen reader
    // users land on the list of problems.
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.setAttribute("tabindex", "-1");
      summary.focus();
    }
  });
})();

/*
 * coursewright embedded player: opens the learner's attempt on the course
 * (POST embed/attempts with the learner token), shows the course page the answer
 * carries in a srcdoc frame (same origin, under this page's policy), and gives that
 * page the SCORM 2004 API it looks for up the window.parent chain (window.API_1484_11
 * here).
 *
 * Design note
 * -----------
 * SCORM calls are synchronous and the platform is not: the API answers at once from a
 * cache of CMI values (seeded from the attempt: entry, mode, bookmark) and, on every
 * Commit and on Terminate, sends the status, score, progress and bookmark elements to
 * embed/attempts/<id>/progress when they changed since the last report — one report
 * at a time, in order, with the token of the moment (it is refreshed meanwhile), and
 * with keepalive so the last one survives the frame closing. The platform's answer says
 * whether that report was the attempt's first (course.commenced) and whether it
 * completed it (course.completed): those events go to the parent, at the registered
 * origin only. No learner name is ever in the cache: the platform has none.
 */
(function () {
  "use strict";

  var E = window.cwEmbed;
  if (!E) return;

  var KEYS = ["cmi.completion_status", "cmi.success_status", "cmi.score.scaled", "cmi.score.raw",
              "cmi.score.min", "cmi.score.max", "cmi.progress_measure", "cmi.location"];
  var attempt = null;
  var course = null;
  var cache = {};
  var lastSent = "";
  var queue = Promise.resolve();
  var run = { initialized: false, finished: false, error: "0", reports: 0, failed: 0,
              completion: null };
  E.state.player = run;

  function report(final) {
    var values = {};
    KEYS.forEach(function (k) {
      if (Object.prototype.hasOwnProperty.call(cache, k)) values[k] = cache[k];
    });
    var text = JSON.stringify(values);
    if (text === lastSent || !attempt) return;
    lastSent = text;
    queue = queue.then(function () {
      return E.api("POST", "embed/attempts/" + attempt + "/progress", { values: values },
                   { keepalive: final });
    }).then(function (answer) {
      if (!answer || answer.status !== 200) { run.failed++; return; }
      run.reports++;
      run.completion = answer.body.completion;
      if (answer.body.commenced) {
        E.emit("course.commenced", { course: course.uid, course_id: course.id,
                                     attempt: attempt });
      }
      if (answer.body.completed) {
        E.emit("course.completed", { course: course.uid, course_id: course.id,
                                     attempt: attempt, success: answer.body.success,
                                     score: answer.body.score });
      }
    }, function () { run.failed++; });
  }

  function running(before, after) {
    if (!run.initialized) { run.error = before; return false; }
    if (run.finished) { run.error = after; return false; }
    return true;
  }

  var interactionId = /^cmi\.interactions\.(\d+)\.id$/;

  window.API_1484_11 = {
    Initialize: function () {
      if (run.initialized || run.finished) { run.error = "103"; return "false"; }
      run.initialized = true;
      run.error = "0";
      return "true";
    },
    Terminate: function () {
      if (!running("112", "113")) return "false";
      run.finished = true;
      run.error = "0";
      report(true);
      return "true";
    },
    GetValue: function (element) {
      if (!running("122", "123")) return "";
      run.error = "0";
      var key = String(element);
      return Object.prototype.hasOwnProperty.call(cache, key) ? cache[key] : "";
    },
    SetValue: function (element, value) {
      if (!running("132", "133")) return "false";
      var key = String(element);
      cache[key] = String(value);
      var n = interactionId.exec(key);
      if (n) {
        var count = parseInt(cache["cmi.interactions._count"], 10) || 0;
        if (Number(n[1]) + 1 > count) cache["cmi.interactions._count"] = String(Number(n[1]) + 1);
      }
      run.error = "0";
      return "true";
    },
    Commit: function () {
      if (!running("142", "143")) return "false";
      run.error = "0";
      report(false);
      return "true";
    },
    GetLastError: function () { return run.error; },
    GetErrorString: function () { return ""; },
    GetDiagnostic: function () { return ""; }
  };

  E.onAuthenticated(function () {
    if (attempt) return;
    if (E.scope() !== "learner") {
      E.status("");
      E.error("The player needs a learner sign-in; this one is for " + E.scope() + "s.");
      return;
    }
    E.status("Opening the course…");
    E.api("POST", "embed/attempts", { course: E.config.course }).then(function (answer) {
      if (answer.status !== 200) { E.status(""); E.error(E.message(answer)); return; }
      var body = answer.body;
      attempt = body.attempt;
      course = body.course;
      cache = {};
      Object.keys(body.values || {}).forEach(function (k) { cache[k] = String(body.values[k]); });
      document.title = course.title;
      var frame = document.getElementById("cw-course");
      frame.setAttribute("title", course.title);
      frame.srcdoc = body.page;
      frame.hidden = false;
      E.status("");
    }, function () { E.status(""); E.error("The course could not be opened."); });
  });
})();

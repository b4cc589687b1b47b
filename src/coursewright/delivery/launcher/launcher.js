/*
 * coursewright dispatch launcher: the only code a client LMS receives. No framework, no
 * inline code. Its settings are in <script type="application/json" id="cw-launch">:
 * {format, launch, blocked, course, token}.
 *
 * Design note
 * -----------
 * 1. Find the LMS API (SCORM 1.2 `API`, SCORM 2004 `API_1484_11`) with the standard
 *    discovery walk: this window and up the parent chain (7 levels), then the opener's
 *    chain, then that of top.opener. Initialize it.
 * 2. Read only the LMS's opaque learner id (cmi.core.student_id / cmi.learner_id) — never
 *    the learner's name — and POST {token, course, learner} to the Gatekeeper (no
 *    cookies). A refusal shows the platform's friendly blocked page in place.
 * 3. On success, open the launch's `entry` (served by the platform) in an iframe with
 *    `?relay=<format>` and a fragment `#cw-seed=<json>` holding the LMS's current values
 *    (status, bookmark, suspend data, entry, score, mode, mastery score, interaction
 *    count) and this page's origin. The platform page then carries a small shim API
 *    (relay.js) that answers the player's SCORM calls synchronously from that seed and
 *    forwards every write here with postMessage:
 *        player frame → launcher   {cw: "scorm", id, method, args}
 *        launcher → player frame   {cw: "scorm-result", id, result, error}
 *    `method` is the real API name of the format; only SetValue (of cmi.* elements),
 *    Commit and Finish/Terminate are relayed, and only from the iframe's window at the
 *    platform's exact origin (taken from the launch URL). The launcher calls the real
 *    LMS API, so completion, score, bookmark and suspend data land in the LMS as if the
 *    content were local. The fragment is never sent to any server.
 * 4. When this page goes away it commits and finishes the LMS session itself if the
 *    course did not (writes made by the course while its own frame unloads can be lost:
 *    everything that matters is committed on every navigation and answer).
 */
(function () {
  "use strict";

  var configEl = document.getElementById("cw-launch");
  var statusEl = document.getElementById("cw-status");
  var frame = document.getElementById("cw-frame");
  if (!configEl || !statusEl || !frame) return;
  var CONFIG = JSON.parse(configEl.textContent);

  var NAMES = {
    scorm12: {
      api: "API", init: "LMSInitialize", get: "LMSGetValue", set: "LMSSetValue",
      commit: "LMSCommit", finish: "LMSFinish", error: "LMSGetLastError",
      learner: "cmi.core.student_id",
      seed: ["cmi.core.lesson_status", "cmi.core.lesson_location", "cmi.core.entry",
             "cmi.core.lesson_mode", "cmi.core.credit", "cmi.core.score.raw",
             "cmi.core.score.min", "cmi.core.score.max", "cmi.suspend_data",
             "cmi.student_data.mastery_score", "cmi.interactions._count"]
    },
    scorm2004: {
      api: "API_1484_11", init: "Initialize", get: "GetValue", set: "SetValue",
      commit: "Commit", finish: "Terminate", error: "GetLastError",
      learner: "cmi.learner_id",
      seed: ["cmi.completion_status", "cmi.success_status", "cmi.location", "cmi.entry",
             "cmi.mode", "cmi.credit", "cmi.score.raw", "cmi.score.min", "cmi.score.max",
             "cmi.score.scaled", "cmi.suspend_data", "cmi.scaled_passing_score",
             "cmi.completion_threshold", "cmi.progress_measure", "cmi.interactions._count"]
    }
  };
  var N = NAMES[CONFIG.format];
  if (!N) return;
  var PLATFORM = new URL(CONFIG.launch).origin;

  var api = null;
  var finished = false;

  function show(text) {
    statusEl.textContent = text;
    statusEl.hidden = false;
    frame.hidden = true;
  }

  function openFrame(url) {
    frame.src = url;
    frame.hidden = false;
    statusEl.hidden = true;
  }

  // ---------------------------------------------------------------- LMS discovery
  function apiIn(win) {
    try {
      var found = win[N.api];
      return found && (typeof found === "object" || typeof found === "function") ? found : null;
    } catch (e) {
      return null; // a cross-origin window: not here
    }
  }

  function walk(win) {
    for (var level = 0; win && level <= 7; level++) {
      var found = apiIn(win);
      if (found) return found;
      var parent;
      try { parent = win.parent; } catch (e) { return null; }
      if (!parent || parent === win) return null;
      win = parent;
    }
    return null;
  }

  function findApi() {
    var found = walk(window);
    try { if (!found && window.opener) found = walk(window.opener); } catch (e) { /* none */ }
    try {
      if (!found && window.top && window.top.opener) found = walk(window.top.opener);
    } catch (e) { /* none */ }
    return found;
  }

  function lastError() {
    try { return String(api[N.error]()); } catch (e) { return "101"; }
  }

  function read(element) {
    var value = api[N.get](element);
    return lastError() === "0" && value != null ? String(value) : null;
  }

  // ---------------------------------------------------------------- relay
  function relay(event) {
    if (event.origin !== PLATFORM || event.source !== frame.contentWindow) return;
    var d = event.data;
    if (!d || d.cw !== "scorm" || typeof d.method !== "string" || !Array.isArray(d.args)) return;
    var result = "false";
    var error = "0";
    try {
      if (d.method === N.set && typeof d.args[0] === "string" && d.args[0].indexOf("cmi.") === 0) {
        result = String(api[N.set](d.args[0], String(d.args[1])));
      } else if (d.method === N.commit) {
        result = String(api[N.commit](""));
      } else if (d.method === N.finish) {
        result = finished ? "true" : String(api[N.finish](""));
        finished = true;
      } else {
        error = "not_relayed";
      }
      if (result !== "true" && error === "0") error = lastError();
    } catch (e) {
      error = "exception";
    }
    event.source.postMessage({ cw: "scorm-result", id: d.id, result: result, error: error },
                             PLATFORM);
  }

  function end() {
    if (finished || !api) return;
    finished = true;
    try { api[N.commit](""); api[N.finish](""); } catch (e) { /* leaving anyway */ }
  }

  // ---------------------------------------------------------------- launch
  function blocked(reason) {
    openFrame(CONFIG.blocked + "?reason=" + encodeURIComponent(reason || ""));
  }

  function started(launch) {
    var values = {};
    N.seed.forEach(function (element) {
      var value = read(element);
      if (value !== null) values[element] = value;
    });
    var seed = JSON.stringify({ origin: window.location.origin, values: values });
    window.addEventListener("message", relay);
    openFrame(launch.entry + "?relay=" + encodeURIComponent(CONFIG.format) +
              "#cw-seed=" + encodeURIComponent(seed));
  }

  function start() {
    api = findApi();
    if (!api) {
      show("This course opens from your learning platform. Please start it there.");
      return;
    }
    var ok = false;
    try {
      ok = String(api[N.init]("")) === "true";
      if (!ok) { api[N.get](N.learner); ok = lastError() === "0"; } // already initialised
    } catch (e) { ok = false; }
    if (!ok) {
      show("Your learning platform did not start the course session. Please try again.");
      return;
    }
    var learner = read(N.learner) || "";
    window.addEventListener("pagehide", end);
    fetch(CONFIG.launch, {
      method: "POST", mode: "cors", credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: CONFIG.token, course: CONFIG.course, learner: learner })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok && body && body.launch && typeof body.launch.entry === "string" &&
            new URL(body.launch.entry).origin === PLATFORM) {
          started(body.launch);
        } else {
          blocked(body && body.error ? body.error.code : "");
        }
      });
    }).catch(function () {
      // the platform could not be reached, or refused without letting this origin read
      // why (an origin the license does not allow): the generic blocked page
      blocked("");
    });
  }

  start();
})();

/*
 * coursewright relay shim: served by the platform into the course page of a launch that
 * came through a dispatch package (`/launch/v1/play/<session>/?relay=<format>`), before
 * player.js. It defines the SCORM API the player looks for (`window.API` for SCORM 1.2,
 * `window.API_1484_11` for 2004) and relays it to the dispatch launcher in the parent
 * frame, which holds the real LMS API on another origin.
 *
 * Design note
 * -----------
 * SCORM calls are synchronous; postMessage is not. So the shim answers every call at
 * once from a local cache of CMI values and forwards writes without waiting:
 *
 * - The cache is seeded synchronously at load from the URL fragment `#cw-seed=<json>`
 *   ({origin, values}) that the launcher put there with the LMS's current values; the
 *   fragment is removed from the address right away and never reaches a server.
 * - Get* read the cache ("" for an element the launcher did not seed: the learner's name
 *   is never there). Set* write the cache and post {cw: "scorm", id, method, args} to the
 *   parent; Commit and Finish/Terminate are posted the same way. Each returns "true"
 *   locally; the launcher's replies {cw: "scorm-result", id, result, error} are kept in
 *   `window.cwRelay.failures` when the LMS refused a call (they cannot reach the
 *   player's synchronous call any more).
 * - Messages go only to the parent window, at the launcher's origin named in the seed,
 *   which must be one of the origins the platform allows to frame this page (listed in
 *   this script tag's data-origins; empty: any). Replies are accepted only from the
 *   parent window at that origin.
 *
 * Reports to the platform (same origin as this page, no cookies): on every Commit and
 * Finish/Terminate, the status, score, progress and bookmark elements of the cache go to
 * `launch/v1/progress` (only when they changed since the last report); a call the LMS
 * refused, a script error and a course file that failed to load go to
 * `launch/v1/errors` (at most MAX_ERRORS per page). Both carry the launch session's
 * credential (the page address holds it) in `X-Coursewright-Session` and use
 * `keepalive`, so the last report survives the page closing.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var format = new URLSearchParams(window.location.search).get("relay");
  if (format !== "scorm12" && format !== "scorm2004") return;
  if (window.parent === window) return;

  var seed = {};
  var match = /^#cw-seed=(.*)$/.exec(window.location.hash);
  if (match) {
    try { seed = JSON.parse(decodeURIComponent(match[1])) || {}; } catch (e) { seed = {}; }
    try {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    } catch (e) { /* keep the address as it is */ }
  }
  var allowed = ((script && script.getAttribute("data-origins")) || "").split(" ").filter(Boolean);
  var origin = typeof seed.origin === "string" ? seed.origin : "";
  if (!origin || origin === "null" || (allowed.length && allowed.indexOf(origin) === -1)) return;

  var cache = {};
  var values = seed.values && typeof seed.values === "object" ? seed.values : {};
  Object.keys(values).forEach(function (k) {
    if (typeof values[k] === "string") cache[k] = values[k];
  });

  var state = { initialized: false, finished: false, error: "0", nextId: 1,
                pending: {}, failures: [], reports: 0 };
  window.cwRelay = state;

  // ---------------------------------------------------------------- reports
  var MAX_ERRORS = 20;
  var sessionMatch = /\/launch\/v1\/play\/([A-Za-z0-9_-]+)\//.exec(window.location.pathname);
  var session = sessionMatch ? sessionMatch[1] : "";
  var base = script && script.src ? script.src : window.location.href;
  var PROGRESS_KEYS = format === "scorm12"
    ? ["cmi.core.lesson_status", "cmi.core.score.raw", "cmi.core.score.min",
       "cmi.core.score.max", "cmi.core.lesson_location"]
    : ["cmi.completion_status", "cmi.success_status", "cmi.score.scaled", "cmi.score.raw",
       "cmi.score.min", "cmi.score.max", "cmi.progress_measure", "cmi.location"];
  var lastProgress = "";
  var errorsSent = 0;

  function report(name, body) {
    if (!session) return;
    try {
      window.fetch(new URL(name, base).href, {
        method: "POST", credentials: "omit", cache: "no-store", keepalive: true,
        headers: { "Content-Type": "application/json", "X-Coursewright-Session": session },
        body: JSON.stringify(body)
      }).then(function () { state.reports++; }, function () { /* best effort */ });
    } catch (e) { /* reporting never breaks the course */ }
  }

  function reportProgress() {
    var values = {};
    PROGRESS_KEYS.forEach(function (k) {
      if (Object.prototype.hasOwnProperty.call(cache, k)) values[k] = cache[k];
    });
    var text = JSON.stringify(values);
    if (text === lastProgress) return;
    lastProgress = text;
    report("progress", { format: format, values: values });
  }

  function reportError(kind, message, detail) {
    if (errorsSent >= MAX_ERRORS) return;
    errorsSent++;
    report("errors", { kind: kind, message: String(message || kind).slice(0, 500),
                       detail: String(detail || "").slice(0, 500) });
  }

  window.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target !== window && target.tagName) {
      // a course file (image, script, style) that did not load; the address without its
      // query (signed URLs carry their signature there)
      var src = String(target.currentSrc || target.src || target.href || "").split("?")[0];
      reportError("content", target.tagName.toLowerCase() + " failed to load", src);
    } else {
      reportError("script", event.message,
                  (event.filename || "").split("?")[0] + ":" + (event.lineno || 0));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (event) {
    var why = event.reason;
    reportError("script", why && why.message ? why.message : String(why), "promise");
  });

  function post(method, args) {
    var id = state.nextId++;
    state.pending[id] = method;
    window.parent.postMessage({ cw: "scorm", id: id, method: method, args: args }, origin);
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || event.origin !== origin) return;
    var d = event.data;
    if (!d || d.cw !== "scorm-result" || !Object.prototype.hasOwnProperty.call(state.pending, d.id)) return;
    var method = state.pending[d.id];
    delete state.pending[d.id];
    if (d.result !== "true") {
      state.failures.push({ method: method, error: String(d.error) });
      reportError("lms", method + " was refused by the LMS", "error code " + String(d.error));
    }
  });

  var interactionId = /^cmi\.interactions\.(\d+)\.id$/;

  function running(notYet, after) {
    if (!state.initialized) { state.error = notYet; return false; }
    if (state.finished) { state.error = after; return false; }
    return true;
  }

  // codes: 1.2 uses 301 (not initialised) for every out-of-session call; 2004 names each
  var CODES = format === "scorm12"
    ? { again: "101", getBefore: "301", getAfter: "301", setBefore: "301", setAfter: "301",
        commitBefore: "301", commitAfter: "301", endBefore: "301", endAfter: "301" }
    : { again: "103", getBefore: "122", getAfter: "123", setBefore: "132", setAfter: "133",
        commitBefore: "142", commitAfter: "143", endBefore: "112", endAfter: "113" };

  var shim = {
    initialize: function () {
      if (state.initialized || state.finished) { state.error = CODES.again; return "false"; }
      state.initialized = true;
      state.error = "0";
      return "true";
    },
    finish: function (name) {
      if (!running(CODES.endBefore, CODES.endAfter)) return "false";
      state.finished = true;
      state.error = "0";
      post(name, [""]);
      reportProgress();
      return "true";
    },
    get: function (element) {
      if (!running(CODES.getBefore, CODES.getAfter)) return "";
      state.error = "0";
      var key = String(element);
      return Object.prototype.hasOwnProperty.call(cache, key) ? cache[key] : "";
    },
    set: function (name, element, value) {
      if (!running(CODES.setBefore, CODES.setAfter)) return "false";
      var key = String(element);
      var text = String(value);
      cache[key] = text;
      var n = interactionId.exec(key);
      if (n) {
        var count = parseInt(cache["cmi.interactions._count"], 10) || 0;
        if (Number(n[1]) + 1 > count) cache["cmi.interactions._count"] = String(Number(n[1]) + 1);
      }
      state.error = "0";
      post(name, [key, text]);
      return "true";
    },
    commit: function (name) {
      if (!running(CODES.commitBefore, CODES.commitAfter)) return "false";
      state.error = "0";
      post(name, [""]);
      reportProgress();
      return "true";
    }
  };

  function lastError() { return state.error; }
  function empty() { return ""; }

  if (format === "scorm12") {
    window.API = {
      LMSInitialize: shim.initialize,
      LMSFinish: function () { return shim.finish("LMSFinish"); },
      LMSGetValue: shim.get,
      LMSSetValue: function (k, v) { return shim.set("LMSSetValue", k, v); },
      LMSCommit: function () { return shim.commit("LMSCommit"); },
      LMSGetLastError: lastError,
      LMSGetErrorString: empty,
      LMSGetDiagnostic: empty
    };
  } else {
    window.API_1484_11 = {
      Initialize: shim.initialize,
      Terminate: function () { return shim.finish("Terminate"); },
      GetValue: shim.get,
      SetValue: function (k, v) { return shim.set("SetValue", k, v); },
      Commit: function () { return shim.commit("Commit"); },
      GetLastError: lastError,
      GetErrorString: empty,
      GetDiagnostic: empty
    };
  }
})();

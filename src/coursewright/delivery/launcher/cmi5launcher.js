/*
 * coursewright cmi5 dispatch launcher: the AU a client cmi5 LMS launches. No framework,
 * no inline code. Its settings are in <script type="application/json" id="cw-launch">:
 * {format: "cmi5", launch, blocked, course, token}.
 *
 * Design note: who is the AU
 * --------------------------
 * This page is the AU, towards the client LMS: it holds the LMS's cmi5 session and is
 * the only code that ever sees the LMS's auth-token, endpoint or actor. The course runs
 * on the platform's origin in an iframe (the Gatekeeper's launch entry, the SCORM 2004
 * build of the player with relay.js, exactly as for SCORM dispatch packages); the
 * player's runtime calls reach this page by postMessage and are turned here into the
 * cmi5 statements and state the LMS expects.
 *
 * 1. Read the cmi5 launch parameters (endpoint, fetch, actor, registration,
 *    activityId), POST the fetch URL once for the auth-token, read LMS.LaunchData
 *    (contextTemplate, launchMode, masteryScore, returnURL), the learner preferences
 *    and this AU's own state document ("coursewright.dispatch": bookmark, suspend data,
 *    what this registration already reported).
 * 2. Ask the Gatekeeper with the actor's account name only: the LMS's opaque id (an
 *    actor without an account is refused here; its name or mbox are never sent).
 * 3. On success send "initialized", then open the course in the iframe with a seed
 *    (#cw-seed) that maps the cmi5 launch onto the SCORM 2004 values the player reads:
 *    launchMode Normal/Browse/Review → cmi.mode normal/browse/review, masteryScore →
 *    cmi.scaled_passing_score, the stored bookmark and suspend data → cmi.location and
 *    cmi.suspend_data (cmi.entry "resume"), else "ab-initio".
 * 4. Relay: only from the iframe's window at the platform's exact origin. SetValue of
 *    cmi.* updates a local copy; Commit writes the state document and, in Normal mode,
 *    sends "completed" when cmi.completion_status becomes completed and "passed" or
 *    "failed" when cmi.success_status is set (score.scaled with the masteryscore
 *    extension), within the rules: completed and passed once per registration, one of
 *    passed/failed per session, no failed after passed. Terminate (or this page going
 *    away) sends "terminated" with the session's duration as the last statement, and
 *    then goes to returnURL when LMS.LaunchData names one.
 * Statements use the LMS's contextTemplate plus the registration and the cmi5 category
 * (and "moveon" on completed, passed, failed). Statements and state writes go out one
 * request at a time, in order; a network failure or 5xx is tried again.
 */
(function () {
  "use strict";

  var configEl = document.getElementById("cw-launch");
  var statusEl = document.getElementById("cw-status");
  var frame = document.getElementById("cw-frame");
  if (!configEl || !statusEl || !frame) return;
  var CONFIG = JSON.parse(configEl.textContent);
  if (CONFIG.format !== "cmi5") return;
  var PLATFORM = new URL(CONFIG.launch).origin;
  var CMI5 = "https://w3id.org/xapi/cmi5/context/categories/cmi5";
  var MOVEON = "https://w3id.org/xapi/cmi5/context/categories/moveon";
  var MASTERY = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore";
  var VERB = "http://adlnet.gov/expapi/verbs/";
  var STATE = "coursewright.dispatch";

  var params = new URLSearchParams(window.location.search);
  var lms = {
    endpoint: (params.get("endpoint") || "").replace(/\/?$/, "/"),
    fetch: params.get("fetch") || "",
    registration: params.get("registration") || "",
    activityId: params.get("activityId") || "",
    actor: null, auth: "", launchData: {}
  };
  var values = {};          // the SCORM 2004 values the course set (a local copy)
  var done = {};            // what this registration already reported (state document)
  var session = {};         // what this session reported
  var queue = [];
  var busy = false;
  var startedAt = 0;
  var ended = false;

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

  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function duration() {
    var cs = Math.max(0, Math.round((Date.now() - startedAt) / 10));
    var h = Math.floor(cs / 360000);
    var m = Math.floor(cs / 6000) % 60;
    return "PT" + (h ? h + "H" : "") + (h || m ? m + "M" : "") + ((cs % 6000) / 100).toFixed(2) + "S";
  }

  // ---------------------------------------------------------------- the LMS's xAPI
  function call(method, path, body, keepalive) {
    var headers = { "Authorization": lms.auth, "X-Experience-API-Version": "1.0.3" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var options = { method: method, mode: "cors", credentials: "omit", cache: "no-store",
                    referrerPolicy: "no-referrer", headers: headers };
    if (body !== undefined) options.body = JSON.stringify(body);
    if (keepalive) options.keepalive = true;
    return window.fetch(lms.endpoint + path, options);
  }

  function stateUrl(id) {
    return "activities/state?activityId=" + encodeURIComponent(lms.activityId) +
      "&agent=" + encodeURIComponent(JSON.stringify(lms.actor)) +
      "&registration=" + encodeURIComponent(lms.registration) +
      "&stateId=" + encodeURIComponent(id);
  }

  function getState(id) {
    return call("GET", stateUrl(id)).then(function (response) {
      if (response.status === 404) return null;
      if (!response.ok) throw new Error("state " + id + ": HTTP " + response.status);
      return response.json();
    });
  }

  // One request at a time, in order; a network failure or a 5xx is tried again
  // (statement ids make that idempotent).
  var chain = Promise.resolve();

  function enqueue(request) {
    var attempt = function (left) {
      return request().then(function (response) {
        if (response.status >= 500 && left > 0) throw new Error("HTTP " + response.status);
        return response;
      }).catch(function () {
        if (left <= 0) return null;
        return new Promise(function (resolve) { window.setTimeout(resolve, 400); })
          .then(function () { return attempt(left - 1); });
      });
    };
    chain = chain.then(function () { return attempt(3); });
    return chain;
  }

  function saveState(keepalive) {
    var doc = { v: 1, location: values["cmi.location"] || "",
                suspend: values["cmi.suspend_data"] || "", done: done };
    var put = function () { return call("PUT", stateUrl(STATE), doc, keepalive); };
    if (keepalive) return put().catch(function () { /* best effort */ });
    return enqueue(put);
  }

  function statement(verb, result) {
    var context = JSON.parse(JSON.stringify(lms.launchData.contextTemplate || {}));
    context.registration = lms.registration;
    var activities = context.contextActivities = context.contextActivities || {};
    var category = activities.category = (activities.category || []).slice();
    category.push({ objectType: "Activity", id: CMI5 });
    if (result && (result.success !== undefined || result.completion !== undefined)) {
      category.push({ objectType: "Activity", id: MOVEON });
    }
    var s = { id: uuid4(), timestamp: new Date().toISOString(), actor: lms.actor,
              verb: { id: VERB + verb, display: { "en-US": verb } },
              object: { objectType: "Activity", id: lms.activityId }, context: context };
    if (result) s.result = result;
    return s;
  }

  function pump() {
    if (busy || !queue.length) return;
    var batch = null;
    busy = true;
    enqueue(function () {
      if (batch === null) { batch = queue.splice(0); busy = false; }
      if (!batch.length) return Promise.resolve({ status: 204, ok: true }); // sent on leaving
      return call("POST", "statements", batch);
    }).then(pump);
  }

  function send(s) { queue.push(s); pump(); }

  // ---------------------------------------------------------------- SCORM → cmi5
  function normal() { return (lms.launchData.launchMode || "Normal") === "Normal"; }

  function judge() {
    if (!normal()) return;
    var changed = false;
    if (values["cmi.completion_status"] === "completed" && !done.completed && !session.completed) {
      session.completed = done.completed = changed = true;
      send(statement("completed", { completion: true, duration: duration() }));
    }
    var success = values["cmi.success_status"];
    if ((success === "passed" || success === "failed") && !session.judged && !done.passed) {
      var mastery = parseFloat(lms.launchData.masteryScore);
      var scaled = parseFloat(values["cmi.score.scaled"]);
      var passed = success === "passed";
      if (!isNaN(scaled) && !isNaN(mastery)) passed = scaled >= mastery;
      var result = { success: passed, duration: duration() };
      if (!isNaN(scaled)) result.score = { scaled: Math.round(scaled * 10000) / 10000 };
      var s = statement(passed ? "passed" : "failed", result);
      if (!isNaN(mastery) && !isNaN(scaled)) {
        s.context.extensions = s.context.extensions || {};
        s.context.extensions[MASTERY] = mastery;
      }
      session.judged = changed = true;
      if (passed) done.passed = true;
      send(s);
    }
    return changed;
  }

  function terminate(keepalive) {
    if (ended) return Promise.resolve();
    ended = true;
    judge();
    var batch = queue.splice(0);
    batch.push(statement("terminated", { duration: duration() }));
    saveState(keepalive);
    return call("POST", "statements", batch, keepalive).catch(function () { /* gone */ });
  }

  function leave() {
    var back = lms.launchData.returnURL;
    if (typeof back === "string" && back) window.location.assign(back);
  }

  function relay(event) {
    if (event.origin !== PLATFORM || event.source !== frame.contentWindow) return;
    var d = event.data;
    if (!d || d.cw !== "scorm" || typeof d.method !== "string" || !Array.isArray(d.args)) return;
    var result = "true";
    var error = "0";
    if (d.method === "SetValue" && typeof d.args[0] === "string" && d.args[0].indexOf("cmi.") === 0) {
      values[d.args[0]] = String(d.args[1]);
    } else if (d.method === "Commit") {
      judge();
      saveState(false);
    } else if (d.method === "Terminate") {
      terminate(false).then(leave, leave);
    } else {
      result = "false";
      error = "not_relayed";
    }
    event.source.postMessage({ cw: "scorm-result", id: d.id, result: result, error: error },
                             PLATFORM);
  }

  // ---------------------------------------------------------------- launch
  function blocked(reason) {
    openFrame(CONFIG.blocked + "?reason=" + encodeURIComponent(reason || ""));
  }

  function started(launch, saved) {
    var mode = { Normal: "normal", Browse: "browse", Review: "review" }[lms.launchData.launchMode] || "normal";
    var seed = { "cmi.mode": mode, "cmi.credit": mode === "normal" ? "credit" : "no-credit",
                 "cmi.entry": saved ? "resume" : "ab-initio", "cmi.interactions._count": "0",
                 "cmi.completion_status": done.completed ? "completed" : "unknown",
                 "cmi.success_status": done.passed ? "passed" : "unknown" };
    if (saved && saved.location) seed["cmi.location"] = String(saved.location);
    if (saved && saved.suspend) seed["cmi.suspend_data"] = String(saved.suspend);
    var mastery = parseFloat(lms.launchData.masteryScore);
    if (!isNaN(mastery)) seed["cmi.scaled_passing_score"] = String(mastery);
    Object.keys(seed).forEach(function (k) { values[k] = seed[k]; });
    window.addEventListener("message", relay);
    window.addEventListener("pagehide", function () { terminate(true); });
    openFrame(launch.entry + "?relay=scorm2004#cw-seed=" +
              encodeURIComponent(JSON.stringify({ origin: window.location.origin, values: seed })));
  }

  function gatekeeper(saved) {
    var account = lms.actor && lms.actor.account;
    if (!account || typeof account.name !== "string" || !account.name) {
      show("Your learning platform did not identify you with an account. Please ask its administrator.");
      return;
    }
    window.fetch(CONFIG.launch, {
      method: "POST", mode: "cors", credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: CONFIG.token, course: CONFIG.course, learner: account.name })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok && body && body.launch && typeof body.launch.entry === "string" &&
            new URL(body.launch.entry).origin === PLATFORM) {
          return call("POST", "statements", [statement("initialized")]).then(function (sent) {
            if (!sent.ok) throw new Error("initialized: HTTP " + sent.status);
            startedAt = Date.now();
            started(body.launch, saved);
          });
        }
        blocked(body && body.error ? body.error.code : "");
      });
    }).catch(function () { blocked(""); });
  }

  function start() {
    try { lms.actor = JSON.parse(params.get("actor") || "null"); } catch (e) { lms.actor = null; }
    if (!lms.endpoint || !lms.fetch || !lms.actor || !lms.registration || !lms.activityId) {
      show("This course opens from your learning platform. Please start it there.");
      return;
    }
    window.fetch(lms.fetch, { method: "POST", mode: "cors", credentials: "omit", cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (!body || typeof body["auth-token"] !== "string") throw new Error("fetch refused");
        lms.auth = "Basic " + body["auth-token"];
        return getState("LMS.LaunchData");
      })
      .then(function (data) {
        if (!data || typeof data !== "object") throw new Error("no LMS.LaunchData");
        lms.launchData = data;
        var prefs = "agents/profile?profileId=cmi5LearnerPreferences&agent=" +
          encodeURIComponent(JSON.stringify(lms.actor));
        return Promise.all([call("GET", prefs).catch(function () { return null; }),
                            getState(STATE).catch(function () { return null; })]);
      })
      .then(function (found) {
        var saved = found[1];
        if (saved && typeof saved === "object" && saved.done && typeof saved.done === "object") {
          done = saved.done;
        }
        gatekeeper(saved && typeof saved === "object" ? saved : null);
      })
      .catch(function () {
        show("Your learning platform did not start the course session. Please try again.");
      });
  }

  start();
})();

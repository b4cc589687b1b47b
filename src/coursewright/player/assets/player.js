/*
 * coursewright learner player. No framework, no build step, no inline code: the page
 * (index.html) is rendered at build time; this script adds navigation, scoring and LMS
 * tracking. It reads its data from <script type="application/json" id="cw-data">.
 *
 * Design note
 * -----------
 * Finding the LMS: the package format decides which API is looked for: SCORM 1.2
 * `API`, SCORM 2004 `API_1484_11` (plain HTML exports look for none). The standard
 * discovery algorithm: this window, then up the window.parent chain (at most 7 levels),
 * then the chain of window.opener, then that of window.top.opener. Property access that
 * a cross-origin frame refuses counts as "not here" and the walk goes on upwards.
 * If no API is found the player runs standalone and keeps its state in localStorage
 * (key "coursewright:<course id>:v<version>"; a storage that throws is ignored).
 *
 * What is stored: the bookmark (cmi.core.lesson_location / cmi.location) is the current
 * screen id ("~results" for the results screen). Suspend data (cmi.suspend_data) is a
 * compact JSON object: {"v":1, "k":"<version>:<screens>:<questions>", "s":"0110…"
 * (visited flag per screen), "a":[[choice indexes]|null per question, in course order]}.
 * Only checked (submitted) answers are stored. With 500 screens and 100 questions this
 * stays well under SCORM 1.2's 4096 characters. "k" guards against data from another
 * build of the course: if it does not match, the data is ignored.
 *
 * Tracking: on every navigation and every checked answer the player writes location,
 * suspend data, progress (2004 cmi.progress_measure), and once every question is
 * answered the score (raw 0-100 percent, min 0, max 100; 2004 also scaled 0-1) and
 * success; then commits. Completed = every screen visited and every question answered;
 * passed = score >= passing score (the LMS's mastery score / scaled passing score wins
 * if it sets one). SCORM 1.2 cmi.core.lesson_status: incomplete until completed, then
 * passed/failed (or completed for a course without questions). SCORM 2004:
 * cmi.completion_status incomplete/completed and cmi.success_status unknown/passed/
 * failed. Each checked answer is also written as an interaction record. Exit is
 * "suspend" while incomplete ("" / "normal" afterwards). Session time (1.2 HHHH:MM:SS.SS,
 * 2004 ISO 8601 duration) is set on unload, before LMSFinish/Terminate. In review or
 * browse mode nothing but the bookmark is written.
 */
(function () {
  "use strict";

  var dataEl = document.getElementById("cw-data");
  if (!dataEl) return;
  var DATA = JSON.parse(dataEl.textContent);
  var STR = DATA.strings;
  var SCREENS = DATA.screens;
  // cmi5 with one AU per module: ?module=<screen id> shows that screen and the results
  var MODULE = null;
  if (DATA.format === "cmi5") {
    var wantedModule = new URLSearchParams(window.location.search).get("module");
    SCREENS.forEach(function (s) { if (s.id === wantedModule) MODULE = s; });
    if (MODULE) SCREENS = [MODULE];
  }
  var QUESTION_IDS = [];
  SCREENS.forEach(function (s) { QUESTION_IDS.push.apply(QUESTION_IDS, s.questions); });
  var RESULTS = SCREENS.length; // index of the results screen
  var RESULTS_ID = "~results";
  var STATE_KEY = String(DATA.course.version) + ":" + SCREENS.length + ":" + QUESTION_IDS.length;
  if (MODULE) STATE_KEY += ":" + MODULE.id;

  function t(key, vars) {
    var text = STR[key] || key;
    Object.keys(vars || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(vars[name]));
    });
    return text;
  }

  function byId(id) { return document.getElementById(id); }

  function number(value) {
    try {
      return new Intl.NumberFormat(DATA.course.language, { maximumFractionDigits: 2 }).format(value);
    } catch (e) {
      return String(value);
    }
  }

  // ---------------------------------------------------------------- LMS discovery
  function apiIn(win, name) {
    try {
      var api = win[name];
      return api && (typeof api === "object" || typeof api === "function") ? api : null;
    } catch (e) {
      return null; // cross-origin window: not here
    }
  }

  function walk(win, name) {
    for (var level = 0; win && level <= 7; level++) {
      var api = apiIn(win, name);
      if (api) return api;
      var parent;
      try { parent = win.parent; } catch (e) { return null; }
      if (!parent || parent === win) return null;
      win = parent;
    }
    return null;
  }

  function findApi(name) {
    var api = walk(window, name);
    try { if (!api && window.opener) api = walk(window.opener, name); } catch (e) { /* none */ }
    try {
      if (!api && window.top && window.top.opener) api = walk(window.top.opener, name);
    } catch (e) { /* none */ }
    return api;
  }

  // ---------------------------------------------------------------- LMS adapters
  function pad(n, width) {
    var s = String(n);
    while (s.length < width) s = "0" + s;
    return s;
  }

  function Scorm12(api) {
    this.api = api;
    this.kind = "scorm12";
  }
  Scorm12.prototype = {
    init: function () { return String(this.api.LMSInitialize("")) === "true"; },
    lastError: function () { return String(this.api.LMSGetLastError()); },
    probe: "cmi.core.lesson_status",
    get: function (k) { var v = this.api.LMSGetValue(k); return v == null ? "" : String(v); },
    set: function (k, v) { return String(this.api.LMSSetValue(k, String(v))) === "true"; },
    commit: function () { return String(this.api.LMSCommit("")) === "true"; },
    finish: function () { return String(this.api.LMSFinish("")) === "true"; },
    location: "cmi.core.lesson_location",
    readOnly: function () {
      var mode = this.get("cmi.core.lesson_mode");
      return mode === "review" || mode === "browse";
    },
    masteryScore: function () {
      var v = parseFloat(this.get("cmi.student_data.mastery_score"));
      return isNaN(v) ? null : v;
    },
    start: function () {
      var status = this.get("cmi.core.lesson_status");
      if (status === "" || status === "not attempted") this.set("cmi.core.lesson_status", "incomplete");
    },
    report: function (p) {
      if (p.allAnswered && p.hasQuestions) {
        this.set("cmi.core.score.min", "0");
        this.set("cmi.core.score.max", "100");
        this.set("cmi.core.score.raw", String(p.score));
      }
      var status = "incomplete";
      if (p.complete) status = p.hasQuestions ? (p.passed ? "passed" : "failed") : "completed";
      this.set("cmi.core.lesson_status", status);
      this.set("cmi.core.exit", p.complete ? "" : "suspend");
    },
    interaction: function (n, q, given, correct) {
      var letters = function (ids) {
        return ids.map(function (id) { return String.fromCharCode(97 + q.choices.indexOf(id)); }).join(",");
      };
      var tf = function (ids) { return ids[0] === "true" ? "t" : "f"; };
      var fmt = q.type === "true_false" ? tf : letters;
      var base = "cmi.interactions." + n + ".";
      this.set(base + "id", q.id);
      this.set(base + "type", q.type === "true_false" ? "true-false" : "choice");
      this.set(base + "correct_responses.0.pattern", fmt(q.correct));
      this.set(base + "student_response", fmt(given));
      this.set(base + "result", correct ? "correct" : "wrong");
      this.set(base + "weighting", "1");
    },
    sessionTime: function (ms) {
      var cs = Math.floor(ms / 10);
      var h = Math.min(9999, Math.floor(cs / 360000));
      var m = Math.floor(cs / 6000) % 60;
      var s = Math.floor(cs / 100) % 60;
      this.set("cmi.core.session_time", pad(h, 4) + ":" + pad(m, 2) + ":" + pad(s, 2) + "." + pad(cs % 100, 2));
    },
    end: function (p) { this.set("cmi.core.exit", p.complete ? "" : "suspend"); }
  };

  function Scorm2004(api) {
    this.api = api;
    this.kind = "scorm2004";
  }
  Scorm2004.prototype = {
    init: function () { return String(this.api.Initialize("")) === "true"; },
    lastError: function () { return String(this.api.GetLastError()); },
    probe: "cmi.completion_status",
    get: function (k) { var v = this.api.GetValue(k); return v == null ? "" : String(v); },
    set: function (k, v) { return String(this.api.SetValue(k, String(v))) === "true"; },
    commit: function () { return String(this.api.Commit("")) === "true"; },
    finish: function () { return String(this.api.Terminate("")) === "true"; },
    location: "cmi.location",
    readOnly: function () {
      var mode = this.get("cmi.mode");
      return mode === "review" || mode === "browse";
    },
    masteryScore: function () {
      var v = parseFloat(this.get("cmi.scaled_passing_score"));
      return isNaN(v) ? null : Math.round(v * 1000000) / 10000; // 0.7 -> 70, not 70.00000000000001
    },
    start: function () {
      var status = this.get("cmi.completion_status");
      if (status === "" || status === "unknown" || status === "not attempted") {
        this.set("cmi.completion_status", "incomplete");
      }
    },
    report: function (p) {
      this.set("cmi.progress_measure", p.progress.toFixed(4));
      if (p.allAnswered && p.hasQuestions) {
        this.set("cmi.score.min", "0");
        this.set("cmi.score.max", "100");
        this.set("cmi.score.raw", String(p.score));
        this.set("cmi.score.scaled", (p.score / 100).toFixed(4));
        this.set("cmi.success_status", p.passed ? "passed" : "failed");
      } else if (p.hasQuestions) {
        this.set("cmi.success_status", "unknown");
      }
      this.set("cmi.completion_status", p.complete ? "completed" : "incomplete");
      this.set("cmi.exit", p.complete ? "normal" : "suspend");
    },
    interaction: function (n, q, given, correct) {
      var fmt = function (ids) { return ids.join("[,]"); };
      var base = "cmi.interactions." + n + ".";
      this.set(base + "id", q.id);
      this.set(base + "type", q.type === "true_false" ? "true-false" : "choice");
      this.set(base + "correct_responses.0.pattern", fmt(q.correct));
      this.set(base + "learner_response", fmt(given));
      this.set(base + "result", correct ? "correct" : "incorrect");
      this.set(base + "weighting", "1");
    },
    sessionTime: function (ms) {
      var cs = Math.floor(ms / 10);
      var h = Math.floor(cs / 360000);
      var m = Math.floor(cs / 6000) % 60;
      var s = (cs % 6000) / 100;
      this.set("cmi.session_time", "PT" + h + "H" + m + "M" + s.toFixed(2) + "S");
    },
    end: function (p) { this.set("cmi.exit", p.complete ? "normal" : "suspend"); }
  };

  // Standalone: the same interface, kept in localStorage.
  function Standalone() {
    this.kind = "none";
    this.key = "coursewright:" + DATA.course.id + ":v" + DATA.course.version;
    this.values = {};
    try {
      var raw = window.localStorage.getItem(this.key);
      if (raw) this.values = JSON.parse(raw) || {};
    } catch (e) { this.values = {}; }
  }
  Standalone.prototype = {
    init: function () { return true; },
    get: function (k) { return Object.prototype.hasOwnProperty.call(this.values, k) ? String(this.values[k]) : ""; },
    set: function (k, v) { this.values[k] = String(v); return true; },
    commit: function () {
      try { window.localStorage.setItem(this.key, JSON.stringify(this.values)); return true; }
      catch (e) { return false; }
    },
    finish: function () { return this.commit(); },
    location: "location",
    readOnly: function () { return false; },
    masteryScore: function () { return null; },
    start: function () {},
    report: function (p) {
      this.set("completed", p.complete ? "true" : "false");
      if (p.allAnswered && p.hasQuestions) this.set("score", String(p.score));
    },
    interaction: function () {},
    sessionTime: function () {},
    end: function () {}
  };


  // ---------------------------------------------------------------- xAPI: cmi5 and TinCan
  // cmi5 builds (DATA.format "cmi5") are a cmi5 AU; xAPI builds ("xapi") a TinCan
  // package. Both read their launch parameters from the address. cmi5: endpoint, fetch,
  // actor, registration, activityId; the AU POSTs the one-time fetch URL for its
  // auth-token, reads LMS.LaunchData (contextTemplate, launchMode, masteryScore,
  // returnURL, moveOn) and the learner preferences, then says "initialized". TinCan:
  // endpoint, auth, actor (arrays of the old launch format accepted), registration,
  // activity_id (else the package's activity). Setup is asynchronous and finishes
  // before the player starts. What the SCORM adapters keep in cmi.location and
  // cmi.suspend_data goes to one state document ("coursewright.player") of the AU's
  // activity, agent and registration, with what this registration already reported
  // ("completed", "passed"), so a verb the rules allow once per registration is not
  // repeated in a later session. Statements and state writes go out in order, one
  // request at a time (a network failure or 5xx is retried: statement ids make that
  // safe); the last batch, with "terminated", is sent with keepalive so it survives the
  // page closing. cmi5 statements use the LMS's context template (session
  // id, publisher id) plus the registration and the cmi5 category (and "moveon" on
  // completed/passed/failed); answers are "cmi5 allowed" statements (no cmi5 category),
  // between initialized and terminated. In Browse and Review launch modes only
  // initialized and terminated are sent.
  var CMI5_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/cmi5";
  var MOVEON_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/moveon";
  var MASTERY_EXT = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore";
  var VERBS = {
    initialized: "http://adlnet.gov/expapi/verbs/initialized",
    completed: "http://adlnet.gov/expapi/verbs/completed",
    passed: "http://adlnet.gov/expapi/verbs/passed",
    failed: "http://adlnet.gov/expapi/verbs/failed",
    answered: "http://adlnet.gov/expapi/verbs/answered",
    terminated: "http://adlnet.gov/expapi/verbs/terminated"
  };
  var PLAYER_STATE = "coursewright.player";
  var XAPI_VERSION = "1.0.3";

  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = "";
    for (var i = 0; i < 16; i++) h += pad(b[i].toString(16), 2);
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function isoDuration(ms) {
    var cs = Math.max(0, Math.round(ms / 10));
    var h = Math.floor(cs / 360000);
    var m = Math.floor(cs / 6000) % 60;
    var s = (cs % 6000) / 100;
    return "PT" + (h ? h + "H" : "") + (h || m ? m + "M" : "") + s.toFixed(2) + "S";
  }

  function copy(value) { return JSON.parse(JSON.stringify(value)); }

  function tinCanActor(raw) {
    // the TinCan launch format gives name/mbox/account as arrays
    var actor = { objectType: "Agent" };
    var first = function (v) { return Array.isArray(v) ? v[0] : v; };
    if (raw.name !== undefined) actor.name = String(first(raw.name));
    if (raw.mbox !== undefined) actor.mbox = String(first(raw.mbox));
    if (raw.mbox_sha1sum !== undefined) actor.mbox_sha1sum = String(first(raw.mbox_sha1sum));
    if (raw.openid !== undefined) actor.openid = String(first(raw.openid));
    var account = first(raw.account);
    if (account && typeof account === "object") {
      actor.account = {
        homePage: String(account.homePage || account.accountServiceHomePage || ""),
        name: String(account.name || account.accountName || "")
      };
    }
    return actor;
  }

  function Xapi(kind, launch) {
    this.kind = kind;
    this.endpoint = launch.endpoint.replace(/\/?$/, "/");
    this.auth = launch.auth;
    this.actor = launch.actor;
    this.registration = launch.registration || null;
    this.activityId = launch.activityId;
    this.launchData = launch.launchData || {};
    this.values = {};
    this.done = {};       // per registration: completed, passed (from the state document)
    this.session = {};    // per session: verbs sent
    this.queue = [];
    this.flushing = false;
    this.chain = null;
    this.ended = false;
    this.startedAt = Date.now();
    this.dirty = false;
  }
  Xapi.prototype = {
    call: function (method, path, body, extra) {
      var headers = { "Authorization": this.auth, "X-Experience-API-Version": XAPI_VERSION };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      var options = { method: method, mode: "cors", credentials: "omit", cache: "no-store",
                      headers: headers, referrerPolicy: "no-referrer" };
      if (body !== undefined) options.body = JSON.stringify(body);
      if (extra && extra.keepalive) options.keepalive = true;
      return window.fetch(this.endpoint + path, options);
    },
    stateUrl: function (stateId) {
      var q = "activities/state?activityId=" + encodeURIComponent(this.activityId) +
        "&agent=" + encodeURIComponent(JSON.stringify(this.actor)) +
        "&stateId=" + encodeURIComponent(stateId);
      if (this.registration) q += "&registration=" + encodeURIComponent(this.registration);
      return q;
    },
    getState: function (stateId) {
      return this.call("GET", this.stateUrl(stateId)).then(function (response) {
        if (response.status === 404) return null;
        if (!response.ok) throw new Error("state " + stateId + ": HTTP " + response.status);
        return response.json();
      });
    },
    loadPlayerState: function () {
      var self = this;
      return this.getState(PLAYER_STATE).then(function (doc) {
        if (doc && typeof doc === "object") {
          if (typeof doc.location === "string") self.values.location = doc.location;
          if (typeof doc.suspend === "string") self.values.suspend = doc.suspend;
          self.done = doc.done && typeof doc.done === "object" ? doc.done : {};
        }
      });
    },
    // -- the adapter interface the player drives
    init: function () { return true; },
    get: function (k) { return Object.prototype.hasOwnProperty.call(this.values, k) ? String(this.values[k]) : ""; },
    set: function (k, v) {
      if (this.values[k] !== String(v)) this.dirty = true;
      this.values[k] = String(v);
      return true;
    },
    commit: function (keepalive) {
      if (!this.dirty) return true;
      this.dirty = false;
      var doc = { v: 1, location: this.values.location || "", suspend: this.values.suspend || "",
                  done: this.done };
      var self = this;
      var put = function () { return self.call("PUT", self.stateUrl(PLAYER_STATE), doc, { keepalive: !!keepalive }); };
      try {
        if (keepalive) put().catch(function () { /* best effort */ });
        else this.enqueue(put);
      } catch (e) { return false; }
      return true;
    },
    finish: function () {
      if (this.ended) return true;
      this.ended = true;
      var sent = this.send(this.statement("terminated", { duration: isoDuration(Date.now() - this.startedAt) }), true);
      var back = this.launchData.returnURL;
      if (typeof back === "string" && back) {
        // section 10: back to the LMS once terminated is out (or after 3 s at most)
        var gone = false;
        var leave = function () { if (!gone) { gone = true; window.location.assign(back); } };
        window.setTimeout(leave, 3000);
        sent.then(leave, leave);
      }
      return true;
    },
    location: "location",
    readOnly: function () {
      var mode = this.launchData.launchMode;
      return this.kind === "cmi5" && (mode === "Browse" || mode === "Review");
    },
    masteryScore: function () {
      var v = parseFloat(this.launchData.masteryScore);
      return isNaN(v) ? null : Math.round(v * 1000000) / 10000;
    },
    start: function () {},
    report: function (p) {
      if (this.readOnly() || this.ended) return;
      var duration = isoDuration(Date.now() - this.startedAt);
      if (p.complete && !this.done.completed && !this.session.completed) {
        this.session.completed = true;
        this.done.completed = true;
        this.dirty = true;
        this.send(this.statement("completed", { completion: true, duration: duration }));
      }
      if (p.allAnswered && p.hasQuestions && !this.session.judged && !this.done.passed) {
        var scaled = Math.round(p.score * 100) / 10000;
        var mastery = parseFloat(this.launchData.masteryScore);
        var passed = isNaN(mastery) ? p.passed : scaled >= mastery;
        this.session.judged = true;
        if (passed) { this.done.passed = true; this.dirty = true; }
        var result = { success: passed, score: { scaled: scaled }, duration: duration };
        var s = this.statement(passed ? "passed" : "failed", result);
        if (!isNaN(mastery) && this.kind === "cmi5") {
          s.context.extensions = s.context.extensions || {};
          s.context.extensions[MASTERY_EXT] = mastery;
        }
        this.send(s);
      }
    },
    interaction: function (n, q, given, correct) {
      if (this.readOnly() || this.ended) return;
      var tf = q.type === "true_false";
      var definition = {
        type: "http://adlnet.gov/expapi/activities/cmi.interaction",
        interactionType: tf ? "true-false" : "choice",
        correctResponsesPattern: [q.correct.join("[,]")]
      };
      if (!tf) definition.choices = q.choices.map(function (id) { return { id: id }; });
      var s = this.statement("answered", { success: !!correct, response: given.join("[,]") }, true);
      s.object = { objectType: "Activity", definition: definition,
                   id: this.activityId.replace(/\/$/, "") + "/questions/" + encodeURIComponent(q.id) };
      s.context.contextActivities = s.context.contextActivities || {};
      s.context.contextActivities.parent = [{ objectType: "Activity", id: this.activityId }];
      this.send(s);
    },
    sessionTime: function () {},
    end: function () {},
    // -- statements
    statement: function (verb, result, allowed) {
      var context = this.kind === "cmi5" ? copy(this.launchData.contextTemplate || {}) : {};
      if (this.registration) context.registration = this.registration;
      if (this.kind === "cmi5" && !allowed) {
        var activities = context.contextActivities = context.contextActivities || {};
        var category = activities.category = (activities.category || []).slice();
        category.push({ objectType: "Activity", id: CMI5_CATEGORY });
        if (result && (result.success !== undefined || result.completion !== undefined)) {
          category.push({ objectType: "Activity", id: MOVEON_CATEGORY });
        }
      }
      var s = {
        id: uuid4(),
        timestamp: new Date().toISOString(),
        actor: this.actor,
        verb: { id: VERBS[verb], display: { "en-US": verb } },
        object: { objectType: "Activity", id: this.activityId },
        context: context
      };
      if (result) s.result = result;
      return s;
    },
    send: function (statement, last) {
      this.queue.push(statement);
      if (last) {
        // leaving: what is left goes now, in one request that may outlive the page
        var batch = this.queue.splice(0);
        this.commit(true);
        try {
          return this.call("POST", "statements", batch, { keepalive: true })
            .catch(function () { /* gone */ });
        } catch (e) { return Promise.resolve(); }
      }
      this.flush();
      return Promise.resolve();
    },
    // One request at a time, in order (statements and the state document alike); a
    // network failure or a 5xx is tried again (statement ids make that idempotent).
    enqueue: function (request) {
      var attempt = function (left) {
        return request().then(function (response) {
          if (response.status >= 500 && left > 0) throw new Error("HTTP " + response.status);
          if (!response.ok) window.cwXapiErrors = (window.cwXapiErrors || 0) + 1;
          return response;
        }).catch(function (error) {
          if (left <= 0) return null; // lost: the course goes on
          return new Promise(function (resolve) { window.setTimeout(resolve, 400); })
            .then(function () { return attempt(left - 1); });
        });
      };
      this.chain = (this.chain || Promise.resolve()).then(function () { return attempt(3); });
      return this.chain;
    },
    flush: function () {
      if (this.flushing || !this.queue.length) return;
      var self = this;
      var batch = null;
      this.flushing = true;
      this.enqueue(function () {
        if (batch === null) { batch = self.queue.splice(0); self.flushing = false; }
        if (!batch.length) return Promise.resolve({ status: 204, ok: true }); // sent on leaving
        return self.call("POST", "statements", batch);
      }).then(function () { self.flush(); });
    },
    // resolves once "initialized" is stored (it must be the session's first statement)
    initialize: function () {
      var self = this;
      return this.call("POST", "statements", [this.statement("initialized")]).then(function (response) {
        if (!response.ok) throw new Error("initialized: HTTP " + response.status);
        self.startedAt = Date.now();
      });
    }
  };

  function launchParams() {
    var params = new URLSearchParams(window.location.search);
    var get = function (name) { var v = params.get(name); return v === null ? "" : v; };
    return { get: get };
  }

  function openCmi5() {
    var p = launchParams();
    var endpoint = p.get("endpoint");
    var fetchUrl = p.get("fetch");
    var actor;
    try { actor = JSON.parse(p.get("actor")); } catch (e) { actor = null; }
    if (!endpoint || !fetchUrl || !actor || !p.get("registration") || !p.get("activityId")) {
      return Promise.reject(new Error("not launched by a cmi5 LMS"));
    }
    var adapter = null;
    return window.fetch(fetchUrl, { method: "POST", mode: "cors", credentials: "omit",
                                    cache: "no-store", referrerPolicy: "no-referrer" })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (!body || typeof body["auth-token"] !== "string") {
          throw new Error("fetch refused: " + (body && body["error-code"]));
        }
        adapter = new Xapi("cmi5", {
          endpoint: endpoint, auth: "Basic " + body["auth-token"], actor: actor,
          registration: p.get("registration"), activityId: p.get("activityId")
        });
        return adapter.getState("LMS.LaunchData");
      })
      .then(function (launchData) {
        if (!launchData || typeof launchData !== "object") throw new Error("no LMS.LaunchData");
        adapter.launchData = launchData;
        var prefs = "agents/profile?profileId=cmi5LearnerPreferences&agent=" +
          encodeURIComponent(JSON.stringify(actor));
        return Promise.all([
          adapter.call("GET", prefs).catch(function () { return null; }),
          adapter.loadPlayerState()
        ]);
      })
      .then(function () { return adapter.initialize(); })
      .then(function () { return adapter; });
  }

  function openTinCan() {
    var p = launchParams();
    var endpoint = p.get("endpoint");
    var raw;
    try { raw = JSON.parse(p.get("actor")); } catch (e) { raw = null; }
    if (!endpoint || !raw || typeof raw !== "object") {
      return Promise.reject(new Error("not launched with TinCan parameters"));
    }
    var registration = p.get("registration");
    var adapter = new Xapi("xapi", {
      endpoint: endpoint, auth: p.get("auth"), actor: tinCanActor(raw),
      registration: /^[0-9a-fA-F-]{36}$/.test(registration) ? registration : null,
      activityId: p.get("activity_id") || (DATA.xapi && DATA.xapi.activityId)
    });
    return adapter.loadPlayerState().catch(function () { /* no state yet */ })
      .then(function () { return adapter.initialize(); })
      .then(function () { return adapter; });
  }

  // ---------------------------------------------------------------- state
  var state = {
    current: 0,
    visited: SCREENS.map(function () { return false; }),
    answers: {} // question id -> [choice ids], once checked
  };

  function encodeSuspend() {
    return JSON.stringify({
      v: 1,
      k: STATE_KEY,
      s: state.visited.map(function (v) { return v ? "1" : "0"; }).join(""),
      a: QUESTION_IDS.map(function (id) {
        var given = state.answers[id];
        if (!given) return null;
        var choices = DATA.questions[id].choices;
        return given.map(function (c) { return choices.indexOf(c); });
      })
    });
  }

  function decodeSuspend(text) {
    if (!text) return false;
    var d;
    try { d = JSON.parse(text); } catch (e) { return false; }
    if (!d || d.v !== 1 || d.k !== STATE_KEY) return false;
    String(d.s || "").split("").forEach(function (flag, i) {
      if (i < SCREENS.length) state.visited[i] = flag === "1";
    });
    (d.a || []).forEach(function (indexes, i) {
      var id = QUESTION_IDS[i];
      if (!id || !Array.isArray(indexes) || !indexes.length) return;
      var choices = DATA.questions[id].choices;
      var given = indexes.map(function (n) { return choices[n]; }).filter(Boolean);
      if (given.length) state.answers[id] = given;
    });
    return true;
  }

  function sameSet(a, b) {
    if (a.length !== b.length) return false;
    return a.every(function (x) { return b.indexOf(x) !== -1; });
  }

  function isCorrect(id) {
    var given = state.answers[id];
    return !!given && sameSet(given, DATA.questions[id].correct);
  }

  function progress() {
    var answered = QUESTION_IDS.filter(function (id) { return !!state.answers[id]; }).length;
    var visited = state.visited.filter(Boolean).length;
    var total = QUESTION_IDS.length;
    var right = QUESTION_IDS.filter(isCorrect).length;
    var score = total ? Math.round((right / total) * 10000) / 100 : 0;
    var passing = DATA.passingScore;
    if (lms && lms.masteryScore() !== null) passing = lms.masteryScore();
    var allAnswered = answered === total;
    return {
      hasQuestions: total > 0,
      answered: answered,
      visited: visited,
      allAnswered: allAnswered,
      complete: allAnswered && visited === SCREENS.length,
      score: score,
      passing: passing,
      passed: total === 0 || score >= passing,
      progress: (visited + answered) / (SCREENS.length + total)
    };
  }

  // ---------------------------------------------------------------- LMS session
  var lms = null;
  var readOnly = false;
  var finished = false;
  var startedAt = Date.now();
  var interactionCount = 0;

  function connect() {
    var api = null;
    if (DATA.format === "scorm12") api = findApi("API");
    if (DATA.format === "scorm2004") api = findApi("API_1484_11");
    if (api) {
      var adapter = DATA.format === "scorm12" ? new Scorm12(api) : new Scorm2004(api);
      try {
        // Initialize fails if this LMS session was already initialised (the SCO was
        // reloaded inside the same LMS frame): then go on if the API still answers.
        var ok = adapter.init();
        if (!ok) {
          adapter.get(adapter.probe);
          ok = adapter.lastError() === "0";
        }
        if (ok) {
          lms = adapter;
          readOnly = adapter.readOnly();
          interactionCount = parseInt(adapter.get("cmi.interactions._count"), 10) || 0;
          return;
        }
      } catch (e) { /* fall back to standalone */ }
    }
    lms = new Standalone();
  }

  function isScorm() { return lms.kind === "scorm12" || lms.kind === "scorm2004"; }

  function restore() {
    if (isScorm()) {
      // A fresh attempt carries no state; reading it would only raise "not initialized".
      var entry = lms.get(lms.kind === "scorm12" ? "cmi.core.entry" : "cmi.entry");
      if (entry === "ab-initio") return { restored: false, index: -1 };
    }
    var restored = decodeSuspend(lms.get(isScorm() ? "cmi.suspend_data" : "suspend"));
    var location = lms.get(lms.location);
    var index = -1;
    if (location === RESULTS_ID) index = RESULTS;
    SCREENS.forEach(function (s, i) { if (s.id === location) index = i; });
    return { restored: restored || index > 0, index: index };
  }

  function save() {
    if (!lms) return;
    try {
      var p = progress();
      lms.set(lms.location, state.current === RESULTS ? RESULTS_ID : SCREENS[state.current].id);
      if (readOnly) { lms.commit(); return; }
      lms.set(isScorm() ? "cmi.suspend_data" : "suspend", encodeSuspend());
      lms.report(p);
      lms.commit();
    } catch (e) { /* an LMS error must never break the course */ }
  }

  function finish() {
    if (finished || !lms) return;
    finished = true;
    try {
      save();
      if (!readOnly) {
        lms.sessionTime(Date.now() - startedAt);
        lms.end(progress());
      }
      lms.commit();
      lms.finish();
    } catch (e) { /* unloading: nothing left to do */ }
  }

  // ---------------------------------------------------------------- view
  var sections = [];
  SCREENS.forEach(function (s) { sections.push(byId("s." + s.id)); });
  sections.push(byId("cw-results"));
  var prevBtn = byId("cw-prev");
  var nextBtn = byId("cw-next");
  var position = byId("cw-position");
  var progressBar = byId("cw-progress");
  var toc = byId("cw-toc");
  var menuBtn = byId("cw-menu-toggle");
  var notice = byId("cw-notice");

  function heading(index) { return sections[index].querySelector("h1"); }

  function scopeToModule() {
    if (!MODULE) return;
    Array.prototype.forEach.call(document.querySelectorAll("section.cw-screen"), function (el) {
      if (sections.indexOf(el) === -1) el.hidden = true;
    });
    Array.prototype.forEach.call(toc.querySelectorAll(".cw-toc-link"), function (a) {
      var href = a.getAttribute("href");
      if (href === "#s." + MODULE.id) a.setAttribute("data-index", "0");
      else if (href === "#cw-results") a.setAttribute("data-index", String(RESULTS));
      else a.parentNode.hidden = true;
    });
    progressBar.max = SCREENS.length;
  }

  function render() {
    sections.forEach(function (el, i) { el.hidden = i !== state.current; });
    prevBtn.disabled = state.current === 0;
    nextBtn.hidden = state.current === RESULTS;
    nextBtn.textContent = state.current === RESULTS - 1 ? t("finish") : t("next");
    position.textContent = state.current === RESULTS
      ? t("results")
      : t("screen_x_of_y", { current: state.current + 1, total: SCREENS.length });
    progressBar.value = state.visited.filter(Boolean).length;
    var links = toc.querySelectorAll(".cw-toc-link");
    Array.prototype.forEach.call(links, function (a) {
      var i = parseInt(a.getAttribute("data-index"), 10);
      if (i === state.current) a.setAttribute("aria-current", "step");
      else a.removeAttribute("aria-current");
      var mark = a.querySelector(".cw-toc-visited");
      if (mark) mark.hidden = !state.visited[i];
    });
    if (state.current === RESULTS) renderResults();
  }

  function go(index, moveFocus) {
    if (index < 0 || index > RESULTS) return;
    state.current = index;
    if (index < RESULTS) state.visited[index] = true;
    render();
    save();
    if (moveFocus) {
      notice.textContent = "";
      notice.hidden = true;
      window.scrollTo(0, 0);
      heading(index).focus();
    }
  }

  function renderResults() {
    var p = progress();
    var body = byId("cw-results-body");
    var again = byId("cw-try-again");
    while (body.firstChild) body.removeChild(body.firstChild);
    var add = function (tag, text, cls) {
      var el = document.createElement(tag);
      el.textContent = text;
      if (cls) el.className = cls;
      body.appendChild(el);
      return el;
    };
    if (p.complete) {
      add("p", t("course_complete"), "cw-result-status");
      if (p.hasQuestions) {
        add("p", t("your_score", { score: number(p.score) }), "cw-result-score");
        add("p", t(p.passed ? "passed" : "failed", { passing: number(p.passing) }),
            p.passed ? "cw-result-passed" : "cw-result-failed");
      }
      again.hidden = p.passed;
    } else {
      add("p", t("course_incomplete"), "cw-result-status");
      var list = document.createElement("ul");
      list.className = "cw-result-missing";
      var missingScreens = SCREENS.length - p.visited;
      var missingQuestions = QUESTION_IDS.length - p.answered;
      if (missingScreens) {
        var li1 = document.createElement("li");
        li1.textContent = t("missing_screens", { count: missingScreens });
        list.appendChild(li1);
      }
      if (missingQuestions) {
        var li2 = document.createElement("li");
        li2.textContent = t("missing_questions", { count: missingQuestions });
        list.appendChild(li2);
      }
      body.appendChild(list);
      again.hidden = true;
    }
  }

  // ---------------------------------------------------------------- questions
  function questionForm(id) { return byId("b." + id); }

  function showAnswer(id) {
    var form = questionForm(id);
    var q = DATA.questions[id];
    var given = state.answers[id] || [];
    var ok = isCorrect(id);
    Array.prototype.forEach.call(form.querySelectorAll(".cw-choice"), function (row) {
      var cid = row.getAttribute("data-choice-id");
      var input = row.querySelector("input");
      var tags = row.querySelector(".cw-choice-tags");
      var chosen = given.indexOf(cid) !== -1;
      var right = q.correct.indexOf(cid) !== -1;
      input.checked = chosen;
      input.disabled = true;
      row.classList.toggle("is-chosen", chosen);
      row.classList.toggle("is-correct", right);
      row.classList.toggle("is-wrong", chosen && !right);
      while (tags.firstChild) tags.removeChild(tags.firstChild);
      if (chosen) {
        var mine = document.createElement("span");
        mine.className = "cw-tag cw-tag-mine";
        mine.textContent = t("your_answer");
        tags.appendChild(mine);
      }
      if (right) {
        var tag = document.createElement("span");
        tag.className = "cw-tag cw-tag-correct";
        tag.textContent = t("correct_answer");
        tags.appendChild(tag);
      }
      var fb = row.querySelector(".cw-choice-fb");
      if (fb) fb.hidden = !chosen;
    });
    form.querySelector(".cw-check").hidden = true;
    form.classList.add("is-answered");
    var box = byId("b." + id + ".fb");
    while (box.firstChild) box.removeChild(box.firstChild);
    box.className = "cw-feedback " + (ok ? "is-correct" : "is-incorrect");
    var head = document.createElement("p");
    head.className = "cw-feedback-head";
    head.textContent = ok ? t("correct") : t("incorrect");
    box.appendChild(head);
    var template = form.querySelector('.cw-fb-templates [data-fb="' + (ok ? "correct" : "incorrect") + '"]');
    if (template) {
      Array.prototype.forEach.call(template.childNodes, function (node) {
        box.appendChild(node.cloneNode(true));
      });
    }
  }

  function resetQuestion(id) {
    var form = questionForm(id);
    Array.prototype.forEach.call(form.querySelectorAll(".cw-choice"), function (row) {
      var input = row.querySelector("input");
      input.checked = false;
      input.disabled = false;
      row.classList.remove("is-chosen", "is-correct", "is-wrong");
      var tags = row.querySelector(".cw-choice-tags");
      while (tags.firstChild) tags.removeChild(tags.firstChild);
      var fb = row.querySelector(".cw-choice-fb");
      if (fb) fb.hidden = true;
    });
    form.querySelector(".cw-check").hidden = false;
    form.classList.remove("is-answered");
    var box = byId("b." + id + ".fb");
    while (box.firstChild) box.removeChild(box.firstChild);
    box.className = "cw-feedback";
  }

  function onSubmit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    var id = form.getAttribute("data-block-id");
    if (state.answers[id]) return;
    var given = [];
    Array.prototype.forEach.call(form.querySelectorAll("input"), function (input) {
      if (input.checked) given.push(input.value);
    });
    var box = byId("b." + id + ".fb");
    if (!given.length) {
      box.className = "cw-feedback is-hint";
      box.textContent = t("answer_first");
      return;
    }
    state.answers[id] = given;
    showAnswer(id);
    box.focus();
    if (lms && !readOnly) {
      try {
        var q = DATA.questions[id];
        lms.interaction(interactionCount, { id: id, type: q.type, choices: q.choices, correct: q.correct },
                        given, isCorrect(id));
        interactionCount += 1;
      } catch (e) { /* optional data */ }
    }
    save();
  }

  function tryAgain() {
    QUESTION_IDS.forEach(function (id) {
      delete state.answers[id];
      resetQuestion(id);
    });
    var first = 0;
    for (var i = 0; i < SCREENS.length; i++) {
      if (SCREENS[i].questions.length) { first = i; break; }
    }
    go(first, true);
  }

  // ---------------------------------------------------------------- wiring
  function setMenu(open) {
    toc.hidden = !open;
    menuBtn.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function isFormControl(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable;
  }

  function wire() {
    prevBtn.addEventListener("click", function () { go(state.current - 1, true); });
    nextBtn.addEventListener("click", function () { go(state.current + 1, true); });
    menuBtn.addEventListener("click", function () { setMenu(toc.hidden); });
    Array.prototype.forEach.call(toc.querySelectorAll(".cw-toc-link"), function (a) {
      a.addEventListener("click", function (event) {
        event.preventDefault();
        setMenu(false);
        go(parseInt(a.getAttribute("data-index"), 10), true);
      });
    });
    byId("cw-try-again").addEventListener("click", tryAgain);
    Array.prototype.forEach.call(document.querySelectorAll("form.cw-question"), function (form) {
      form.addEventListener("submit", onSubmit);
    });
    var skip = document.querySelector(".cw-skip");
    skip.addEventListener("click", function (event) {
      event.preventDefault();
      heading(state.current).focus();
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !toc.hidden) {
        setMenu(false);
        menuBtn.focus();
        return;
      }
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      if (isFormControl(event.target)) return;
      if (event.key === "ArrowRight" && state.current < RESULTS) {
        event.preventDefault();
        go(state.current + 1, true);
      } else if (event.key === "ArrowLeft" && state.current > 0) {
        event.preventDefault();
        go(state.current - 1, true);
      }
    });
    window.addEventListener("pagehide", finish);
    window.addEventListener("beforeunload", finish);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden" && lms && !finished) {
        try { lms.commit(); } catch (e) { /* ignore */ }
      }
    });
  }

  // ---------------------------------------------------------------- AI tutor and grading
  // Only when the build switched them on (DATA.assist). The player talks to the platform's
  // player API with the version's token in the Authorization header: no cookies
  // (credentials "omit"), no LMS data. The learner is an anonymous session id made up
  // here from random bytes and kept in sessionStorage for this tab: never an LMS id.
  var ASSIST = DATA.assist || null;
  var FREE_TEXT = DATA.freeText || {};

  function randomId() {
    var bytes = new Uint8Array(16);
    var hex = "";
    try {
      window.crypto.getRandomValues(bytes);
    } catch (e) {
      for (var j = 0; j < bytes.length; j++) bytes[j] = Math.floor(Math.random() * 256);
    }
    for (var i = 0; i < bytes.length; i++) hex += pad(bytes[i].toString(16), 2);
    return hex;
  }

  var assistKey = "coursewright:assist:" + DATA.course.id + ":v" + DATA.course.version;
  var assistMemory = {};

  function assistState(name, value) {
    var key = assistKey + ":" + name;
    try {
      if (value !== undefined) window.sessionStorage.setItem(key, value);
      var stored = window.sessionStorage.getItem(key);
      if (stored !== null) return stored;
    } catch (e) { /* storage refused: keep it in memory */ }
    if (value !== undefined) assistMemory[name] = value;
    return Object.prototype.hasOwnProperty.call(assistMemory, name) ? assistMemory[name] : null;
  }

  function sessionId() {
    return assistState("session") || assistState("session", randomId());
  }

  function callAssist(path, body, done) {
    var request = {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      headers: { "Authorization": "Bearer " + ASSIST.token, "Content-Type": "application/json" },
      body: JSON.stringify(body)
    };
    var status = 0;
    var retry = 0;
    window.fetch(ASSIST.endpoint + path, request).then(function (response) {
      status = response.status;
      retry = parseInt(response.headers.get("Retry-After"), 10) || 0;
      return response.json().catch(function () { return {}; });
    }).then(function (data) {
      done(status, data || {}, retry);
    }, function () {
      done(0, {}, 0);
    });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function screenIndex(screenId) {
    for (var i = 0; i < SCREENS.length; i++) if (SCREENS[i].id === screenId) return i;
    return -1;
  }

  // -- tutor
  function wireTutor() {
    var toggle = byId("cw-tutor-toggle");
    var panel = byId("cw-tutor");
    if (!toggle || !panel || !ASSIST || !ASSIST.tutor) return;
    var ack = byId("cw-tutor-ack");
    var form = byId("cw-tutor-form");
    var input = byId("cw-tutor-input");
    var send = byId("cw-tutor-send");
    var log = byId("cw-tutor-log");
    var hint = byId("cw-tutor-hint");
    var busy = false;

    function acknowledged() { return assistState("disclosure") === "seen"; }

    function setReady() {
      var ready = acknowledged();
      input.disabled = !ready || busy;
      send.disabled = !ready || busy;
      ack.hidden = ready;
      hint.hidden = ready;
      panel.setAttribute("data-acknowledged", ready ? "true" : "false");
    }

    function open(show) {
      panel.hidden = !show;
      toggle.setAttribute("aria-expanded", show ? "true" : "false");
      if (show) (acknowledged() ? input : ack).focus();
    }

    function message(who, cls) {
      var item = el("div", "cw-tutor-msg " + cls);
      item.appendChild(el("p", "cw-tutor-who", who));
      log.appendChild(item);
      return item;
    }

    function references(item, refs) {
      var seen = {};
      var list = el("ul", "cw-tutor-refs");
      refs.forEach(function (ref) {
        var key = ref.screen_id || ref.section;
        if (!key || seen[key]) return;
        seen[key] = true;
        var li = el("li");
        var index = screenIndex(ref.screen_id);
        if (index >= 0) {
          var link = el("button", "cw-link-btn", t("tutor_go_to", { title: ref.screen_title }));
          link.type = "button";
          link.addEventListener("click", function () { go(index, true); });
          li.appendChild(link);
        } else {
          li.textContent = t("tutor_source_passage", { section: ref.section });
        }
        list.appendChild(li);
      });
      if (list.firstChild) {
        item.appendChild(el("p", "cw-tutor-refs-head", t("tutor_sources")));
        item.appendChild(list);
      }
    }

    function answer(status, data, retry, pending) {
      busy = false;
      pending.className = "cw-tutor-msg is-assistant";
      var body = pending.querySelector(".cw-tutor-text");
      if (status === 200) {
        if (data.mode === "extractive") {
          pending.appendChild(el("p", "cw-tutor-label", t("tutor_extractive")));
          (data.references || []).forEach(function (ref) {
            pending.appendChild(el("blockquote", "cw-tutor-quote", ref.excerpt));
          });
          body.textContent = data.found ? "" : t("tutor_not_found");
        } else {
          // the [P3] markers cite passages; the links below stand for them here
          var text = String(data.answer || "").replace(/\s*\[P\d+\]/g, "");
          body.textContent = text || t("tutor_not_found");
        }
        if (!body.textContent) pending.removeChild(body);
        references(pending, data.references || []);
      } else if (status === 429) {
        body.textContent = t("rate_limited", { seconds: retry || 60 });
        pending.classList.add("is-error");
      } else {
        body.textContent = t("tutor_unavailable");
        pending.classList.add("is-error");
      }
      setReady();
      input.focus();
    }

    toggle.hidden = false;
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (form.requestSubmit) form.requestSubmit(); else send.click();
      }
    });
    toggle.addEventListener("click", function () { open(panel.hidden); });
    byId("cw-tutor-close").addEventListener("click", function () {
      open(false);
      toggle.focus();
    });
    ack.addEventListener("click", function () {
      assistState("disclosure", "seen");
      setReady();
      input.focus();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var question = input.value.trim();
      if (!question || busy || !acknowledged()) return;
      busy = true;
      setReady();
      message(t("tutor_you"), "is-learner").appendChild(el("p", "cw-tutor-text", question));
      var pending = message(t("tutor_assistant"), "is-assistant is-pending");
      pending.appendChild(el("p", "cw-tutor-text", t("tutor_thinking")));
      input.value = "";
      callAssist("/tutor/ask", { session_id: sessionId(), question: question },
                 function (status, data, retry) { answer(status, data, retry, pending); });
    });
    setReady();
  }

  // -- free-text questions
  function wireFreeText(form) {
    var id = form.getAttribute("data-block-id");
    var spec = FREE_TEXT[id] || { maxLength: 1000, maxScore: 0 };
    var area = form.querySelector("textarea");
    var count = byId("b." + id + ".count");
    var box = byId("b." + id + ".fb");
    var button = form.querySelector(".cw-check");
    var grading = !!(ASSIST && ASSIST.grading);
    var notice = byId("b." + id + ".ai");
    if (notice) {
      if (grading) notice.hidden = false;
      else notice.parentNode.removeChild(notice);
    }
    button.textContent = grading ? t("free_text_submit") : t("free_text_check");

    function counter() {
      count.textContent = t("free_text_count", { count: area.value.length, max: spec.maxLength });
    }

    function template(name) {
      return form.querySelector('.cw-fb-templates [data-fb="' + name + '"]');
    }

    function copyInto(node, name) {
      var source = template(name);
      if (!source || !source.childNodes.length) return;
      Array.prototype.forEach.call(source.childNodes, function (child) {
        node.appendChild(child.cloneNode(true));
      });
    }

    function selfCheck(head) {
      clear(box);
      box.className = "cw-feedback is-info";
      box.appendChild(el("p", "cw-feedback-head", head));
      var model = template("model");
      if (model && model.childNodes.length) {
        box.appendChild(el("p", "cw-ft-subhead", t("free_text_model_answer")));
        copyInto(box, "model");
      }
      box.appendChild(el("p", "cw-ft-subhead", t("free_text_criteria")));
      var list = el("ul", "cw-ft-criteria");
      Array.prototype.forEach.call(form.querySelectorAll('[data-fb="rubric"] li'), function (li) {
        list.appendChild(el("li", "", li.textContent + " (" +
          t("free_text_points", { points: li.getAttribute("data-points") }) + ")"));
      });
      box.appendChild(list);
    }

    function graded(data) {
      clear(box);
      var all = data.criteria.every(function (c) { return c.met; });
      var none = !data.criteria.some(function (c) { return c.met; });
      box.className = "cw-feedback " + (all ? "is-correct" : none ? "is-incorrect" : "is-info");
      box.appendChild(el("p", "cw-feedback-head",
        t("free_text_score", { score: data.score, max: data.max_score })));
      var texts = {};
      Array.prototype.forEach.call(form.querySelectorAll('[data-fb="rubric"] li'), function (li) {
        texts[li.getAttribute("data-criterion")] = li.textContent;
      });
      var list = el("ul", "cw-ft-criteria");
      data.criteria.forEach(function (c) {
        var li = el("li", c.met ? "is-met" : "is-not-met");
        li.appendChild(el("span", "cw-tag " + (c.met ? "cw-tag-correct" : "cw-tag-mine"),
          c.met ? t("free_text_met") : t("free_text_not_met")));
        li.appendChild(document.createTextNode(" " + (texts[c.id] || c.id)));
        if (c.justification) li.appendChild(el("span", "cw-ft-why", c.justification));
        list.appendChild(li);
      });
      box.appendChild(list);
      copyInto(box, all ? "correct" : "incorrect");
      box.appendChild(el("p", "cw-ft-note", t("free_text_graded_note")));
    }

    area.addEventListener("input", counter);
    counter();
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = area.value.trim();
      if (!text) {
        clear(box);
        box.className = "cw-feedback is-hint";
        box.textContent = t("free_text_empty");
        return;
      }
      if (!grading) {
        area.readOnly = true;
        button.hidden = true;
        selfCheck(t("free_text_not_graded"));
        box.focus();
        return;
      }
      button.disabled = true;
      area.readOnly = true;
      clear(box);
      box.className = "cw-feedback is-info";
      box.textContent = t("free_text_grading");
      callAssist("/grading/submit", { session_id: sessionId(), block_id: id, answer: text },
        function (status, data, retry) {
          button.disabled = false;
          if (status === 200 && data.criteria) {
            button.hidden = true;
            graded(data);
          } else if (status === 403) {
            button.hidden = true;
            selfCheck(t("free_text_not_graded"));
          } else {
            area.readOnly = false;
            clear(box);
            box.className = "cw-feedback is-hint";
            box.textContent = status === 429 ? t("rate_limited", { seconds: retry || 60 })
              : t("free_text_error");
          }
          box.focus();
        });
    });
  }

  function wireAssist() {
    wireTutor();
    Array.prototype.forEach.call(document.querySelectorAll("form.cw-free-text"), wireFreeText);
  }

  // An xAPI build (cmi5 or TinCan) connects asynchronously; anything else at once.
  function start() {
    document.documentElement.classList.add("cw-js");
    if (DATA.format === "cmi5" || DATA.format === "xapi") {
      var open = DATA.format === "cmi5" ? openCmi5 : openTinCan;
      var opening;
      try { opening = open(); } catch (e) { opening = Promise.reject(e); }
      opening.then(function (adapter) {
        lms = adapter;
        readOnly = adapter.readOnly();
        begin();
      }, function () {
        lms = new Standalone();
        begin();
      });
      return;
    }
    connect();
    begin();
  }

  function exitButton() {
    var back = lms && lms.launchData && lms.launchData.returnURL;
    if (typeof back !== "string" || !back) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "cw-btn cw-btn-secondary cw-exit";
    button.id = "cw-exit";
    // until i18n/*.json carry "exit_course", the four course languages are here
    var EXIT = { en: "Exit course", de: "Kurs verlassen", fr: "Quitter le cours", es: "Salir del curso" };
    button.textContent = STR.exit_course || EXIT[DATA.course.language] || EXIT.en;
    button.addEventListener("click", finish);
    var bar = document.querySelector(".cw-bar");
    if (bar) bar.appendChild(button);
  }

  function begin() {
    scopeToModule();
    var resume = restore();
    if (!readOnly) { try { lms.start(); } catch (e) { /* ignore */ } }
    Object.keys(state.answers).forEach(showAnswer);
    wire();
    wireAssist();
    exitButton();
    var index = resume.index >= 0 ? resume.index : 0;
    if (resume.restored) {
      notice.textContent = t("resumed");
    } else if (lms.kind === "none") {
      notice.textContent = t("saved_in_browser");
    }
    notice.hidden = !notice.textContent;
    go(index, false);
    document.documentElement.setAttribute("data-player-ready", lms.kind);
  }

  start();
})();

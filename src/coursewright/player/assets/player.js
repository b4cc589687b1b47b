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
  var QUESTION_IDS = [];
  SCREENS.forEach(function (s) { QUESTION_IDS.push.apply(QUESTION_IDS, s.questions); });
  var RESULTS = SCREENS.length; // index of the results screen
  var RESULTS_ID = "~results";
  var STATE_KEY = String(DATA.course.version) + ":" + SCREENS.length + ":" + QUESTION_IDS.length;

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

  function restore() {
    if (lms.kind !== "none") {
      // A fresh attempt carries no state; reading it would only raise "not initialized".
      var entry = lms.get(lms.kind === "scorm12" ? "cmi.core.entry" : "cmi.entry");
      if (entry === "ab-initio") return { restored: false, index: -1 };
    }
    var restored = decodeSuspend(lms.get(lms.kind === "none" ? "suspend" : "cmi.suspend_data"));
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
      lms.set(lms.kind === "none" ? "suspend" : "cmi.suspend_data", encodeSuspend());
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

  function start() {
    document.documentElement.classList.add("cw-js");
    connect();
    var resume = restore();
    if (!readOnly) { try { lms.start(); } catch (e) { /* ignore */ } }
    Object.keys(state.answers).forEach(showAnswer);
    wire();
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

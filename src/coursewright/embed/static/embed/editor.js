/*
 * coursewright embedded editor: the courses an embed token reaches, a new course from a
 * brief, a draft's screens (title and text), and the review steps the token's scope
 * allows — an author submits and publishes, a reviewer approves and publishes. The
 * server decides every permission; the buttons only follow what it will accept.
 *
 * Events to the parent (via window.cwEmbed.emit, to the registered origin only):
 * course.created {course: uid, course_id, version_id} and course.published
 * {course: uid, course_id, version_id, version}. Text from the server is set with
 * textContent, never as HTML.
 */
(function () {
  "use strict";

  var E = window.cwEmbed;
  if (!E) return;

  var STATES = { draft: "Draft", in_review: "In review", approved: "Approved",
                 published: "Published" };
  var current = null; // {course, version}

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(section) {
    $("cw-list").hidden = section !== "list";
    $("cw-course").hidden = section !== "course";
  }

  function note(text) {
    var n = $("cw-note");
    n.textContent = text || "";
    n.hidden = !text;
  }

  function busy(button, on) {
    if (button) button.disabled = on;
  }

  function latest(course) {
    return course.versions && course.versions.length ? course.versions[0] : null;
  }

  // ---------------------------------------------------------------- the list
  function loadList() {
    E.status("Loading courses…");
    return E.api("GET", "courses?limit=100").then(function (answer) {
      E.status("");
      if (answer.status !== 200) { E.error(E.message(answer)); return; }
      var list = $("cw-courses");
      list.textContent = "";
      answer.body.items.forEach(function (course) {
        var item = el("li", { "class": "card cw-course-item" });
        var open = el("button", { type: "button", "class": "linklike cw-open",
                                  "data-course": String(course.id) }, course.title);
        open.addEventListener("click", function () { openCourse(course.id); });
        item.appendChild(open);
        var v = latest(course);
        if (v) {
          item.appendChild(document.createTextNode(" "));
          item.appendChild(el("span", { "class": "badge badge-" + v.state },
                              STATES[v.state] || v.state));
        }
        list.appendChild(item);
      });
      $("cw-empty").hidden = answer.body.items.length > 0;
      $("cw-new").hidden = !(E.scope() === "author" && E.allCourses());
      $("cw-who").textContent = (E.scope() === "reviewer" ? "Reviewing" : "Authoring") +
        " as " + E.state.user;
      show("list");
    });
  }

  $("cw-new").addEventListener("submit", function (event) {
    event.preventDefault();
    var button = $("cw-create");
    var title = $("cw-new-title").value.trim();
    var brief = $("cw-new-brief").value.trim();
    if (!title || !brief) { E.error("Give the course a title and a brief."); return; }
    busy(button, true);
    E.error("");
    E.api("POST", "embed/courses", { title: title, brief: brief }).then(function (answer) {
      busy(button, false);
      if (answer.status !== 201) { E.error(E.message(answer)); return; }
      var course = answer.body;
      var v = latest(course);
      E.emit("course.created", { course: course.uid, course_id: course.id,
                                 version_id: v ? v.id : null });
      $("cw-new-title").value = "";
      $("cw-new-brief").value = "";
      openCourse(course.id, "Course created.");
    }, function () { busy(button, false); E.error("The course could not be created."); });
  });

  // ---------------------------------------------------------------- one course
  function openCourse(courseId, message) {
    E.error("");
    return E.api("GET", "courses/" + courseId).then(function (answer) {
      if (answer.status !== 200) { E.error(E.message(answer)); return; }
      var course = answer.body;
      var v = latest(course);
      if (!v) { E.error("This course has no version."); return; }
      return E.api("GET", "versions/" + v.id).then(function (read) {
        if (read.status !== 200) { E.error(E.message(read)); return; }
        current = { course: course, version: read.body };
        render();
        note(message || "");
        show("course");
        $("cw-course-title").focus();
      });
    });
  }

  function render() {
    var course = current.course;
    var version = current.version;
    var scope = E.scope();
    $("cw-course-title").textContent = course.title;
    $("cw-course-title").setAttribute("tabindex", "-1");
    $("cw-version").textContent = "Version " + version.number;
    var badge = $("cw-state");
    badge.textContent = STATES[version.state] || version.state;
    badge.className = "badge badge-" + version.state;
    var editable = version.state === "draft" && scope === "author";
    $("cw-draft").hidden = !(scope === "author" && (version.state === "approved" ||
                                                    version.state === "published"));
    $("cw-submit").hidden = !editable;
    $("cw-approve").hidden = !(scope === "reviewer" && version.state === "in_review");
    $("cw-confirm").hidden = true;
    $("cw-publish").hidden = version.state !== "approved";
    var screens = $("cw-screens");
    screens.textContent = "";
    version.content.screens.forEach(function (screen, i) {
      screens.appendChild(screenForm(screen, i, editable));
    });
  }

  function textBlock(screen) {
    for (var i = 0; i < screen.blocks.length; i++) {
      if (screen.blocks[i].type === "text") return screen.blocks[i];
    }
    return null;
  }

  function screenForm(screen, index, editable) {
    var form = el("form", { "class": "card cw-screen", "data-screen": screen.id, novalidate: "" });
    var n = index + 1;
    form.appendChild(el("h2", {}, "Screen " + n));
    var titleId = "cw-s-" + screen.id + "-title";
    form.appendChild(el("label", { "for": titleId }, "Title"));
    var title = el("input", { type: "text", id: titleId, maxlength: "300", "class": "cw-screen-title" });
    title.value = screen.title;
    title.disabled = !editable;
    form.appendChild(title);
    var block = textBlock(screen);
    var text = null;
    if (block) {
      var textId = "cw-s-" + screen.id + "-text";
      form.appendChild(el("label", { "for": textId }, "Text"));
      text = el("textarea", { id: textId, maxlength: "20000", "class": "cw-screen-text" });
      text.value = block.markdown;
      text.disabled = !editable;
      form.appendChild(text);
    }
    if (editable) {
      var actions = el("div", { "class": "actions" });
      var save = el("button", { type: "submit", "class": "secondary cw-save" }, "Save screen " + n);
      actions.appendChild(save);
      form.appendChild(actions);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var blocks = screen.blocks.map(function (b) {
          var copy = JSON.parse(JSON.stringify(b));
          delete copy.provenance;
          if (block && b.id === block.id) copy.markdown = text.value;
          return copy;
        });
        busy(save, true);
        E.error("");
        E.api("PUT", "versions/" + current.version.id + "/screens/" + encodeURIComponent(screen.id),
              { title: title.value, blocks: blocks }).then(function (answer) {
          busy(save, false);
          if (answer.status !== 200) { E.error(E.message(answer)); return; }
          current.version = answer.body;
          current.course.title = answer.body.content.title;
          render();
          note("Screen " + n + " saved.");
        }, function () { busy(save, false); E.error("The screen could not be saved."); });
      });
    }
    return form;
  }

  function step(button, path, body, done) {
    busy(button, true);
    E.error("");
    note("");
    return E.api("POST", path, body).then(function (answer) {
      busy(button, false);
      return done(answer);
    }, function () { busy(button, false); E.error("That did not work; try again."); });
  }

  function reopen(message) {
    return openCourse(current.course.id, message);
  }

  $("cw-back").addEventListener("click", function () { current = null; loadList(); });

  $("cw-draft").addEventListener("click", function () {
    step(this, "courses/" + current.course.id + "/drafts", undefined, function (answer) {
      if (answer.status !== 201) { E.error(E.message(answer)); return; }
      reopen("A new draft was started.");
    });
  });

  $("cw-submit").addEventListener("click", function () {
    step(this, "versions/" + current.version.id + "/submit", undefined, function (answer) {
      if (answer.status !== 200) { E.error(E.message(answer)); return; }
      reopen("Submitted for review.");
    });
  });

  function approve(button, confirm) {
    step(button, "versions/" + current.version.id + "/approve",
         { confirm_unsupported: confirm }, function (answer) {
      if (answer.status === 409 && answer.body && answer.body.error &&
          answer.body.error.code === "unsupported_claims") {
        E.error(E.message(answer));
        $("cw-confirm").hidden = false;
        return;
      }
      if (answer.status !== 200) { E.error(E.message(answer)); return; }
      reopen("Approved. It can be published now.");
    });
  }

  $("cw-approve").addEventListener("click", function () { approve(this, false); });
  $("cw-confirm").addEventListener("click", function () { approve(this, true); });

  $("cw-publish").addEventListener("click", function () {
    step(this, "versions/" + current.version.id + "/publish", undefined, function (answer) {
      if (answer.status !== 200) { E.error(E.message(answer)); return; }
      var event = { course: current.course.uid, course_id: current.course.id,
                    version_id: answer.body.id, version: answer.body.number };
      // told once the page shows it, so the parent's next step does not race our reload
      var tell = function () { E.emit("course.published", event); };
      reopen("Published: learners can take this version now.").then(tell, tell);
    });
  });

  E.onAuthenticated(function () {
    var scope = E.scope();
    if (scope !== "author" && scope !== "reviewer") {
      E.status("");
      E.error("The editor needs an author or reviewer sign-in; this one is for " + scope + "s.");
      return;
    }
    loadList();
  });
})();

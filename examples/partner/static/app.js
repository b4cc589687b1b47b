/*
 * The partner page's glue: it frames coursewright's editor and player, signs its user in
 * to them, and listens to what they report.
 *
 * - Only messages from the platform's origin, and from one of our two frames, count.
 * - The editor announces {type: "coursewright.ready"}; we ask our own backend
 *   (POST /session, which holds the API key) for a token pair and post it to that
 *   frame, at the platform's origin only.
 * - When a course is published, the player is opened on it with a one-time code in the
 *   address's fragment (the other way to sign in; the page trades it for a token).
 * - Every event is listed on the page (and kept in window.partnerEvents).
 */
(function () {
  "use strict";

  var editor = document.getElementById("editor");
  var player = document.getElementById("player");
  var role = document.getElementById("role");
  var log = document.getElementById("events");
  var config = null;
  var platformOrigin = null;
  window.partnerEvents = [];

  function session(body) {
    return fetch("/session", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.error || r.status);
        return data;
      });
    });
  }

  function record(event) {
    window.partnerEvents.push(event);
    var item = document.createElement("li");
    item.textContent = new Date().toLocaleTimeString() + "  " + JSON.stringify(event);
    log.appendChild(item);
  }

  function openEditor() {
    editor.src = config.platform + "/embed/v1/editor/?org=" + encodeURIComponent(config.org);
  }

  function signIn(frame, who) {
    session({ role: who }).then(function (pair) {
      frame.contentWindow.postMessage({ type: "coursewright.token",
                                        access_token: pair.access_token,
                                        refresh_token: pair.refresh_token }, platformOrigin);
    }).catch(function (e) { record({ type: "partner.error", message: String(e.message) }); });
  }

  function openPlayer(course, courseId) {
    session({ role: "learner", course_id: courseId }).then(function (answer) {
      player.src = config.platform + "/embed/v1/player/" + encodeURIComponent(course) +
        "/?org=" + encodeURIComponent(config.org) + "#code=" + encodeURIComponent(answer.code);
      player.hidden = false;
      document.getElementById("player-hint").hidden = true;
    }).catch(function (e) { record({ type: "partner.error", message: String(e.message) }); });
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== platformOrigin) return;
    var fromEditor = event.source === editor.contentWindow;
    var fromPlayer = event.source === player.contentWindow;
    if (!fromEditor && !fromPlayer) return;
    var data = event.data || {};
    if (data.type === "coursewright.ready" || data.type === "coursewright.token_expired") {
      if (fromEditor) signIn(editor, role.value);
      return;
    }
    if (typeof data.type !== "string" || data.type.indexOf("course.") !== 0) return;
    record(data);
    if (data.type === "course.published") openPlayer(data.course, data.course_id);
  });

  role.addEventListener("change", openEditor);

  fetch("/config.json").then(function (r) { return r.json(); }).then(function (c) {
    config = c;
    platformOrigin = new URL(c.platform).origin;
    openEditor();
  });
})();

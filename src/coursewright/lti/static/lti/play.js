/*
 * coursewright LTI course host: the page an LTI launch opens inside the platform's
 * iframe. It frames the Gatekeeper's course page for the launch session
 * (`/launch/v1/play/<session>/?relay=scorm2004&host=self`) and is the SCORM "LMS" the
 * page's relay talks to: the relay answers the course at once from its own cache and
 * files progress, completion and score with the platform (coursewright) itself, so this
 * host only acknowledges its messages — from that frame, at this origin, only.
 *
 * When the login kept a secret in the platform's client-side storage, the course opens
 * only after `lti.get_data` gives it back and its SHA-256 is the one the server holds:
 * a launch that did not start in this browser's platform session stops here.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("cw-lti-config").textContent);
  var frame = document.getElementById("cw-course");
  var refused = document.getElementById("cw-refused");
  var waiting = document.getElementById("cw-waiting");

  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow || event.origin !== window.location.origin) return;
    var d = event.data;
    if (!d || d.cw !== "scorm") return;
    frame.contentWindow.postMessage({ cw: "scorm-result", id: d.id, result: "true",
                                      error: "0" }, window.location.origin);
  });

  function open() {
    waiting.hidden = true;
    frame.hidden = false;
    frame.src = config.frame;
  }
  function refuse() {
    waiting.hidden = true;
    refused.hidden = false;
  }

  var storage = config.storage || {};
  if (!storage.key) { open(); return; }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  var id = "cw-" + Math.random().toString(36).slice(2);
  var settled = false;
  window.addEventListener("message", function (event) {
    if (settled || event.origin !== storage.origin) return;
    var d = event.data || {};
    if (d.subject !== "lti.get_data.response" || d.message_id !== id) return;
    settled = true;
    if (typeof d.value !== "string" || !window.crypto || !window.crypto.subtle) { refuse(); return; }
    window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(d.value)).then(function (sum) {
      if (hex(sum) === storage.hash) open(); else refuse();
    }, refuse);
  });
  var target;
  try {
    target = storage.target === "_parent" ? window.parent
      : (window.parent.frames[storage.target] || window.parent);
    target.postMessage({ subject: "lti.get_data", message_id: id, key: storage.key },
                       storage.origin);
  } catch (e) {
    settled = true;
    refuse();
  }
  window.setTimeout(function () { if (!settled) { settled = true; refuse(); } }, 3000);
})();

/*
 * coursewright LTI login page: before going on to the platform's authorisation endpoint,
 * keep this login's secret in the platform's client-side storage (LTI client side
 * postMessage storage, `lti.put_data`), so the launch page can check that the launch
 * comes back to the same browser session (see coursewright.lti.launch). Messages go only
 * to the platform's frame at the origin of its OIDC authorisation endpoint, and answers
 * are accepted only from that origin. Whatever happens (answered, refused, no answer
 * within 2 s), the browser goes on: a launch whose secret cannot be read back is refused
 * there with a clear page.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("cw-lti-config").textContent);
  var done = false;
  function next() {
    if (done) return;
    done = true;
    window.location.replace(config.next);
  }
  function target() {
    try {
      if (config.target === "_parent") return window.parent;
      return window.parent.frames[config.target] || window.parent;
    } catch (e) {
      return window.parent;
    }
  }
  var id = "cw-" + Math.random().toString(36).slice(2);
  window.addEventListener("message", function (event) {
    if (event.origin !== config.origin) return;
    var d = event.data || {};
    if (d.subject === "lti.put_data.response" && d.message_id === id) next();
  });
  try {
    target().postMessage({ subject: "lti.put_data", message_id: id, key: config.key,
                           value: config.value }, config.origin);
  } catch (e) {
    next();
  }
  window.setTimeout(next, 2000);
})();

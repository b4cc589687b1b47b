// Platform side of "LTI OIDC Login with LTI Client Side postMessages" (1EdTech lti-cs-oidc):
// the course page that frames the tool answers lti.capabilities, lti.put_data and
// lti.get_data, keeping values per sender origin, so a tool can keep its OIDC state
// without third-party cookies. The platform announces it with
// lti_storage_target=_parent. Only the registered tool's origins are served; every
// message is reported to the platform (IndependentPlatform.storage_events) for tests.
(function () {
  "use strict";
  var script = document.currentScript;
  var allowed = (script.dataset.toolOrigins || "").split(" ").filter(Boolean);
  var eventsUrl = script.dataset.eventsUrl;
  var store = {};
  var SUPPORTED = ["lti.capabilities", "lti.put_data", "lti.get_data"];

  function report(entry) {
    try {
      navigator.sendBeacon(eventsUrl, JSON.stringify(entry));
    } catch (e) { /* reporting is best effort */ }
  }

  function answer(event, data) {
    var reply = { subject: data.subject + ".response", message_id: data.message_id };
    var origin = event.origin;
    if (allowed.indexOf(origin) < 0) {
      reply.error = { code: "unauthorized", message: "origin " + origin + " is not the registered tool" };
    } else if (!data.message_id) {
      reply.error = { code: "bad_request", message: "message_id is missing" };
    } else if (data.subject === "lti.capabilities") {
      reply.supported_messages = SUPPORTED.map(function (s) { return { subject: s }; });
    } else if (data.subject === "lti.put_data") {
      if (!data.key || data.value === undefined || data.value === null) {
        reply.error = { code: "bad_request", message: "key and value are required" };
      } else {
        store[origin] = store[origin] || {};
        store[origin][data.key] = data.value;
        reply.key = data.key;
        reply.value = data.value;
      }
    } else if (data.subject === "lti.get_data") {
      var values = store[origin] || {};
      if (!data.key) {
        reply.error = { code: "bad_request", message: "key is required" };
      } else if (!Object.prototype.hasOwnProperty.call(values, data.key)) {
        reply.key = data.key;
        reply.error = { code: "bad_request", message: "no value stored for this key" };
      } else {
        reply.key = data.key;
        reply.value = values[data.key];
      }
    } else {
      reply.error = { code: "unsupported_subject", message: "subject " + data.subject + " is not supported" };
    }
    report({ subject: data.subject, origin: origin, key: data.key || null,
             ok: !reply.error, error: reply.error ? reply.error.code : null });
    event.source.postMessage(reply, origin === "null" ? "*" : origin);
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.subject !== "string") { return; }
    if (data.subject.indexOf("lti.") !== 0 || /\.response$/.test(data.subject)) { return; }
    if (!event.source) { return; }
    answer(event, data);
  });
})();

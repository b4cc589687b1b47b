/*
 * coursewright content URLs: served by the platform into the course page of a launch
 * (`/launch/v1/play/<session>/`). Every file the page loads is a signed URL that expires
 * (data-ttl seconds, capped by the session's end), so while the page is open this script
 * keeps fresh ones at hand:
 *
 * - Every ~half TTL it asks `launch/v1/renew` (next to this script) for fresh URLs,
 *   sending the session credential from the page address in `X-Coursewright-Session`
 *   (no cookies). An image that has not loaded yet is switched to its fresh URL.
 * - An image that fails to load is retried once with a fresh URL (renewed first).
 * - A 403 means the session ended (revoked, suspended, expired): renewing stops, and
 *   the files already loaded stay; nothing new can be fetched after the URLs expire.
 *
 * A URL and its renewal are matched by their address without the query (the signature
 * and expiry live there; the path is the content-addressed name). `window.cwContent`
 * exposes the state for tests.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var match = /\/launch\/v1\/play\/([A-Za-z0-9_-]+)\//.exec(window.location.pathname);
  if (!script || !match || !window.fetch) return;
  var session = match[1];
  var endpoint = new URL("renew", script.src).href;
  var ttl = Math.max(1, Number(script.getAttribute("data-ttl")) || 600);
  var MIN_WAIT = 1000;
  var RETRY_WAIT = 10000;

  var state = { renewals: 0, retried: 0, ended: false, expiresAt: script.getAttribute("data-expires") || "" };
  window.cwContent = state;
  var fresh = {};  // address without query -> newest signed URL
  var timer = null;
  var inFlight = null;

  function bare(url) { return String(url || "").split("?")[0]; }

  function schedule(wait) {
    if (timer) window.clearTimeout(timer);
    if (state.ended) return;
    timer = window.setTimeout(renew, Math.max(MIN_WAIT, wait));
  }

  function renew() {
    if (state.ended) return Promise.resolve(false);
    if (inFlight) return inFlight;
    inFlight = window.fetch(endpoint, {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "X-Coursewright-Session": session }
    }).then(function (response) {
      if (response.status === 403) { state.ended = true; return null; }
      return response.ok ? response.json() : null;
    }).then(function (body) {
      inFlight = null;
      if (!body || !body.files) { schedule(RETRY_WAIT); return false; }
      Object.keys(body.files).forEach(function (name) {
        var url = String(body.files[name]);
        fresh[bare(url)] = url;
      });
      state.expiresAt = body.expires_at || state.expiresAt;
      state.renewals++;
      refreshPending();
      schedule(ttl * 500);
      return true;
    }, function () {
      inFlight = null;
      schedule(RETRY_WAIT);
      return false;
    });
    return inFlight;
  }

  function freshFor(img) {
    var url = fresh[bare(img.currentSrc || img.src)];
    return url && url !== img.src ? url : "";
  }

  function refreshPending() {
    Array.prototype.forEach.call(document.images, function (img) {
      if (img.complete) return;
      var url = freshFor(img);
      if (url) img.src = url;
    });
  }

  function retry(img) {
    if (img.getAttribute("data-cw-retried")) return;
    img.setAttribute("data-cw-retried", "1");
    renew().then(function () {
      var url = fresh[bare(img.currentSrc || img.src)];
      if (!url) return;
      state.retried++;
      img.removeAttribute("src");
      img.src = url;
    });
  }

  function failed(img) {
    return img.complete && img.naturalWidth === 0 && /^https?:/.test(img.src);
  }

  document.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target.tagName === "IMG") retry(target);
  }, true);
  // images that failed before this script ran (it is deferred)
  Array.prototype.forEach.call(document.images, function (img) {
    if (failed(img)) retry(img);
  });
  schedule(ttl * 500);
})();

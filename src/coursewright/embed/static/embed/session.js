/*
 * coursewright embedded pages: the session shared by the editor and the player.
 *
 * Design note
 * -----------
 * The page runs in a partner's iframe with no cookies at all. Its configuration (the
 * organisation and the origins it registered) sits in a JSON data block
 * (#cw-embed-config); nothing here is inline code.
 *
 * - Talking to the parent: only the registered origins. The parent's origin is taken
 *   from location.ancestorOrigins when the browser gives it and it is registered, or
 *   from the first accepted token message; until then a message is posted once per
 *   registered origin, and the browser delivers it only if the parent has that origin.
 *   Never "*". Messages: {type: "coursewright.ready", page}, the events
 *   {type: "course.created" | "course.published" | "course.commenced" |
 *   "course.completed", course: <uid>, ...}, and {type: "coursewright.token_expired"}
 *   when a refresh fails (the parent may send a new token).
 * - Receiving the token: {type: "coursewright.token", access_token, refresh_token} is
 *   accepted only from the parent window at a registered origin, and only for this
 *   page's organisation (the token's org claim; the server checks everything else).
 *   Any other message is ignored (and counted in state.ignored). Or: #code=<one-time
 *   code> in the address, traded once for the pair (POST embed/code/exchange) and
 *   removed from the address at once.
 * - Keeping it: in this closure's variables only; never in a cookie, localStorage,
 *   sessionStorage, the address or window. The claims are decoded (not verified: the
 *   server does that) to know the scope and the lifetime.
 * - Refreshing: a minute before the access token expires (measured from when it
 *   arrived, by its own lifetime, so the parent's clock does not matter), with the
 *   refresh token, which rotates.
 * - API calls: same origin, credentials "omit", Authorization: Bearer.
 *
 * window.cwEmbed exposes the page's state (never a token) for the pages' scripts and
 * for tests.
 */
(function () {
  "use strict";

  var configEl = document.getElementById("cw-embed-config");
  if (!configEl) return;
  var CONFIG = JSON.parse(configEl.textContent);
  var ORIGINS = Array.isArray(CONFIG.origins) ? CONFIG.origins.slice() : [];
  var REFRESH_MARGIN = 60; // seconds before expiry
  var MIN_WAIT = 5;

  var access = null;
  var refresh = null;
  var claims = null;
  var timer = null;
  var parentOrigin = null;
  var listeners = [];

  var state = {
    page: CONFIG.page, org: CONFIG.org, framed: window.parent !== window,
    authenticated: false, scope: null, user: null, via: null,
    refreshes: 0, ignored: 0, expired: false, posted: []
  };

  var ancestors = window.location.ancestorOrigins;
  if (ancestors && ancestors.length && ORIGINS.indexOf(ancestors[0]) >= 0) {
    parentOrigin = ancestors[0];
  }

  function status(text) {
    var el = document.getElementById("cw-status");
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  function error(text) {
    var el = document.getElementById("cw-error");
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  function post(message) {
    if (!state.framed) return;
    var targets = parentOrigin ? [parentOrigin] : ORIGINS;
    targets.forEach(function (origin) {
      try { window.parent.postMessage(message, origin); } catch (e) { /* not this one */ }
    });
    state.posted.push(message.type);
  }

  function decode(token) {
    var parts = String(token).split(".");
    if (parts.length !== 3) return null;
    try {
      var text = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      while (text.length % 4) text += "=";
      var json = decodeURIComponent(Array.prototype.map.call(window.atob(text), function (c) {
        return "%" + ("00" + c.charCodeAt(0).toString(16)).slice(-2);
      }).join(""));
      return JSON.parse(json);
    } catch (e) {
      return null;
    }
  }

  function schedule(lifetime) {
    if (timer) window.clearTimeout(timer);
    if (!refresh) return;
    var wait = Math.max(MIN_WAIT, lifetime - REFRESH_MARGIN);
    timer = window.setTimeout(renew, wait * 1000);
  }

  // Take a token pair; false if it is not one for this page.
  function use(accessToken, refreshToken, via) {
    var c = decode(accessToken);
    if (!c) {
      error("The host application sent something that is not a sign-in.");
      return false;
    }
    if (c.org !== CONFIG.org) {
      error("The host application sent a sign-in for another organisation.");
      return false;
    }
    var first = !state.authenticated;
    access = accessToken;
    refresh = typeof refreshToken === "string" && refreshToken ? refreshToken : null;
    claims = c;
    state.authenticated = true;
    state.expired = false;
    state.scope = c.scope;
    state.user = c.sub;
    state.via = via;
    error("");
    schedule(Number(c.exp) - Number(c.iat));
    if (first) listeners.forEach(function (fn) { fn(); });
    return true;
  }

  function renew() {
    if (!refresh) return Promise.resolve(false);
    return window.fetch(CONFIG.api + "embed/refresh", {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: refresh })
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (pair) {
      if (!pair || !pair.access_token) throw new Error("refused");
      state.refreshes++;
      return use(pair.access_token, pair.refresh_token, state.via);
    }).catch(function () {
      access = null;
      refresh = null;
      state.authenticated = false;
      state.expired = true;
      error("Your session has ended. Reload the page in the host application to go on.");
      post({ type: "coursewright.token_expired", page: CONFIG.page });
      return false;
    });
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.source !== window.parent || ORIGINS.indexOf(event.origin) < 0 ||
        !data || data.type !== "coursewright.token" || typeof data.access_token !== "string") {
      state.ignored++;
      return;
    }
    if (use(data.access_token, data.refresh_token, "message")) parentOrigin = event.origin;
  });

  // a one-time code in the fragment: never sent to a server, dropped from the address now
  var match = /(?:^#|&)code=([A-Za-z0-9_-]{1,100})(?:&|$)/.exec(window.location.hash);
  if (match) {
    try {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    } catch (e) { /* keep the address */ }
    status("Signing you in…");
    window.fetch(CONFIG.api + "embed/code/exchange", {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: match[1] })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (!answer.ok) throw new Error(answer.body && answer.body.error ? answer.body.error.message : "refused");
      use(answer.body.access_token, answer.body.refresh_token, "code");
    }).catch(function (e) {
      status("");
      error("This sign-in link did not work (" + e.message + "). Reload the page in the host application.");
    });
  }

  // An API call with the token: resolves {status, body}; never throws for HTTP errors.
  function api(method, path, body, options) {
    if (!access) return Promise.reject(new Error("not signed in"));
    var headers = { "Authorization": "Bearer " + access };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return window.fetch(CONFIG.api + path, {
      method: method, credentials: "omit", cache: "no-store", headers: headers,
      keepalive: !!(options && options.keepalive),
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      if (response.status === 204) return { status: 204, body: null };
      return response.json().then(function (data) {
        return { status: response.status, body: data };
      }, function () { return { status: response.status, body: null }; });
    });
  }

  function message(answer) {
    var e = answer && answer.body && answer.body.error;
    return e && e.message ? e.message : "Something went wrong (" + (answer ? answer.status : "?") + ").";
  }

  window.cwEmbed = {
    config: CONFIG,
    state: state,
    api: api,
    message: message,
    status: status,
    error: error,
    emit: function (type, data) {
      var event = { type: type };
      Object.keys(data || {}).forEach(function (k) { event[k] = data[k]; });
      post(event);
    },
    scope: function () { return claims ? claims.scope : null; },
    allCourses: function () { return !!claims && claims.courses === "*"; },
    onAuthenticated: function (fn) {
      listeners.push(fn);
      if (state.authenticated) fn();
    }
  };

  if (!state.framed) {
    status("This page runs inside a partner's application.");
    return;
  }
  if (ORIGINS.length) post({ type: "coursewright.ready", page: CONFIG.page });
})();

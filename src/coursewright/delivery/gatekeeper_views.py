"""The Gatekeeper over HTTP (plain Django views: the launch path carries no framework
weight it does not need) and the public key set.

    POST /launch/v1                      {token, course, learner} + Origin → 200 launch | 403
    GET  /launch/v1/blocked?reason=CODE  the page a launcher shows a learner when refused
    GET  /launch/v1/play/<session>/      the course page for a live launch session
    POST /launch/v1/renew                fresh signed URLs for the session's course files
    GET  /launch/v1/content.js           the page's script that renews them
    GET  /content/<name>?e=&s=           a published course file on local disk, signed URL
    GET  /.well-known/jwks.json          the token-signing public keys

CORS on ``/launch/v1``: a preflight is answered for any origin, without credentials
(the Gatekeeper cannot know the license before it reads the token). The POST's answer
carries ``Access-Control-Allow-Origin`` (the caller's origin, never ``*``, never with
credentials) only when the license allows that origin, so a page on another site cannot
read even a refusal. No cookies, no session, no CSRF are involved: the token is the
credential.

Errors never surface as a 500 to a launcher: a malformed body is a 400 in the one error
shape, and a refusal is a 403 whose ``code`` is the Gatekeeper's reason.

The ``entry`` of a launch is the course page served by this server for the session
(checked against the live session and its license on every request, never cached). Every
file the page loads — player script and styles, images — is a signed, expiring URL of
its published copy in storage (delivery.content): a presigned S3 URL, or on local disk a
``/content/`` URL this server checks and serves with the same immutable cache headers.
content.js asks ``renew`` for fresh URLs while the session lives.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_safe

from coursewright.delivery import gatekeeper, signing
from coursewright.delivery.models import LaunchSession

if TYPE_CHECKING:
    from coursewright.delivery.content import SignedFiles

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}
# Reasons the blocked page knows beyond the Gatekeeper's: the launch session ran out.
PAGE_REASONS = {
    **gatekeeper.REASONS,
    "session_expired": "Your course session has ended.",
}
# What the LMS administrator is told on the blocked page, per reason.
ADMIN_HINTS = {
    "bad_token": "The launch token in the course package was not accepted (altered, "
                 "truncated or not ours). Download the package again or ask for a new "
                 "token.",
    "unknown_key": "The launch token was signed with a key that has since been retired. "
                   "Ask the course provider for a new token.",
    "revoked": "The license was revoked by the course provider.",
    "suspended": "The license is suspended by the course provider.",
    "expired": "The license has passed its expiry date.",
    "wrong_course": "The license does not include this course.",
    "not_deployed": "The course has no live (production) version right now.",
    "origin_not_allowed": "The site the course was launched from is not among the "
                          "license's allowed origins.",
    "launch_cap": "The license's launch allowance is used up.",
    "learner_cap": "The license's number of distinct learners is reached; learners who "
                   "took a course before can still launch it.",
    "no_learner": "The LMS sent no learner id, and this license counts learners.",
    "session_expired": "The launch session expired or the license changed; launch the "
                       "course again from the LMS.",
}


def _json(data: dict[str, Any], status: int, *, cors_origin: str | None = None) -> HttpResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    response["Vary"] = "Origin"
    if cors_origin:
        response["Access-Control-Allow-Origin"] = cors_origin
    return response


def _error(code: str, message: str, status: int, *,
           cors_origin: str | None = None) -> HttpResponse:
    return _json({"error": {"code": code, "message": message, "details": []}}, status,
                 cors_origin=cors_origin)


def _bad_request(message: str) -> HttpResponse:
    return _error("bad_request", message, 400)


def _read_body(request: HttpRequest) -> dict[str, Any] | HttpResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    try:
        raw = request.body if length <= MAX_BODY else b""
    except RequestDataTooBig:
        raw = b""
        length = MAX_BODY + 1
    if length > MAX_BODY or len(raw) > MAX_BODY:  # the header can be absent (chunked)
        return _error("too_large", "The launch request is too large.", 413)
    try:
        body = json.loads(raw or b"")
    except ValueError:
        return _bad_request('Send a JSON object: {"token": ..., "course": ..., '
                            '"learner": ...}.')
    if not isinstance(body, dict):
        return _bad_request("The body must be a JSON object.")
    token, course, learner = body.get("token"), body.get("course"), body.get("learner")
    if not isinstance(token, str) or not token:
        return _bad_request('"token" must be the license token (a string).')
    if not isinstance(course, str) or not course or len(course) > 100:
        return _bad_request('"course" must be the course\'s id (a string).')
    if learner is not None and (not isinstance(learner, str)
                                or len(learner) > gatekeeper.MAX_LEARNER_ID):
        return _bad_request('"learner" must be the LMS\'s learner id (a string of at most '
                            f"{gatekeeper.MAX_LEARNER_ID} characters), or left out.")
    return {"token": token, "course": course, "learner": learner or ""}


@csrf_exempt
def launch(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        for name, value in PREFLIGHT_HEADERS.items():
            response[name] = value
        return response
    if request.method != "POST":
        response = _error("method_not_allowed", "Launch with POST.", 405)
        response["Allow"] = "POST, OPTIONS"
        return response
    body = _read_body(request)
    if isinstance(body, HttpResponse):
        return body
    origin = request.headers.get("Origin")
    try:
        decision = gatekeeper.launch(body["token"], course_uid=body["course"],
                                     learner_id=body["learner"], origin=origin)
    except Exception:
        # our fault (database unreachable, a broken key file): logged with its trace
        # for us, a clean answer in the error shape for the launcher
        logger.exception("the Gatekeeper could not decide a launch")
        return _error("unavailable", "Launching is not possible right now; please try "
                                     "again in a few minutes.", 503)
    cors_origin = origin if decision.origin_allowed and origin else None
    if not decision.allowed:
        return _error(decision.reason, decision.message, 403, cors_origin=cors_origin)
    entry = settings.BASE_URL + reverse("delivery:play", args=[decision.session])
    assert decision.session_expires_at is not None
    return _json({"launch": {
        "session": decision.session,
        "course": decision.course_uid,
        "deployment": decision.deployment_uid,
        "version": decision.version,
        "entry": entry,
        "expires_at": decision.session_expires_at.isoformat(),
    }}, 200, cors_origin=cors_origin)


def _frameable(response: HttpResponse, frame_ancestors: str, *,
               file_origins: set[str] | None = None) -> HttpResponse:
    """The page CSP, framable by ``frame_ancestors``; ``file_origins``: where the page's
    scripts, styles and images come from besides this server (the storage's origin)."""
    import re

    from coursewright.web.middleware import CSP

    policy = CSP.replace("frame-ancestors 'none'", f"frame-ancestors {frame_ancestors}")
    extra = " ".join(sorted(file_origins or ()))
    if extra:
        policy = re.sub(r"\b((?:script|style|img)-src [^;]*)", rf"\1 {extra}", policy)
    response["Content-Security-Policy"] = policy
    return response


@require_GET
@xframe_options_exempt
def blocked(request: HttpRequest) -> HttpResponse:
    reason = request.GET.get("reason", "")
    known = reason in PAGE_REASONS
    response = render(request, "delivery/launch_blocked.html", {
        "reason": reason if known else "",
        "message": PAGE_REASONS[reason] if known else "This course could not be opened.",
        "admin_hint": ADMIN_HINTS.get(reason, ""),
    })
    response["Cache-Control"] = "public, max-age=300"
    return _frameable(response, "*")


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(signing.jwks())
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


# --- the course for a live session (interim entry) -------------------------------------


def _session_or_blocked(request: HttpRequest, session: str) -> LaunchSession | HttpResponse:
    found = gatekeeper.live_session(session)
    if found is None:
        response = render(request, "delivery/launch_blocked.html",
                          {"reason": "session_expired",
                           "message": PAGE_REASONS["session_expired"],
                           "admin_hint": ADMIN_HINTS["session_expired"]}, status=403)
        response["Cache-Control"] = "no-store"
        return _frameable(response, "*")
    return found


def _framed_by(found: LaunchSession) -> str:
    # 'self': the platform's own pages (the LTI tool's course host) frame it too
    origins = found.license.allowed_origins
    return " ".join([*origins, "'self'"]) if origins else "*"


@require_GET
@xframe_options_exempt
def play(request: HttpRequest, session: str) -> HttpResponse:
    from coursewright.assist.access import player_assist
    from coursewright.courses.actions import validate_content
    from coursewright.delivery.content import course_page, session_files
    from coursewright.player.render import Format

    found = _session_or_blocked(request, session)
    if isinstance(found, HttpResponse):
        return found
    version = found.version
    content = validate_content(version.content)
    try:
        files = session_files(found, content=content)
    except Exception:
        # the storage is unreachable (or refused): logged with its trace for us, a friendly
        # page for the learner, a clean 503 for the LMS
        logger.exception("could not publish or sign the course files of launch session %s",
                         found.pk)
        response = render(request, "delivery/launch_blocked.html", {
            "reason": "unavailable",
            "message": "This course cannot be opened right now; please try again in a few "
                       "minutes.",
            "admin_hint": ""}, status=503)
        response["Cache-Control"] = "no-store"
        response["Retry-After"] = "60"
        return _frameable(response, "*")
    relay = request.GET.get("relay", "")
    fmt: Format = ("scorm12" if relay == "scorm12" else
                   "scorm2004" if relay == "scorm2004" else "html")
    page = course_page(version, content=content, fmt=fmt, urls=files.urls,
                       assist=player_assist(version, base_url="", credential=session))
    host_self = request.GET.get("host") == "self"
    scripts = [_relay_tag(found, host_self=host_self)] if fmt != "html" else []
    scripts.append(_content_tag(files))
    page = _before_player(page, files.urls["player.js"], scripts)
    response = HttpResponse(page)
    response["Cache-Control"] = "no-store"
    origins = {_origin(url) for url in files.urls.values()}
    return _frameable(response, _framed_by(found), file_origins=origins)


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _before_player(page: str, player_src: str, tags: list[str]) -> str:
    """``tags`` inserted before the player's script (deferred scripts run in order)."""
    import html

    player = f'<script src="{html.escape(player_src, quote=True)}" defer></script>'
    assert page.count(player) == 1, "the player page no longer loads player.js"
    return page.replace(player, "".join(tags) + player)


def _content_tag(files: SignedFiles) -> str:
    from django.utils.html import escape

    return (f'<script src="{reverse("delivery:content_js")}" defer '
            f'data-ttl="{settings.CONTENT_URL_TTL}" '
            f'data-expires="{escape(files.expires_at.isoformat())}"></script>\n')


# --- the runtime relay of dispatch packages (delivery.dispatch) --------------------------
# A launch from a dispatch package opens the entry with ``?relay=scorm12|scorm2004``: the
# page is the SCORM build of the player, and relay.js (loaded before player.js) gives it a
# SCORM API that forwards to the launcher in the parent frame. The script tag lists the
# origins allowed to frame the page (the license's), the only ones relay.js talks to.
# An LTI launch (``coursewright.lti``) opens it with ``&host=self`` inside the platform's
# own course host page, which answers the relay itself: then only this origin is listed.


def _relay_tag(found: LaunchSession, *, host_self: bool = False) -> str:
    from django.utils.html import escape

    # ``host_self``: the parent is the platform's own course host (lti.views), the only
    # window the relay may then talk to
    origins = escape(_origin(settings.BASE_URL) if host_self
                     else " ".join(found.license.allowed_origins))
    return (f'<script src="{reverse("delivery:relay_js")}" defer '
            f'data-origins="{origins}"></script>\n')


@require_GET
def relay_js(request: HttpRequest) -> HttpResponse:
    from coursewright.delivery.dispatch import RELAY_SCRIPT, launcher_asset

    response = HttpResponse(launcher_asset(RELAY_SCRIPT), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=300"
    return response


# --- course files: renewal and the local signed URLs (delivery.content) ------------------


@csrf_exempt
def renew(request: HttpRequest) -> HttpResponse:
    """Fresh signed URLs for the course files of the session named in the
    ``X-Coursewright-Session`` header, while it is live (content.js calls it; same origin,
    no cookies: the header is the credential, so there is no CSRF to guard against)."""
    from coursewright.delivery.content import session_files

    if request.method != "POST":
        response = _error("method_not_allowed", "Renew with POST.", 405)
        response["Allow"] = "POST"
        return response
    found = gatekeeper.live_session(request.headers.get("X-Coursewright-Session", ""))
    if found is None:
        return _error("session_expired", PAGE_REASONS["session_expired"] + " "
                      + ADMIN_HINTS["session_expired"], 403)
    try:
        files = session_files(found)
    except Exception:
        logger.exception("could not sign the course files of launch session %s", found.pk)
        return _error("unavailable", "The course files cannot be reached right now; please "
                                     "try again in a few minutes.", 503)
    return _json({"files": files.urls, "expires_at": files.expires_at.isoformat()}, 200)


@require_GET
def content_js(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_launcher_file("content.js"), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=300"
    return response


@cache
def _launcher_file(name: str) -> bytes:
    return (Path(__file__).resolve().parent / "launcher" / name).read_bytes()


@require_safe
def content_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """A published course file on local disk, for a URL that ``content.signed_url`` made
    and that has not expired. Anything else is the same bare 403: which check failed
    (expiry, signature, a name outside ``pub/``) is not said."""
    from coursewright.delivery.content import (
        CONTENT_TYPES,
        IMMUTABLE,
        check_signed,
        open_published,
    )

    if not check_signed(path, request.GET.get("e", ""), request.GET.get("s", "")):
        response = HttpResponse("This link is not valid or has expired.", status=403,
                                content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-store"
        return response
    try:
        handle = open_published(path)
    except OSError:
        response = HttpResponse("Not found.", status=404,
                                content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-store"
        return response
    served = FileResponse(handle, content_type=CONTENT_TYPES[path[path.rindex("."):]])
    served["Cache-Control"] = IMMUTABLE
    served["X-Content-Type-Options"] = "nosniff"
    served["Cross-Origin-Resource-Policy"] = "cross-origin"
    return served


app_name = "delivery"
urlpatterns: list[URLPattern] = [
    path("launch/v1", launch, name="launch"),
    path("launch/v1/blocked", blocked, name="launch_blocked"),
    path("launch/v1/relay.js", relay_js, name="relay_js"),
    path("launch/v1/play/<str:session>/", play, name="play"),
    path("launch/v1/renew", renew, name="renew"),
    path("launch/v1/content.js", content_js, name="content_js"),
    path("content/<path:path>", content_file, name="content_file"),
    path(".well-known/jwks.json", jwks, name="jwks"),
]

"""The Gatekeeper over HTTP (plain Django views: the launch path carries no framework
weight it does not need) and the public key set.

    POST /launch/v1                      {token, course, learner} + Origin → 200 launch | 403
    GET  /launch/v1/blocked?reason=CODE  the page a launcher shows a learner when refused
    GET  /launch/v1/play/<session>/      the course for a live launch session (interim entry)
    GET  /.well-known/jwks.json          the token-signing public keys

CORS on ``/launch/v1``: a preflight is answered for any origin, without credentials
(the Gatekeeper cannot know the license before it reads the token). The POST's answer
carries ``Access-Control-Allow-Origin`` (the caller's origin, never ``*``, never with
credentials) only when the license allows that origin, so a page on another site cannot
read even a refusal. No cookies, no session, no CSRF are involved: the token is the
credential.

Errors never surface as a 500 to a launcher: a malformed body is a 400 in the one error
shape, and a refusal is a 403 whose ``code`` is the Gatekeeper's reason.

The ``entry`` of a launch is, for now, the course served by this server for the
session (the player page, its files and images, each request checked against the live
session and its license). Signed, expiring storage URLs replace it later without
changing the launch response.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from coursewright.delivery import gatekeeper, signing
from coursewright.delivery.models import LaunchSession

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}
PLAYER_TYPES = {"player.js": "text/javascript", "player.css": "text/css",
                "noscript.css": "text/css"}
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


def _frameable(response: HttpResponse, frame_ancestors: str) -> HttpResponse:
    from coursewright.web.middleware import CSP

    response["Content-Security-Policy"] = CSP.replace("frame-ancestors 'none'",
                                                      f"frame-ancestors {frame_ancestors}")
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
    return " ".join(found.license.allowed_origins) or "*"


@require_GET
@xframe_options_exempt
def play(request: HttpRequest, session: str) -> HttpResponse:
    from coursewright.ai.policy import DEFAULT_DISCLOSURE, disclosure_text
    from coursewright.assist.access import player_assist
    from coursewright.courses.actions import validate_content
    from coursewright.player.render import Format, ImageFile, render_index_html
    from coursewright.publishing.packaging import PackageMeta

    found = _session_or_blocked(request, session)
    if isinstance(found, HttpResponse):
        return found
    version, org = found.version, found.org
    content = validate_content(version.content)
    meta = PackageMeta(course_id=f"{org.slug}-{version.course_id}",
                       version_number=version.number, approved_by=org.name,
                       approved_at=version.approved_at or version.updated_at,
                       published_at=version.published_at, org_name=org.name,
                       approved_via=version.approved_via or None)
    images = {sha: ImageFile(src=f"images/{sha}") for sha in content.asset_hashes()}
    wording = disclosure_text(org)
    relay = request.GET.get("relay", "")
    fmt: Format = ("scorm12" if relay == "scorm12" else
                   "scorm2004" if relay == "scorm2004" else "html")
    relayed = fmt != "html"
    page = render_index_html(content, fmt=fmt, meta=meta, images=images, asset_prefix="",
                             provenance_href=None,
                             disclosure=None if wording == DEFAULT_DISCLOSURE else wording,
                             assist=player_assist(version, base_url=""))
    if relayed:
        page = _with_relay(page, found)
    response = HttpResponse(page)
    response["Cache-Control"] = "no-store"
    return _frameable(response, _framed_by(found))


# --- the runtime relay of dispatch packages (delivery.dispatch) --------------------------
# A launch from a dispatch package opens the entry with ``?relay=scorm12|scorm2004``: the
# page is the SCORM build of the player, and relay.js (loaded before player.js) gives it a
# SCORM API that forwards to the launcher in the parent frame. The script tag lists the
# origins allowed to frame the page (the license's), the only ones relay.js talks to.
_PLAYER_TAG = '<script src="player.js" defer></script>'


def _with_relay(page: str, found: LaunchSession) -> str:
    from django.utils.html import escape

    origins = escape(" ".join(found.license.allowed_origins))
    tag = (f'<script src="{reverse("delivery:relay_js")}" defer '
           f'data-origins="{origins}"></script>\n')
    assert page.count(_PLAYER_TAG) == 1, "the player page no longer loads player.js"
    return page.replace(_PLAYER_TAG, tag + _PLAYER_TAG)


@require_GET
def relay_js(request: HttpRequest) -> HttpResponse:
    from coursewright.delivery.dispatch import RELAY_SCRIPT, launcher_asset

    response = HttpResponse(launcher_asset(RELAY_SCRIPT), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
@xframe_options_exempt
def play_file(request: HttpRequest, session: str, name: str) -> HttpResponse:
    from coursewright.player.render import player_assets

    if name not in PLAYER_TYPES:
        raise Http404("no such player file")
    found = _session_or_blocked(request, session)
    if isinstance(found, HttpResponse):
        return found
    response = HttpResponse(player_assets()[name], content_type=PLAYER_TYPES[name])
    response["Cache-Control"] = "private, max-age=300"
    return response


@require_GET
@xframe_options_exempt
def play_image(request: HttpRequest, session: str, sha256: str) -> HttpResponse:
    from coursewright.courses.models import Asset
    from coursewright.storage import read_bytes

    found = _session_or_blocked(request, session)
    if isinstance(found, HttpResponse):
        return found
    asset = Asset.objects.filter(org_id=found.org_id, course_id=found.course_id,
                                 sha256=sha256).first()
    if asset is None:
        raise Http404("no such image")
    response = HttpResponse(read_bytes(found.org, asset.storage_path),
                            content_type=asset.content_type)
    response["Cache-Control"] = "private, max-age=300"
    return response


app_name = "delivery"
urlpatterns: list[URLPattern] = [
    path("launch/v1", launch, name="launch"),
    path("launch/v1/blocked", blocked, name="launch_blocked"),
    path("launch/v1/relay.js", relay_js, name="relay_js"),
    path("launch/v1/play/<str:session>/", play, name="play"),
    path("launch/v1/play/<str:session>/images/<str:sha256>", play_image, name="play_image"),
    path("launch/v1/play/<str:session>/<str:name>", play_file, name="play_file"),
    path(".well-known/jwks.json", jwks, name="jwks"),
]

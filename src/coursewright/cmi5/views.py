"""The cmi5 launching system over HTTP (plain Django views, like the Gatekeeper's).

    POST /cmi5/v1/launch              {token, course, learner, au_url, au?, layout?,
                                       launch_mode?, return_url?} + Origin → {launch: {url, …}}
    POST /cmi5/v1/fetch/<secret>      the one-time fetch URL → {"auth-token": …} or
                                       {"error-code", "error-text"} (always 200, JSON)
    *    /cmi5/v1/xapi/<resource>     the LMS listener (``cmi5.listener``)

``launch`` answers like ``POST /launch/v1``: CORS for the caller's origin only when the
license allows it, refusals in the one error shape with the Gatekeeper's reason code.
The fetch URL answers any origin (``Access-Control-Allow-Origin: *``, no credentials):
its secret is the credential, and it works once.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from coursewright.cmi5.launching import LaunchRefused, LaunchRequest, fetch_error, fetch_token
from coursewright.cmi5.listener import listener

logger = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
PREFLIGHT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}


def _json(data: dict[str, Any], status: int, *, cors: str | None = None) -> HttpResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    response["Vary"] = "Origin"
    if cors:
        response["Access-Control-Allow-Origin"] = cors
    return response


def _error(code: str, message: str, status: int, *, cors: str | None = None) -> HttpResponse:
    return _json({"error": {"code": code, "message": message, "details": []}}, status,
                 cors=cors)


def _preflight() -> HttpResponse:
    response = HttpResponse(status=204)
    for name, value in PREFLIGHT.items():
        response[name] = value
    return response


def _body(request: HttpRequest) -> dict[str, Any] | HttpResponse:
    try:
        raw = request.body
    except RequestDataTooBig:
        raw = b"x" * (MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return _error("too_large", "The launch request is too large.", 413)
    try:
        body = json.loads(raw or b"")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _error("bad_request", "Send a JSON object: {\"token\", \"course\", "
                      "\"learner\", \"au_url\", …}.", 400)
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = False,
          limit: int = 2000) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise LaunchRefused("bad_request", f'"{name}" must be a string'
                            + (" (required)" if required else "") + ".", 400)
    return value


@csrf_exempt
def launch(request: HttpRequest) -> HttpResponse:
    from coursewright.cmi5.launching import launch_au

    if request.method == "OPTIONS":
        return _preflight()
    if request.method != "POST":
        response = _error("method_not_allowed", "Launch with POST.", 405)
        response["Allow"] = "POST, OPTIONS"
        return response
    body = _body(request)
    if isinstance(body, HttpResponse):
        return body
    origin = request.headers.get("Origin")
    try:
        wanted = LaunchRequest(
            token=_text(body, "token", required=True, limit=4000),
            course=_text(body, "course", required=True, limit=100),
            learner=_text(body, "learner", limit=255),
            au_url=_text(body, "au_url", required=True),
            au=_text(body, "au"), layout=_text(body, "layout") or "course",
            launch_mode=_text(body, "launch_mode") or "Normal",
            return_url=_text(body, "return_url"), origin=origin)
        started = launch_au(wanted)
    except LaunchRefused as refused:
        return _error(refused.code, refused.message, refused.status,
                      cors=origin if refused.origin_allowed and origin else None)
    except Exception:
        logger.exception("the cmi5 launching system could not launch")
        return _error("unavailable", "Launching is not possible right now; please try "
                                     "again in a few minutes.", 503)
    return _json({"launch": {"url": started.url, "registration": started.registration,
                             "session_id": started.session_id,
                             "activity_id": started.activity_id,
                             "expires_at": started.expires_at.isoformat()}}, 200,
                 cors=origin)


@csrf_exempt
def fetch(request: HttpRequest, secret: str) -> HttpResponse:
    if request.method == "OPTIONS":
        return _preflight()
    if request.method != "POST":
        response = _json(fetch_error("2", "Use POST (section 8.2.1)."), 405, cors="*")
        response["Allow"] = "POST, OPTIONS"
        return response
    try:
        answer = fetch_token(secret)
    except Exception:
        logger.exception("the cmi5 fetch URL failed")
        answer = fetch_error("3", "The authorization token cannot be issued right now.")
    return _json(answer, 200, cors="*")


app_name = "cmi5"
urlpatterns: list[URLPattern] = [
    path("cmi5/v1/launch", launch, name="launch"),
    path("cmi5/v1/fetch/<str:secret>", fetch, name="fetch"),
    path("cmi5/v1/xapi/<path:resource>", listener, name="listener"),
]

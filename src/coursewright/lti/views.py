"""The LTI 1.3 tool over HTTP (plain Django views, inside the LMS's iframe: no cookies,
no session, no CSRF token — the platform's signed id_token and our single-use state are
the credentials).

    GET  /lti/jwks.json                   the tool's public keys (RS256)
    GET  /lti/r/<uid>/config.json         what to enter in the platform (URLs, claims)
    GET|POST /lti/r/<uid>/login           OIDC third-party-initiated login
    POST /lti/r/<uid>/launch              the id_token (resource link or deep linking)
    POST /lti/r/<uid>/deep-link           the instructor's choice → signed response
    GET  /lti/assets/<name>               the pages' scripts and styles (no inline: CSP)

A refusal is a friendly page with a code (4xx, or 503 when the platform's key set cannot
be fetched), never a 500, and leaves a launch event (``LaunchEvent``, reason
``lti_<code>``) under the registration's license, as the Gatekeeper does for its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from coursewright.courses.models import Course
from coursewright.delivery import gatekeeper
from coursewright.delivery.models import (
    Channel,
    ChannelName,
    Completion,
    LaunchEvent,
    LaunchOutcome,
    LaunchProgress,
    LaunchSession,
    LicenseStatus,
)
from coursewright.lti import keys
from coursewright.lti.grades import SCORE_SCOPE
from coursewright.lti.launch import (
    DEEP_LINKING,
    REASONS,
    LaunchRefused,
    ValidLaunch,
    begin_login,
    launch_url,
    learner_id,
    login_url,
    origin_of,
    verify_launch,
)
from coursewright.lti.models import GradeState, LtiLaunch, PlatformRegistration

logger = logging.getLogger(__name__)

JS_DIR = Path(__file__).resolve().parent / "static" / "lti"
DEEP_LINK_SALT = "coursewright.lti.deep-link"
DEEP_LINK_TTL = 3600
MAX_PARAM = 20_000
# what the blocked page says for the Gatekeeper's own refusals
GATEKEEPER_HINTS = {
    "revoked": "The license of this LTI registration was revoked.",
    "suspended": "The license of this LTI registration is suspended.",
    "expired": "The license of this LTI registration has expired.",
    "wrong_course": "The license does not include the course this link names.",
    "not_deployed": "The course has no live (production) version right now.",
    "launch_cap": "The license's launch allowance is used up.",
    "learner_cap": "The license's number of distinct learners is reached.",
    "no_learner": "The platform sent no user (sub), and this license counts learners.",
}


def _csp(frame_ancestors: str = "*", form_action: str = "'none'") -> str:
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'",
        "img-src 'self' data:", "connect-src 'self'", "object-src 'none'",
        "base-uri 'none'", f"form-action {form_action}",
        f"frame-ancestors {frame_ancestors}", "frame-src 'self'"])


def _page(request: HttpRequest, template: str, context: dict[str, Any], *,
          status: int = 200, form_action: str = "'none'") -> HttpResponse:
    response = render(request, template, context, status=status)
    response["Content-Security-Policy"] = _csp(form_action=form_action)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _params(request: HttpRequest) -> dict[str, str]:
    source = request.POST if request.method == "POST" else request.GET
    return {k: v for k, v in source.items() if isinstance(v, str) and len(v) <= MAX_PARAM}


def _registration(uid: str) -> PlatformRegistration | None:
    try:
        return (PlatformRegistration.objects.select_related("license", "org")
                .filter(uid=uid, active=True).first())
    except (ValueError, TypeError):
        return None
    except Exception:  # a malformed uuid on some backends
        return None


def refused_page(request: HttpRequest, code: str, *, status: int = 403,
                 registration: PlatformRegistration | None = None,
                 message: str = "", hint: str = "", record: bool = True) -> HttpResponse:
    """The page a refused login or launch shows, and its launch event."""
    learner_text, admin_hint = REASONS.get(code, ("This course could not be opened.", ""))
    if record and registration is not None:
        LaunchEvent.objects.create(
            org_id=registration.org_id, license_id=registration.license_id,
            outcome=LaunchOutcome.BLOCKED, reason=f"lti_{code}"[:40],
            origin=(request.headers.get("Origin") or "")[:300])
    return _page(request, "lti/refused.html", {
        "code": code, "message": message or learner_text, "admin_hint": hint or admin_hint,
    }, status=status)


def _uid_or_404(uid: str) -> PlatformRegistration:
    found = _registration(uid)
    if found is None:
        raise Http404
    return found


# --- keys and configuration ---------------------------------------------------------------


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(keys.jwks())
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def config(request: HttpRequest, uid: str) -> HttpResponse:
    """The values a platform administrator enters (public: they are URLs)."""
    reg = _registration(uid)
    if reg is None:
        return JsonResponse({"error": {"code": "not_found", "message": "not found",
                                       "details": []}}, status=404)
    return JsonResponse(tool_settings(reg))


def tool_settings(reg: PlatformRegistration) -> dict[str, Any]:
    return {
        "title": "coursewright", "login_url": login_url(reg), "launch_url": launch_url(reg),
        "redirect_uris": [launch_url(reg)], "deep_linking_url": launch_url(reg),
        "jwks_url": settings.BASE_URL + reverse("lti:jwks"),
        "scopes": [SCORE_SCOPE, "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"],
        "privacy": "The tool needs no name, e-mail or picture: set the platform not to "
                   "send them (it ignores them if sent).",
        "custom_parameters": "none needed; deep linking sets 'course' on each link",
    }


# --- login --------------------------------------------------------------------------------


@csrf_exempt
@xframe_options_exempt
def login(request: HttpRequest, uid: str) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, POST"
        return response
    reg = _registration(uid)
    if reg is None:
        return refused_page(request, "unknown_registration", status=404)
    try:
        start = begin_login(reg, _params(request))
    except LaunchRefused as refused:
        return refused_page(request, refused.code, status=refused.status, registration=reg)
    except Exception:
        logger.exception("LTI login of registration %s failed", reg.pk)
        return refused_page(request, "unavailable", status=503, record=False)
    if not start.storage_target:
        response = HttpResponse(status=302)
        response["Location"] = start.redirect
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response
    # the platform offers its storage: keep the state's secret there, then go on
    return _page(request, "lti/login.html", {"config": json.dumps({
        "target": start.storage_target, "origin": start.platform_origin,
        "key": start.storage_key, "value": start.storage_secret,
        "next": start.redirect}).replace("<", "\\u003c")})


# --- launch -------------------------------------------------------------------------------


@csrf_exempt
@xframe_options_exempt
def launch(request: HttpRequest, uid: str) -> HttpResponse:
    if request.method != "POST":
        response = refused_page(request, "bad_request", status=405, record=False)
        response["Allow"] = "POST"
        return response
    reg = _registration(uid)
    if reg is None:
        return refused_page(request, "unknown_registration", status=404)
    params = _params(request)
    try:
        valid = verify_launch(reg, params)
    except LaunchRefused as refused:
        return refused_page(request, refused.code, status=refused.status, registration=reg)
    except Exception:
        logger.exception("LTI launch of registration %s could not be checked", reg.pk)
        return refused_page(request, "unavailable", status=503, record=False)
    try:
        if valid.message_type == DEEP_LINKING:
            return _deep_link_picker(request, valid)
        return _resource_launch(request, valid, params.get("state", ""))
    except Exception:
        logger.exception("LTI launch of registration %s failed after verification", reg.pk)
        return refused_page(request, "unavailable", status=503, record=False)


def _course_uid(valid: ValidLaunch) -> str:
    wanted = valid.custom.get("course", "")
    if not wanted and valid.target_link_uri:
        wanted = parse_qs(urlsplit(valid.target_link_uri).query).get("course", [""])[0]
    return wanted[:100]


def _storage(valid: ValidLaunch, state: str) -> dict[str, str]:
    """What the page needs to check the platform's storage (nothing when not used)."""
    from coursewright.lti.launch import storage_key

    if not valid.storage_hash:
        return {}
    return {"key": storage_key(state), "hash": valid.storage_hash,
            "origin": origin_of(valid.registration.auth_url),
            "target": valid.storage_target}


def _resource_launch(request: HttpRequest, valid: ValidLaunch, state: str) -> HttpResponse:
    reg = valid.registration
    course_uid = _course_uid(valid)
    if not course_uid:
        return refused_page(request, "no_course", status=400, registration=reg)
    if valid.teaching:
        return _instructor_page(request, valid, course_uid)
    decision = gatekeeper.launch_for_license(
        reg.license.uid, course_uid=course_uid, learner_id=learner_id(reg, valid.subject),
        origin=request.headers.get("Origin"))
    if not decision.allowed:
        return refused_page(request, decision.reason, registration=reg, record=False,
                            message=decision.message,
                            hint=GATEKEEPER_HINTS.get(decision.reason, ""))
    session = LaunchSession.objects.get(
        secret_hash=hashlib.sha256(decision.session.encode()).hexdigest())
    lineitem = valid.ags.get("lineitem")
    scopes = [s for s in valid.ags.get("scope", []) if isinstance(s, str)][:10] \
        if isinstance(valid.ags.get("scope"), list) else []
    grading = isinstance(lineitem, str) and bool(lineitem) and SCORE_SCOPE in scopes
    LtiLaunch.objects.create(
        org_id=reg.org_id, registration=reg, session=session, course_id=session.course_id,
        learner=session.learner, deployment_id=valid.deployment_id[:255],
        resource_link_id=valid.resource_link_id,
        lineitem_url=str(lineitem)[:2000] if grading else "", scopes=scopes,
        subject=valid.subject if grading else None, grade_state=GradeState.NONE)
    seed = {"origin": origin_of(settings.BASE_URL),
            "values": _seed(session, valid.custom.get("module", "")[:100])}
    frame = (reverse("delivery:play", args=[decision.session]) + "?relay=scorm2004&host=self"
             + "#cw-seed=" + quote(json.dumps(seed, separators=(",", ":"))))
    course = Course.objects.filter(pk=session.course_id).first()
    return _page(request, "lti/play.html", {
        "title": course.title if course else "Course",
        "config": json.dumps({"frame": frame, "storage": _storage(valid, state)})
        .replace("<", "\\u003c")})


def _seed(session: LaunchSession, module: str = "") -> dict[str, str]:
    """The runtime's starting values: the learner's unfinished attempt on this course and
    license from its bookmark (the Gatekeeper kept its version), or a fresh one — at the
    module the link names, if any (the player opens the screen the bookmark names)."""
    latest = (LaunchProgress.objects
              .filter(license_id=session.license_id, course_id=session.course_id,
                      learner=session.learner, version_id=session.version_id)
              .exclude(session_id=session.pk).order_by("-id").first()
              if session.learner else None)
    if latest is None or latest.completion == Completion.COMPLETED or not latest.location:
        if module:
            return {"cmi.entry": "resume", "cmi.mode": "normal", "cmi.location": module}
        return {"cmi.entry": "ab-initio", "cmi.mode": "normal"}
    return {"cmi.entry": "resume", "cmi.mode": "normal",
            "cmi.completion_status": "incomplete", "cmi.location": latest.location}


def _instructor_page(request: HttpRequest, valid: ValidLaunch,
                     course_uid: str) -> HttpResponse:
    reg = valid.registration
    license = reg.license
    try:
        course = license.courses.filter(uid=course_uid).first()
    except Exception:  # not a uuid
        course = None
    live = (Channel.objects.filter(course=course, name=ChannelName.PRODUCTION)
            .select_related("current__version").first() if course else None)
    expired = license.expires_at is not None and license.expires_at <= timezone.now()
    return _page(request, "lti/instructor.html", {
        "course": course, "version": live.current.version.number if live else None,
        "license": license, "license_ok": license.status == LicenseStatus.ACTIVE
        and not expired, "expired": expired,
        "grading": bool(valid.ags.get("lineitem")),
    })


# --- deep linking -------------------------------------------------------------------------


def _offered(reg: PlatformRegistration) -> list[Course]:
    """The license's courses with a production deployment."""
    live = Channel.objects.filter(name=ChannelName.PRODUCTION).values("course_id")
    return sorted(reg.license.courses.filter(pk__in=live), key=lambda c: c.title.lower())


def _deep_link_picker(request: HttpRequest, valid: ValidLaunch) -> HttpResponse:
    reg = valid.registration
    if not valid.teaching:
        return refused_page(request, "not_instructor", registration=reg)
    settings_claim = valid.deep_linking
    return_url = settings_claim.get("deep_link_return_url")
    if not isinstance(return_url, str) or not return_url.startswith(("https://", "http://")):
        return refused_page(request, "wrong_message", status=400, registration=reg)
    context = signing.dumps({
        "r": reg.pk, "d": valid.deployment_id, "u": return_url,
        "data": settings_claim.get("data"),
        "multiple": bool(settings_claim.get("accept_multiple") in (True, "true")),
        "lineitem": bool(settings_claim.get("accept_lineitem", True) in (True, "true")),
    }, salt=DEEP_LINK_SALT, compress=True)
    courses = _offered(reg)
    return _page(request, "lti/picker.html", {
        "courses": [{"course": c, "screens": _screens(c)} for c in courses],
        "context": context, "action": reverse("lti:deep_link", args=[reg.uid]),
        "license": reg.license,
    }, form_action="'self'")


def _screens(course: Course) -> list[tuple[str, str]]:
    live = (Channel.objects.filter(course=course, name=ChannelName.PRODUCTION)
            .select_related("current__version").first())
    if live is None:
        return []
    content = live.current.version.content or {}
    screens = content.get("screens", []) if isinstance(content, dict) else []
    return [(str(s["id"])[:100], str(s.get("title", ""))[:200]) for s in screens
            if isinstance(s, dict) and s.get("id")][:200]


@csrf_exempt
@xframe_options_exempt
def deep_link(request: HttpRequest, uid: str) -> HttpResponse:
    """The instructor's choice: a signed LtiDeepLinkingResponse, posted to the platform."""
    if request.method != "POST":
        return refused_page(request, "bad_request", status=405, record=False)
    reg = _registration(uid)
    if reg is None:
        return refused_page(request, "unknown_registration", status=404)
    try:
        context = signing.loads(request.POST.get("context", ""), salt=DEEP_LINK_SALT,
                                max_age=DEEP_LINK_TTL)
    except signing.BadSignature:
        return refused_page(request, "state_unknown", status=400, registration=reg)
    if not isinstance(context, dict) or context.get("r") != reg.pk:
        return refused_page(request, "state_unknown", status=400, registration=reg)
    offered = {str(c.uid): c for c in _offered(reg)}
    course = offered.get(request.POST.get("course", ""))
    if course is None:
        return refused_page(request, "no_course", status=400, registration=reg)
    module = request.POST.get("module", "")[:100]
    screens = dict(_screens(course))
    if module and module not in screens:
        return refused_page(request, "no_course", status=400, registration=reg)
    graded = request.POST.get("graded") == "yes" and context.get("lineitem", True)
    jwt = deep_link_response(reg, context, course, module=module, graded=bool(graded),
                             module_title=screens.get(module, ""))
    return _page(request, "lti/deep_link_return.html", {
        "return_url": context["u"], "jwt": jwt, "course": course,
    }, form_action=origin_of(context["u"]))


def deep_link_response(reg: PlatformRegistration, context: dict[str, Any], course: Course,
                       *, module: str, graded: bool, module_title: str = "") -> str:
    """The signed response: one ltiResourceLink to this registration's launch URL, the
    course (and module) in its custom parameters, with a line item when graded; ``data``
    echoed as the platform sent it."""
    custom = {"course": str(course.uid)}
    title = course.title
    if module:
        custom["module"] = module
        title = f"{course.title}: {module_title}" if module_title else course.title
    item: dict[str, Any] = {"type": "ltiResourceLink", "title": title[:255],
                            "url": launch_url(reg), "custom": custom}
    if graded:
        item["lineItem"] = {"scoreMaximum": 100, "label": title[:255],
                            "resourceId": str(course.uid)}
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": reg.client_id, "aud": reg.issuer, "iat": now, "exp": now + 600,
        "nonce": secrets.token_urlsafe(24),
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": context["d"],
        "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiDeepLinkingResponse",
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items": [item],
    }
    if context.get("data") is not None:
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] = context["data"]
    return keys.sign(claims)


# --- scripts ------------------------------------------------------------------------------


ASSETS = {"login.js": "text/javascript", "play.js": "text/javascript",
          "return.js": "text/javascript", "lti.css": "text/css"}


@cache
def _asset(name: str) -> bytes:
    return (JS_DIR / name).read_bytes()


@require_GET
def asset(request: HttpRequest, name: str) -> HttpResponse:
    if name not in ASSETS:
        raise Http404
    response = HttpResponse(_asset(name), content_type=ASSETS[name])
    response["Cache-Control"] = "public, max-age=300"
    return response


app_name = "lti"
urlpatterns: list[URLPattern] = [
    path("lti/jwks.json", jwks, name="jwks"),
    path("lti/assets/<str:name>", asset, name="asset"),
    path("lti/r/<str:uid>/config.json", config, name="config"),
    path("lti/r/<str:uid>/login", login, name="login"),
    path("lti/r/<str:uid>/launch", launch, name="launch"),
    path("lti/r/<str:uid>/deep-link", deep_link, name="deep_link"),
]

"""What a launched course reports back: progress, completion and score, and runtime errors.

    POST /launch/v1/progress   {format, values}           X-Coursewright-Session → 204
    POST /launch/v1/errors     {kind, message, detail}    X-Coursewright-Session → 204

Design, and what it guarantees:

- **Only a live launch session may report.** Both endpoints take the session credential
  the Gatekeeper handed out (header ``X-Coursewright-Session``; the credential itself is
  never stored, only its SHA-256) and check it with ``gatekeeper.live_session`` on every
  call — in the database, uncached — so a report for an expired session, or for a
  license revoked or suspended since, is refused like a launch would be. A report is
  always filed under the session's organisation, license, course, deployment, version
  and hashed learner: nothing in the body can move it elsewhere.
- **The platform interprets the runtime, not the browser.** The relay in the course page
  sends the SCORM values as the course set them (``cmi.core.lesson_status``,
  ``cmi.completion_status``, ``cmi.score.*`` …); ``interpret`` maps them, per format, to
  completion, success, a scaled score and progress. Unknown elements are ignored, and
  no learner name can arrive: the relay's cache never holds it.
- **Records do not go backwards.** A completed attempt stays completed (its first
  completion time is kept); success and score take the latest reported value.
- **Bounded.** Bodies are small (8 KiB), messages are cut to 500 characters, a session
  files at most ``MAX_ERRORS_PER_SESSION`` error reports (then 429), and progress is one
  row per session updated in place.
- **Not audit rows.** Like launch events, these are learner runtime records with a
  retention rule of their own (launch and error logs; learner records), kept out of the
  audit log, which records what people do to the organisation's data.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from coursewright.delivery import gatekeeper
from coursewright.delivery.models import (
    Completion,
    LaunchProgress,
    LaunchSession,
    PlayerError,
    PlayerErrorKind,
    Success,
)
from coursewright.webhooks.events import progress_events

SESSION_HEADER = "X-Coursewright-Session"
MAX_BODY = 8 * 1024
MAX_MESSAGE = 500
MAX_ERRORS_PER_SESSION = 50
FORMATS = ("scorm12", "scorm2004")


def _error(code: str, message: str, status: int) -> HttpResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "details": []}},
                            status=status)
    response["Cache-Control"] = "no-store"
    return response


def _no_content() -> HttpResponse:
    response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response


def _body(request: HttpRequest) -> dict[str, Any] | HttpResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return _error("too_large", "The report is too large.", 413)
    try:
        raw = request.body
    except RequestDataTooBig:
        return _error("too_large", "The report is too large.", 413)
    if len(raw) > MAX_BODY:
        return _error("too_large", "The report is too large.", 413)
    try:
        body = json.loads(raw or b"")
    except ValueError:
        return _error("bad_request", "Send a JSON object.", 400)
    if not isinstance(body, dict):
        return _error("bad_request", "The body must be a JSON object.", 400)
    return body


def _session(request: HttpRequest) -> LaunchSession | HttpResponse:
    if request.method != "POST":
        response = _error("method_not_allowed", "Report with POST.", 405)
        response["Allow"] = "POST"
        return response
    found = gatekeeper.live_session(request.headers.get(SESSION_HEADER, ""))
    if found is None:
        return _error("session_expired", "The launch session expired or the license "
                                         "changed; launch the course again.", 403)
    return found


# --- interpreting the runtime's values -------------------------------------------------


def _number(value: Any) -> float | None:
    if not isinstance(value, str) or not value.strip() or len(value) > 30:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _clamp(value: float | None) -> float | None:
    return None if value is None else min(1.0, max(0.0, value))


def _scaled(raw: float | None, low: float | None, high: float | None) -> float | None:
    if raw is None:
        return None
    if low is not None and high is not None and high > low:
        return _clamp((raw - low) / (high - low))
    return _clamp(raw / 100)  # SCORM 1.2's convention when min/max are not set: 0..100


SCORM12_STATUS = {
    "passed": (Completion.COMPLETED, Success.PASSED),
    "failed": (Completion.COMPLETED, Success.FAILED),
    "completed": (Completion.COMPLETED, Success.UNKNOWN),
    "incomplete": (Completion.INCOMPLETE, Success.UNKNOWN),
    "browsed": (Completion.INCOMPLETE, Success.UNKNOWN),
    "not attempted": (Completion.NOT_ATTEMPTED, Success.UNKNOWN),
}
SCORM2004_COMPLETION = {"completed": Completion.COMPLETED, "incomplete": Completion.INCOMPLETE,
                        "not attempted": Completion.NOT_ATTEMPTED,
                        "unknown": Completion.UNKNOWN}
SCORM2004_SUCCESS = {"passed": Success.PASSED, "failed": Success.FAILED,
                     "unknown": Success.UNKNOWN}


def interpret(fmt: str, values: dict[str, Any]) -> dict[str, Any]:
    """Completion, success, scaled score and progress from a format's runtime values
    and the bookmark (the screen the learner is on; only what the values say; absent
    elements are left out)."""
    out: dict[str, Any] = {}
    if fmt == "scorm12":
        status = values.get("cmi.core.lesson_status")
        if isinstance(status, str) and status in SCORM12_STATUS:
            out["completion"], out["success"] = SCORM12_STATUS[status]
        score = _scaled(_number(values.get("cmi.core.score.raw")),
                        _number(values.get("cmi.core.score.min")),
                        _number(values.get("cmi.core.score.max")))
    else:
        completion = values.get("cmi.completion_status")
        if isinstance(completion, str) and completion in SCORM2004_COMPLETION:
            out["completion"] = SCORM2004_COMPLETION[completion]
        success = values.get("cmi.success_status")
        if isinstance(success, str) and success in SCORM2004_SUCCESS:
            out["success"] = SCORM2004_SUCCESS[success]
        score = _clamp(_number(values.get("cmi.score.scaled")))
        if score is None:
            score = _scaled(_number(values.get("cmi.score.raw")),
                            _number(values.get("cmi.score.min")),
                            _number(values.get("cmi.score.max")))
        progress = _clamp(_number(values.get("cmi.progress_measure")))
        if progress is not None:
            out["progress"] = progress
    if score is not None:
        out["score"] = score
    location = values.get("cmi.core.lesson_location" if fmt == "scorm12" else "cmi.location")
    if isinstance(location, str) and location and len(location) <= 100:
        out["location"] = location
    if out.get("completion") == Completion.COMPLETED:
        out["progress"] = 1.0
    return out


# --- the actions ----------------------------------------------------------------------


def record_progress(session: LaunchSession, fmt: str, values: dict[str, Any]) -> LaunchProgress:
    """File what the session's runtime reported (one row per session, updated in place;
    a completed attempt stays completed)."""
    now = timezone.now()
    with transaction.atomic():
        row = (LaunchProgress.objects.select_for_update().filter(session=session).first()
               or LaunchProgress(org_id=session.org_id, session=session,
                                 license_id=session.license_id, course_id=session.course_id,
                                 deployment_id=session.deployment_id,
                                 version_id=session.version_id, learner=session.learner,
                                 created_at=now))
        apply_report(row, fmt, values, now=now)
    return row


def apply_report(row: LaunchProgress, fmt: str, values: dict[str, Any], *,
                 now: datetime) -> None:
    """File one report of a runtime's values on ``row`` and save it, with the webhook
    events it causes (inside the caller's transaction, the row locked). Shared by launch
    sessions and embedded players (``embed.playing``)."""
    facts = interpret(fmt, values)
    completion = facts.get("completion")
    if completion and row.completion != Completion.COMPLETED:
        row.completion = completion
        if completion == Completion.COMPLETED:
            row.completed_at = now
    if facts.get("success") and facts["success"] != Success.UNKNOWN:
        row.success = facts["success"]
    if "score" in facts:
        row.score = facts["score"]
    if "progress" in facts:
        row.progress = max(row.progress or 0.0, facts["progress"])
    if "location" in facts:
        row.location = facts["location"]
    row.reports += 1
    row.updated_at = now
    row.save()
    progress_events(row, completed=row.completed_at == now)  # webhooks: first, completed


def record_player_error(session: LaunchSession, kind: str, message: str,
                        detail: str = "") -> PlayerError | None:
    """File a runtime error of the session; None when the session has used its quota."""
    if PlayerError.objects.filter(session=session).count() >= MAX_ERRORS_PER_SESSION:
        return None
    return PlayerError.objects.create(
        org_id=session.org_id, session=session, license_id=session.license_id,
        course_id=session.course_id, deployment_id=session.deployment_id,
        version_id=session.version_id, learner=session.learner, kind=kind,
        message=message[:MAX_MESSAGE], detail=detail[:MAX_MESSAGE] or None)


# --- the endpoints --------------------------------------------------------------------


@csrf_exempt
def progress(request: HttpRequest) -> HttpResponse:
    session = _session(request)
    if isinstance(session, HttpResponse):
        return session
    body = _body(request)
    if isinstance(body, HttpResponse):
        return body
    fmt, values = body.get("format"), body.get("values")
    if fmt not in FORMATS:
        return _error("bad_request", f'"format" must be one of {", ".join(FORMATS)}.', 400)
    if not isinstance(values, dict):
        return _error("bad_request", '"values" must be an object of runtime elements.', 400)
    record_progress(session, str(fmt), values)
    return _no_content()


@csrf_exempt
def errors(request: HttpRequest) -> HttpResponse:
    session = _session(request)
    if isinstance(session, HttpResponse):
        return session
    body = _body(request)
    if isinstance(body, HttpResponse):
        return body
    kind, message, detail = body.get("kind"), body.get("message"), body.get("detail", "")
    if kind not in PlayerErrorKind.values:
        return _error("bad_request",
                      f'"kind" must be one of {", ".join(PlayerErrorKind.values)}.', 400)
    if not isinstance(message, str) or not message.strip():
        return _error("bad_request", '"message" must be a non-empty string.', 400)
    if not isinstance(detail, str):
        return _error("bad_request", '"detail" must be a string.', 400)
    if record_player_error(session, str(kind), message.strip(), detail.strip()) is None:
        response = _error("too_many", "This session has reported enough errors.", 429)
        response["Retry-After"] = "3600"
        return response
    return _no_content()


app_name = "delivery_reports"
urlpatterns: list[URLPattern] = [
    path("launch/v1/progress", progress, name="progress"),
    path("launch/v1/errors", errors, name="errors"),
]

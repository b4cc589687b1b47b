"""Grades back to the LTI platform (Assignment and Grade Services 2.0).

Design note
-----------
- **What is sent.** When the course reports progress for a launch that came with a
  line item (``LaunchProgress`` is saved by ``delivery.reports``; a signal marks the
  launch's grade as pending), the launch's record is sent to ``<lineitem>/scores``:
  ``userId`` (the LTI ``sub``), ``activityProgress`` (``Started``/``InProgress``/
  ``Completed``), ``gradingProgress`` (``FullyGraded`` once completed, else
  ``Pending``), ``scoreGiven``/``scoreMaximum`` (the scaled score times 100; a course
  completed without questions counts as full marks), and the time. Only a change
  (completion, success, score) is sent again.
- **The token.** An OAuth2 client-credentials grant at the registration's token URL,
  authenticated by a ``private_key_jwt`` assertion (RFC 7523: ``iss`` = ``sub`` = our
  client id, ``aud`` = the token URL or the registration's token audience, five minutes,
  a random ``jti``), signed RS256 by the tool's active key (``lti.keys``). The scope
  asked is the score scope, and only when the launch's AGS claim granted it.
- **Through the outbound guard.** The token request and the score POST go through
  ``coursewright.netguard`` (public addresses only, checked when connecting; redirects
  not followed): the platform's URLs come from its administrator and its signed claims.
- **Retries.** A job per pending grade (queued on commit), a job every minute for what is
  due; at most ``MAX_ATTEMPTS`` attempts, backing off ``BACKOFF_BASE`` · 2^(n-1) capped
  at ``BACKOFF_CAP`` with jitter (``coursewright.outbound``), or the platform's
  ``Retry-After``. One worker per launch (a lease). Each failure is filed in the course's
  runtime error log (``delivery.PlayerError``, kind ``lms``) against the launch session,
  with the reason and no secret; the last error and status stay on the launch.
- **The learner's ``sub``** is needed here and nowhere else; it is erased from the launch
  once its grade is sent (or finally failed) and the session has ended
  (``lti.privacy.forget_subjects``).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.db import transaction
from django.utils import timezone

from coursewright import netguard, outbound
from coursewright.delivery.models import (
    Completion,
    LaunchProgress,
    LaunchSession,
    PlayerErrorKind,
)
from coursewright.lti import keys
from coursewright.lti.models import GradeState, LtiLaunch

logger = logging.getLogger(__name__)

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
TIMEOUT = 10.0
MAX_ATTEMPTS = 8
BACKOFF_BASE = 60.0
BACKOFF_CAP = 6 * 3600.0
LEASE = timedelta(minutes=2)
DUE_BATCH = 200


class GradeFailed(Exception):
    def __init__(self, message: str, status: int | None = None,
                 retry_after: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


def wants_grades(launch: LtiLaunch) -> bool:
    return bool(launch.lineitem_url) and SCORE_SCOPE in (launch.scopes or [])


def fingerprint(row: LaunchProgress) -> str:
    return f"{row.completion}|{row.success}|{row.score}"


def mark_pending(row: LaunchProgress) -> None:
    """A launch's progress changed: its grade is to be sent (if it has a line item and
    the change is one the platform sees). Called inside the report's transaction."""
    if row.session_id is None or row.completion == Completion.NOT_ATTEMPTED:
        return
    launch = (LtiLaunch.objects.filter(session_id=row.session_id)
              .only("pk", "lineitem_url", "scopes", "grade_sent", "grade_state").first())
    if launch is None or not wants_grades(launch) or launch.grade_sent == fingerprint(row):
        return
    LtiLaunch.objects.filter(pk=launch.pk).update(
        grade_state=GradeState.PENDING, attempts=0, next_attempt_at=None)
    pk = launch.pk
    transaction.on_commit(lambda: _enqueue(pk))


def _enqueue(launch_id: int) -> None:
    from coursewright.lti.tasks import send_grade_task

    send_grade_task(launch_id)


def due_grades(now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(LtiLaunch.objects.filter(grade_state=GradeState.PENDING)
                .filter(outbound.due(now), outbound.unleased(now))
                .order_by("pk").values_list("pk", flat=True)[:DUE_BATCH])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def score_body(launch: LtiLaunch, row: LaunchProgress) -> dict[str, Any]:
    completed = row.completion == Completion.COMPLETED
    score = row.score if row.score is not None else (1.0 if completed else None)
    body: dict[str, Any] = {
        "userId": launch.subject or "",
        "activityProgress": ("Completed" if completed else
                             "InProgress" if row.reports > 1 else "Started"),
        "gradingProgress": "FullyGraded" if completed else "Pending",
        "timestamp": _iso(row.updated_at),
    }
    if score is not None:
        body["scoreGiven"] = round(score * 100, 2)
        body["scoreMaximum"] = 100
    return body


def _assertion(launch: LtiLaunch) -> str:
    reg = launch.registration
    now = int(time.time())
    return keys.sign({"iss": reg.client_id, "sub": reg.client_id,
                      "aud": reg.token_audience or reg.token_url, "iat": now,
                      "exp": now + 300, "jti": secrets.token_urlsafe(16)})


def _send(url: str, *, method: str, body: bytes, headers: dict[str, str]) -> netguard.Answer:
    try:
        return netguard.send(url, method=method, body=body, headers=headers,
                             timeout=TIMEOUT, follow_redirects=False, max_body=64 * 1024)
    except netguard.UrlRefused as refused:
        raise GradeFailed(f"the outbound guard refused the target: {refused.message}",
                          ) from None
    except (ConnectionError, OSError, ValueError) as exc:
        raise GradeFailed(f"no answer from the platform ({type(exc).__name__})") from None


def access_token(launch: LtiLaunch) -> str:
    form = urlencode({"grant_type": "client_credentials",
                      "client_assertion_type": ASSERTION_TYPE,
                      "client_assertion": _assertion(launch), "scope": SCORE_SCOPE})
    answer = _send(launch.registration.token_url, method="POST", body=form.encode(),
                   headers={"Content-Type": "application/x-www-form-urlencoded",
                            "Accept": "application/json"})
    if answer.status != 200:
        raise GradeFailed(f"the token endpoint answered HTTP {answer.status}", answer.status,
                          answer.headers.get("retry-after", ""))
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise GradeFailed("the token endpoint's answer is not JSON", answer.status) from None
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise GradeFailed("the token endpoint gave no access token", answer.status)
    granted = str(data.get("scope", SCORE_SCOPE)).split()
    if SCORE_SCOPE not in granted:
        raise GradeFailed("the platform did not grant the score scope", answer.status)
    return token


def scores_url(lineitem: str) -> str:
    parts = urlsplit(lineitem)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/scores",
                       parts.query, ""))


def post_score(launch: LtiLaunch, row: LaunchProgress) -> int:
    token = access_token(launch)
    body = json.dumps(score_body(launch, row)).encode()
    answer = _send(scores_url(launch.lineitem_url), method="POST", body=body,
                   headers={"Content-Type": SCORE_TYPE,
                            "Authorization": f"Bearer {token}"})
    if not 200 <= answer.status < 300:
        raise GradeFailed(f"the platform answered HTTP {answer.status} to the score",
                          answer.status, answer.headers.get("retry-after", ""))
    return answer.status


def send_grade(launch_id: int, *, now: datetime | None = None) -> str:
    """One attempt at the launch's pending grade: sent, retry, failed, busy or gone."""
    now = now or timezone.now()
    rows = LtiLaunch.objects.filter(pk=launch_id, grade_state=GradeState.PENDING).filter(
        outbound.due(now))
    token = outbound.claim(rows, now=now, lease=LEASE)
    if token is None:
        return "busy"
    held = LtiLaunch.objects.filter(pk=launch_id, lease_token=token)
    try:
        launch = (LtiLaunch.objects.select_related("registration")
                  .filter(pk=launch_id).first())
        row = (LaunchProgress.objects.filter(session_id=launch.session_id).first()
               if launch is not None and launch.session_id else None)
        if launch is None or row is None:
            return "gone"
        fp = fingerprint(row)
        if fp == launch.grade_sent:
            held.update(grade_state=GradeState.SENT, next_attempt_at=None)
            return "sent"
        number = launch.attempts + 1
        try:
            status = post_score(launch, row)
        except GradeFailed as failed:
            return _failed(launch, held, failed, number, now)
        held.update(grade_state=GradeState.SENT, grade_sent=fp, attempts=number,
                    last_attempt_at=now, last_status=status, last_error="",
                    next_attempt_at=None)
        return "sent"
    finally:
        outbound.release(LtiLaunch.objects.filter(pk=launch_id), token)


def _failed(launch: LtiLaunch, held: Any, failed: GradeFailed, number: int,
            now: datetime) -> str:
    from coursewright.delivery.reports import record_player_error

    error = failed.message[:300]
    changes: dict[str, Any] = {"attempts": number, "last_attempt_at": now,
                               "last_status": failed.status, "last_error": error}
    if number >= MAX_ATTEMPTS:
        result = "failed"
        changes.update(grade_state=GradeState.FAILED, next_attempt_at=None)
    else:
        result = "retry"
        wait = max(outbound.backoff(number, base=BACKOFF_BASE, cap=BACKOFF_CAP),
                   outbound.retry_after(failed.retry_after, cap=BACKOFF_CAP, now=now))
        changes["next_attempt_at"] = now + timedelta(seconds=wait)
    held.update(**changes)
    session = (LaunchSession.objects.filter(pk=launch.session_id).first()
               if launch.session_id is not None else None)
    if session is not None:
        suffix = " (gave up)" if result == "failed" else ", will retry"
        record_player_error(session, PlayerErrorKind.LMS,
                            f"LTI grade passback failed{suffix}: {error}",
                            f"attempt {number} of {MAX_ATTEMPTS}; "
                            f"line item {outbound.shown_url(launch.lineitem_url)}")
    logger.info("LTI grade of launch %s, attempt %d: %s", launch.pk, number, error)
    return result

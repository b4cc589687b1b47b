"""Rate limits on the learner endpoints: per learner session and per version.

Counted in the database (``AssistCall``, no content), so every server process shares
one count, as the sign-in throttle does. A refused call is not counted. The check and
the insert are not one atomic step, so concurrent requests can overshoot a limit by a
few; the limits protect an AI budget, not a security boundary. Rows older than a day
are deleted as new ones arrive.

Limits (calls per window) come from settings with these defaults:
``ASSIST_TUTOR_PER_LEARNER`` 6/min, ``ASSIST_TUTOR_PER_VERSION`` 120/min,
``ASSIST_GRADING_PER_LEARNER`` 5/min, ``ASSIST_GRADING_PER_VERSION`` 60/min.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from coursewright.assist.models import AssistAccess, AssistCall, CallKind
from coursewright.errors import DomainError

WINDOW_SECONDS = 60
DEFAULTS = {
    (CallKind.TUTOR, "learner"): 6,
    (CallKind.TUTOR, "version"): 120,
    (CallKind.GRADING, "learner"): 5,
    (CallKind.GRADING, "version"): 60,
}


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def limit(kind: str, per: str) -> int:
    name = f"ASSIST_{kind.upper()}_PER_{per.upper()}"
    value = getattr(settings, name, DEFAULTS[(CallKind(kind), per)])
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return value


def check_and_count(access: AssistAccess, learner_ref: str, kind: str) -> None:
    """Count one call, or raise ``RateLimited`` with the seconds until one is allowed."""
    now = timezone.now()
    since = now - timedelta(seconds=WINDOW_SECONDS)
    recent = AssistCall.objects.filter(kind=kind, created_at__gt=since)
    for per, rows, what in (
            ("learner", recent.filter(learner_ref=learner_ref, version=access.version),
             "from this session"),
            ("version", recent.filter(version=access.version), "for this course")):
        allowed = limit(kind, per)
        if rows.count() >= allowed:
            oldest = rows.aggregate(first=Min("created_at"))["first"] or now
            wait = (oldest + timedelta(seconds=WINDOW_SECONDS) - now).total_seconds()
            raise RateLimited(
                f"Too many requests {what}: at most {allowed} a minute. "
                f"Try again in {max(1, math.ceil(wait))} seconds.",
                retry_after=max(1, math.ceil(wait)))
    AssistCall.objects.create(org_id=access.org_id, version=access.version,
                              learner_ref=learner_ref, kind=kind)
    AssistCall.objects.filter(created_at__lt=now - timedelta(days=1)).delete()

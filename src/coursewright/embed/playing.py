"""The embedded player: which version a partner's learner plays, and what their player
reports back.

Design, and what it guarantees:

- **Only learners, only their courses, only what a person approved.** An attempt is
  opened with a learner-scope embed token for one of the courses it names
  (:func:`open_attempt`); another organisation's course, a course the token does not
  name, or an unknown uid is a 404. The version played is the course's latest
  *published* one (publishing comes after a reviewer's approval); a course with none is
  a 409 ``not_published``.
- **The attempt is the platform's progress record.** It is a ``delivery.LaunchProgress``
  row with no license, launch session or deployment, keyed to the learner as the keyed
  hash of the partner's id (``embed.actions.subject_digest``: HMAC-SHA256 under a key
  derived from the organisation's data key; the id itself is never stored). So the
  completion records (API, dashboard, CSV), retention, exports, learner deletion and
  the ``course.commenced`` / ``course.completed`` webhooks treat it like a launch's
  record, and reports are interpreted by the launch path's own code
  (``delivery.reports.apply_report``: SCORM 2004 values → completion, success, score,
  progress, bookmark; a completed attempt stays completed).
- **Opening is recorded.** Opening the player makes the record (not attempted, no
  report yet), as a launch is logged; the first report makes it commenced.
- **Resuming.** A learner whose latest embedded attempt on the course is not completed
  goes on with it — same version, from its bookmark — like a Gatekeeper launch; after a
  completion, opening the player starts a new attempt on the current version.
- **Reports belong to their learner.** An attempt is found by its id *and* the token's
  organisation, learner hash and courses, with no license and no session
  (:func:`report_progress`): anything else is a 404, so a token cannot file progress on
  another learner's attempt, or on a launch's.
- **Not audit rows.** Like launches' progress reports (``delivery.reports``), these are
  learner runtime records with a retention rule of their own, kept out of the audit
  log.
- **The page.** The player's SCORM 2004 build of the version (``delivery.content.
  course_page``), its files by signed URLs valid until the token expires (at most
  ``COURSEWRIGHT_CONTENT_URL_TTL``); the embedded page provides the SCORM API it talks
  to and sends the reports here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from django.db import transaction
from django.utils import timezone

from coursewright.courses.models import Course, CourseVersion, VersionState
from coursewright.delivery.models import Completion, LaunchProgress
from coursewright.embed.actions import subject_digest
from coursewright.errors import Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from coursewright.embed.auth import EmbedPrincipal

FORMAT: Literal["scorm2004"] = "scorm2004"


@dataclass(frozen=True)
class Attempt:
    row: LaunchProgress
    course: Course
    version: CourseVersion
    resumed: bool
    page: str


@dataclass(frozen=True)
class Report:
    row: LaunchProgress
    commenced: bool  # this was the attempt's first report
    completed: bool  # this report completed it


def _learner(principal: EmbedPrincipal) -> str:
    if principal.scope != "learner":
        raise Forbidden(f"This embed token's scope ({principal.scope}) does not allow "
                        "playing courses; the player needs a learner token.",
                        code="insufficient_scope")
    return subject_digest(principal.org, principal.user)


def _course(principal: EmbedPrincipal, course_uid: str) -> Course:
    try:
        uid = uuid.UUID(str(course_uid))
    except ValueError:
        raise NotFound("course not found") from None
    course = Course.objects.filter(org=principal.org, uid=uid).select_related("org").first()
    if course is None or not principal.may_reach(course):
        raise NotFound("course not found")
    return course


def _unfinished(course: Course, learner: str) -> LaunchProgress | None:
    latest = (LaunchProgress.objects
              .filter(org_id=course.org_id, course=course, learner=learner,
                      license__isnull=True, session__isnull=True)
              .select_related("version").order_by("-id").first())
    if (latest is None or latest.completion == Completion.COMPLETED or latest.version is None
            or latest.version.state not in (VersionState.APPROVED, VersionState.PUBLISHED)):
        return None
    return latest


def seed_values(row: LaunchProgress, *, resumed: bool) -> dict[str, str]:
    """What the page's SCORM API answers before the player has set anything: a fresh
    attempt, or the bookmark and status of the one being resumed (no learner name: the
    platform has none)."""
    if not resumed:
        return {"cmi.entry": "ab-initio", "cmi.mode": "normal"}
    values = {"cmi.entry": "resume", "cmi.mode": "normal",
              "cmi.completion_status": "incomplete"}
    if row.location:
        values["cmi.location"] = row.location
    return values


def open_attempt(principal: EmbedPrincipal, course_uid: str) -> Attempt:
    """The learner's attempt on the course (resumed, or new on the latest published
    version) and the player page for it."""
    from coursewright.courses.actions import validate_content
    from coursewright.delivery.content import course_page, version_files

    learner = _learner(principal)
    course = _course(principal, course_uid)
    now = timezone.now()
    with transaction.atomic():
        row = _unfinished(course, learner)
        resumed = row is not None
        if row is None:
            version = (CourseVersion.objects.filter(course=course, state=VersionState.PUBLISHED)
                       .order_by("-published_at", "-number").first())
            if version is None:
                raise Conflict("This course has no published version yet: it can be played "
                               "once a reviewer has approved it and it is published.",
                               code="not_published")
            row = LaunchProgress.objects.create(
                org_id=course.org_id, course=course, version=version, learner=learner,
                created_at=now, updated_at=now)
        assert row.version is not None
        version = row.version
    version.org = course.org
    content = validate_content(version.content)
    until = datetime.fromtimestamp(principal.claims.exp, UTC)
    files = version_files(version, until=until, content=content)
    page = course_page(version, content=content, fmt=FORMAT, urls=files.urls)
    return Attempt(row=row, course=course, version=version, resumed=resumed, page=page)


def report_progress(principal: EmbedPrincipal, attempt_id: int,
                    values: dict[str, Any]) -> Report:
    """File what the embedded player's runtime reported on the learner's attempt."""
    from coursewright.delivery.reports import apply_report

    learner = _learner(principal)
    now = timezone.now()
    with transaction.atomic():
        row = (LaunchProgress.objects.select_for_update()
               .filter(pk=attempt_id, org_id=principal.org.pk, learner=learner,
                       license__isnull=True, session__isnull=True).first())
        if row is None:
            raise NotFound("attempt not found")
        course = Course.objects.filter(pk=row.course_id).first()
        if course is None or not principal.may_reach(course):
            raise NotFound("attempt not found")
        apply_report(row, FORMAT, values, now=now)
    return Report(row=row, commenced=row.reports == 1, completed=row.completed_at == now)

"""Deployments: which approved version each channel of a course serves, and how it got there.

A course has two channels. **Staging** is where a team tries a version; **production** is
what learners get. Three actions move a channel, each in one transaction that writes one
new ``Deployment`` row (the history step), moves ``Channel.current`` to it and writes one
audit row:

- ``deploy_to_staging(version)`` — an approved or published version goes to staging.
- ``promote(course)`` — staging's current deployment becomes production's.
- ``rollback(course, channel, to)`` — an earlier deployment of that channel becomes
  current again (a new step pointing at the same version, so the history only grows).

Who may (checked here, so every caller — API, dashboard, a future CLI — gets the same
answer; the pages only hide what would be refused):

- Staging (deploy, roll back): a signed-in owner, admin or author of the course's
  organisation, or that organisation's API key (it acts as an author, so CI can deploy
  for testing). Staging changes nothing a learner sees, and only a version a reviewer
  approved can get there at all.
- Production (promote, roll back): a signed-in owner or admin only. Never an API key,
  an author, a reviewer or a job: production is what learners get, so moving it is a
  decision a named person with authority over the organisation takes and answers for.
- Promote and rollback need a reason (1 to 500 characters after trimming); deploy takes an
  optional one. Reasons are stored encrypted under the organisation's key and travel into
  the history, its exports and the audit row.

Guarantees:

- History is append-only: nothing here updates or deletes a ``Deployment`` row, so a
  launch session may keep pointing at the deployment it started on (learners in the
  middle of an attempt stay on their version) while the channel moves on.
- ``Channel.current`` moves only by a conditional update from the deployment the action
  read to the new one (created race-safely on the first deploy, under the unique
  constraint), so of two concurrent promoters exactly one wins; the other gets 409
  ``conflict`` and its transaction rolls back, history row included.
- ``promote`` may be told which staging deployment the person saw
  (``expected_staging``); if staging moved meanwhile it refuses (409 ``staging_changed``)
  rather than put an unseen version in front of learners.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from coursewright.audit.actions import record_event, record_read
from coursewright.audit.actor import Actor
from coursewright.courses.models import IMMUTABLE_STATES, Course, CourseVersion
from coursewright.delivery.models import Channel, ChannelName, Deployment, DeploymentAction
from coursewright.errors import Conflict, Forbidden, Invalid
from coursewright.orgs.models import AUTHORING_ROLES, MANAGING_ROLES, Membership

MAX_REASON = 500
STAGING, PRODUCTION = ChannelName.STAGING, ChannelName.PRODUCTION
CHANNELS = (STAGING, PRODUCTION)


# --- who may ------------------------------------------------------------------------------


def _role(course: Course, actor: Actor) -> str | None:
    if actor.user is None:
        return None
    return (Membership.objects.filter(org_id=course.org_id, user=actor.user)
            .values_list("role", flat=True).first())


def can_change(course: Course, channel: str, actor: Actor) -> bool:
    try:
        check_can_change(course, channel, actor)
    except Forbidden:
        return False
    return True


def check_can_change(course: Course, channel: str, actor: Actor) -> None:
    """Refuse (403) unless ``actor`` may move ``channel`` of ``course`` (module note)."""
    channel = _channel_name(channel)
    if channel == STAGING and actor.api_key is not None:
        if actor.api_key.org_id == course.org_id:
            return
        raise Forbidden("This API key belongs to another organisation.")
    if not actor.is_person:
        raise Forbidden("Only a signed-in person can change production; API keys and "
                        "automated jobs never can." if channel == PRODUCTION else
                        "Only a signed-in person or the organisation's API key can deploy "
                        "to staging.", code="person_required")
    role = _role(course, actor)
    allowed = MANAGING_ROLES if channel == PRODUCTION else AUTHORING_ROLES
    if role not in allowed:
        raise Forbidden("Only an owner or admin of this organisation can promote to or roll "
                        "back production." if channel == PRODUCTION else
                        "Only an owner, admin or author of this organisation can deploy to "
                        "or roll back staging.")


def clean_reason(reason: str | None, *, required: bool) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise Invalid("Say why (a reason is required to promote or roll back); it is kept "
                      "in the deployment history.", code="reason_required")
    if len(text) > MAX_REASON:
        raise Invalid(f"Keep the reason to {MAX_REASON} characters or fewer.",
                      code="reason_too_long")
    return text


def _channel_name(channel: str) -> ChannelName:
    if channel not in CHANNELS:
        raise Invalid("The channel is either staging or production.", code="unknown_channel")
    return ChannelName(channel)


# --- reading ------------------------------------------------------------------------------


def current_deployments(course: Course) -> dict[str, Deployment | None]:
    """Each channel's current deployment (None: nothing deployed there yet)."""
    found: dict[str, Deployment | None] = dict.fromkeys(CHANNELS)
    for ch in (Channel.objects.filter(course=course)
               .select_related("current__version", "current__actor")):
        found[ch.name] = ch.current
    return found


def history(course: Course, channel: str | None = None) -> QuerySet[Deployment]:
    """The course's deployment history, newest first (one channel's if ``channel``)."""
    steps = (Deployment.objects.filter(org_id=course.org_id, course=course)
             .select_related("version", "previous__version", "actor"))
    if channel is not None:
        steps = steps.filter(channel=_channel_name(channel))
    return steps.order_by("-id")


def is_current_version(step: Deployment, current: dict[str, Deployment | None]) -> bool:
    """Whether ``step``'s version is what its channel serves now (nothing to roll back to)."""
    now = current.get(step.channel)
    return now is not None and now.version_id == step.version_id


# --- the actions ------------------------------------------------------------------------


def deploy_to_staging(version: CourseVersion, *, actor: Actor, reason: str = "") -> Deployment:
    course = version.course
    check_can_change(course, STAGING, actor)
    text = clean_reason(reason, required=False)
    if version.state not in IMMUTABLE_STATES:
        raise Conflict(f"Version {version.number} is {version.get_state_display().lower()}: "
                       "only an approved or published version can be deployed.",
                       code="not_approved")
    with transaction.atomic():
        previous = _current(course, STAGING)
        if previous is not None and previous.version_id == version.pk:
            raise Conflict(f"Version {version.number} is already current in staging.",
                           code="already_deployed")
        step = _move(course, STAGING, expected=previous, version=version,
                     action=DeploymentAction.DEPLOY, actor=actor, reason=text)
        _audit(step, previous, actor, "deployment.deployed")
        # the learner-facing files go to storage once the step is committed
        from coursewright.delivery.content import publish_on_commit

        publish_on_commit(version)
    return step


def promote(course: Course, *, actor: Actor, reason: str,
            expected_staging: Deployment | None = None) -> Deployment:
    """Make staging's current deployment production's. ``expected_staging``: the staging
    deployment the person saw when they asked; if staging moved since, nothing happens."""
    check_can_change(course, PRODUCTION, actor)
    text = clean_reason(reason, required=True)
    with transaction.atomic():
        staged = _current(course, STAGING)
        if staged is None:
            raise Conflict("Nothing is deployed to staging yet: deploy a version there first.",
                           code="staging_empty")
        if expected_staging is not None and expected_staging.pk != staged.pk:
            raise Conflict(f"Staging changed while you were deciding: it now serves version "
                           f"{staged.version.number}. Check it, then promote again.",
                           code="staging_changed")
        previous = _current(course, PRODUCTION)
        if previous is not None and previous.version_id == staged.version_id:
            raise Conflict(f"Version {staged.version.number} is already in production.",
                           code="already_in_production")
        step = _move(course, PRODUCTION, expected=previous, version=staged.version,
                     action=DeploymentAction.PROMOTE, actor=actor, reason=text, source=staged)
        _audit(step, previous, actor, "deployment.promoted")
    return step


def rollback(course: Course, channel: str, to: Deployment, *, actor: Actor,
             reason: str) -> Deployment:
    """Serve ``to``'s version in ``channel`` again: ``to`` must be an earlier step of that
    channel of that course, with a version other than the current one."""
    name = _channel_name(channel)
    check_can_change(course, name, actor)
    text = clean_reason(reason, required=True)
    if to.course_id != course.pk or to.org_id != course.org_id or to.channel != name:
        raise Invalid(f"That deployment is not in this course's {name} history; roll back "
                      "to one of the channel's own earlier deployments.",
                      code="not_in_history")
    with transaction.atomic():
        previous = _current(course, name)
        if previous is not None and previous.version_id == to.version_id:
            raise Conflict(f"Version {to.version.number} is already current in {name}.",
                           code="already_current")
        if to.version.state not in IMMUTABLE_STATES:  # versions never leave these; be sure
            raise Conflict("That version is no longer approved.", code="not_approved")
        step = _move(course, name, expected=previous, version=to.version,
                     action=DeploymentAction.ROLLBACK, actor=actor, reason=text, source=to)
        _audit(step, previous, actor, "deployment.rolled_back")
    return step


def _current(course: Course, name: str) -> Deployment | None:
    channel = (Channel.objects.filter(course=course, name=name)
               .select_related("current__version").first())
    return channel.current if channel is not None else None


def _move(course: Course, name: ChannelName, *, expected: Deployment | None,
          version: CourseVersion, action: DeploymentAction, actor: Actor, reason: str,
          source: Deployment | None = None) -> Deployment:
    """Write the history step and move the channel to it, from ``expected`` only."""
    step = Deployment.objects.create(
        org_id=course.org_id, course=course, channel=name, version=version, action=action,
        previous=expected, source=source, reason=reason or None, actor=actor.user,
        actor_label=actor.label)
    if expected is None:
        try:
            with transaction.atomic():  # a savepoint: the unique constraint decides
                Channel.objects.create(org_id=course.org_id, course=course, name=name,
                                       current=step)
        except IntegrityError:
            raise _lost(name) from None
    else:
        moved = Channel.objects.filter(course=course, name=name, current=expected).update(
            current=step, updated_at=timezone.now())
        if not moved:
            raise _lost(name)
    return step


def _lost(name: str) -> Conflict:
    return Conflict(f"Someone else changed {name} at the same moment; nothing was changed. "
                    "Reload to see what it serves now.", code="conflict")


def _audit(step: Deployment, previous: Deployment | None, actor: Actor, action: str) -> None:
    record_event(
        org=step.course.org, actor=actor, action=action, object_type="deployment",
        object_id=step.pk,
        before={"channel": step.channel,
                "deployment": previous.pk if previous is not None else None,
                "version": previous.version.number if previous is not None else None},
        after={"course": step.course_id, "channel": step.channel, "deployment": step.pk,
               "version": step.version.number, "version_id": step.version_id,
               "source": step.source_id, "reason": step.reason or ""})


# --- exporting the history ----------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRecord:
    """One history step as the exports (CSV, JSON) and the org export show it."""

    id: int
    time_utc: str
    channel: str
    action: str
    from_version: int | None
    to_version: int
    from_deployment: int | None
    source_deployment: int | None
    actor: str
    reason: str

    @classmethod
    def of(cls, step: Deployment) -> HistoryRecord:
        before = step.previous
        return cls(id=step.pk,
                   time_utc=step.created_at.astimezone(UTC).isoformat(timespec="seconds"),
                   channel=step.channel, action=step.action,
                   from_version=before.version.number if before is not None else None,
                   to_version=step.version.number, from_deployment=step.previous_id,
                   source_deployment=step.source_id, actor=step.actor_label,
                   reason=step.reason or "")

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CSV_COLUMNS}


CSV_COLUMNS = ("id", "time_utc", "channel", "action", "from_version", "to_version",
               "from_deployment", "source_deployment", "actor", "reason")


def history_records(steps: Iterable[Deployment]) -> Iterator[HistoryRecord]:
    for step in steps:
        yield HistoryRecord.of(step)


def history_csv(records: Iterable[HistoryRecord]) -> Iterator[str]:
    from coursewright.csvexport import csv_lines

    return csv_lines(CSV_COLUMNS, ([getattr(r, name) for name in CSV_COLUMNS]
                                   for r in records))


def history_json(course: Course, records: Iterable[HistoryRecord]) -> str:
    return json.dumps({"course_id": course.pk,
                       "exported_at": _iso(timezone.now()),
                       "history": [r.as_json() for r in records]},
                      indent=2, ensure_ascii=False) + "\n"


def record_export(course: Course, *, actor: Actor, fmt: str) -> None:
    """Exports carry the reasons (protected text): each one is an audit row."""
    record_read(org=course.org, actor=actor, object_type="deployment_history",
                object_id=course.pk, action="deployment_history.exported",
                details={"format": fmt})


def export_filename(course: Course, ext: str) -> str:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return f"deployments-course-{course.pk}-{stamp}.{ext}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")

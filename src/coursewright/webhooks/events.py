"""Recording course events for the organisation's webhook endpoints.

``emit`` is called by the action that makes the event happen, inside its transaction:
a delivery row per active endpoint that subscribes to the event, with the exact body to
send (sealed), and a delivery job queued on commit — so an event is sent exactly when
its change is committed, and never when the change rolls back. An organisation without
an endpoint pays one indexed query (``(org, active)``), nothing more; the event's data is
only built (``data`` may be a function) when some endpoint wants it.

What a payload holds, and what it never does: ids — a course by its id and public uid,
a version by id, uid and number, a license by id — and learners only as the hashed id
the platform keeps (the per-license pseudonym), or a partner's own opaque id for its
embedded users. Never a name, an e-mail address or course content.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from coursewright.webhooks.models import Event, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.courses.models import CourseVersion
    from coursewright.delivery.models import LaunchProgress
    from coursewright.orgs.models import Organisation

Data = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


def emit(org: Organisation | int, event: str, data: Data, *,
         learner: str = "") -> list[WebhookDelivery]:
    """Record ``event`` for every active endpoint of ``org`` that subscribes to it."""
    if event not in Event.values:
        raise ValueError(f"unknown webhook event {event!r}")
    org_id = org if isinstance(org, int) else org.pk
    endpoints = [pk for pk, events in WebhookEndpoint.objects.filter(
        org_id=org_id, active=True).values_list("pk", "events") if event in events]
    if not endpoints:
        return []
    if isinstance(org, int):
        from coursewright.orgs.models import Organisation

        org = Organisation.objects.get(pk=org_id)
    now = timezone.now()
    event_id = uuid.uuid4()
    body = json.dumps({
        "id": str(event_id), "type": event,
        "created": iso(now),
        "org": org.slug,
        "data": dict(data() if callable(data) else data),
    }, separators=(",", ":"), ensure_ascii=False)
    rows = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(org=org, endpoint_id=pk, event=event, event_id=event_id,
                        payload=body, learner=learner, created_at=now)
        for pk in endpoints])
    ids = [row.pk for row in rows]
    transaction.on_commit(lambda: _enqueue(ids))
    return rows


def iso(moment: datetime) -> str:
    """``2026-03-01T09:00:00Z``: UTC, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _enqueue(ids: list[int]) -> None:
    from coursewright.webhooks.tasks import deliver_webhook_task

    for delivery_id in ids:
        deliver_webhook_task(delivery_id)


# --- the events, as the actions report them ---------------------------------------------


def _by(actor: Actor) -> dict[str, Any]:
    """Who did it, without naming anyone: a partner's embedded user by the partner's own
    id, otherwise only the kind of actor."""
    if actor.embed_user is not None:
        return {"type": "embed_user", "id": actor.embed_user}
    if actor.is_person:
        return {"type": "member"}
    return {"type": "api_key" if actor.api_key is not None else "system"}


def _version(version: CourseVersion) -> dict[str, Any]:
    return {"course": {"id": version.course_id, "uid": str(version.course.uid)},
            "version": {"id": version.pk, "uid": str(version.uid),
                        "number": version.number}}


def course_event(event: str, version: CourseVersion, *, actor: Actor) -> None:
    """``course.created`` (its first version) or ``course.published``."""
    emit(version.org_id, event, lambda: {**_version(version), "by": _by(actor)})


def progress_events(row: LaunchProgress, *, completed: bool) -> None:
    """``course.commenced`` on a launch's first report, ``course.completed`` when a
    report moves it to completed (the caller knows: it set ``completed_at`` just now)."""
    if row.reports == 1:
        emit(row.org_id, Event.COURSE_COMMENCED, lambda: _progress(row),
             learner=row.learner)
    if completed:
        emit(row.org_id, Event.COURSE_COMPLETED, lambda: {
            **_progress(row), "success": row.success, "score": row.score,
            "completed_at": iso(row.completed_at) if row.completed_at else None},
            learner=row.learner)


def _progress(row: LaunchProgress) -> dict[str, Any]:
    from coursewright.courses.models import Course

    uid = Course.objects.filter(pk=row.course_id).values_list("uid", flat=True).first()
    return {"course": {"id": row.course_id, "uid": str(uid) if uid else None},
            "version": {"id": row.version_id},
            "license": {"id": row.license_id}, "learner": row.learner or None}

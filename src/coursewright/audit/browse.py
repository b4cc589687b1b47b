"""Reading an organisation's audit log: filters, and the JSON shape of an entry, shared
by the dashboard page, the API and the JSON lines export. Callers check access first;
everything here is limited to the one organisation id it is given."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet

from coursewright.audit.chain import utc_iso
from coursewright.audit.models import ActorKind, AuditEvent
from coursewright.errors import Invalid

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""  # exact, or a prefix ending in "." ("version." = every version.*)
    actor: str = ""  # "user:<id>", "key:<id>", "system", "anonymous" or an email address
    since: date | None = None  # inclusive, UTC
    until: date | None = None  # inclusive, UTC

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items() if v}


def events_for(org_id: int, filters: AuditFilter, *, newest_first: bool = True
               ) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(org_id=org_id)
    action = filters.action.strip()
    if action.endswith("."):
        events = events.filter(action__startswith=action)
    elif action:
        events = events.filter(action=action)
    if filters.actor:
        events = _by_actor(events, filters.actor.strip())
    if filters.since:
        events = events.filter(created_at__gte=datetime.combine(filters.since, time.min, UTC))
    if filters.until:
        events = events.filter(
            created_at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, UTC))
    return events.order_by("-seq" if newest_first else "seq")


def _by_actor(events: QuerySet[AuditEvent], actor: str) -> QuerySet[AuditEvent]:
    kind, _, ident = actor.partition(":")
    if kind in {"user", "key"} and ident.isdigit():
        field = "actor_user_id" if kind == "user" else "actor_api_key_id"
        return events.filter(**{field: int(ident)})
    if actor in {ActorKind.SYSTEM, ActorKind.ANONYMOUS}:
        return events.filter(actor_kind=actor)
    if "@" in actor:
        from coursewright.accounts.models import User

        return events.filter(actor_user__in=User.objects.filter(email__iexact=actor))
    raise Invalid("actor must be user:<id>, key:<id>, system, anonymous or an email address")


def event_record(event: AuditEvent) -> dict[str, Any]:
    """An entry as JSON: what the API returns and each line of the export holds."""
    data = event.payload_data
    readable = isinstance(data, dict)
    return {
        "seq": event.seq,
        "uid": str(event.uid),
        "created_at": utc_iso(event.created_at),
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "channel": event.channel,
        "actor_kind": event.actor_kind,
        "actor": event.actor_label,
        "actor_user_id": event.actor_user_id,
        "actor_api_key_id": event.actor_api_key_id,
        "before": event.before,
        "after": event.after,
        "payload_readable": readable,
        "prev_hash": event.prev_hash,
        "entry_hash": event.entry_hash,
    }


def jsonl(events: Iterable[AuditEvent]) -> Iterator[bytes]:
    for event in events:
        yield json.dumps(event_record(event), ensure_ascii=False,
                         separators=(",", ":")).encode() + b"\n"


def export_filename(slug: str) -> str:
    return f"audit-{slug}-{datetime.now(UTC):%Y%m%d-%H%M%S}.jsonl"

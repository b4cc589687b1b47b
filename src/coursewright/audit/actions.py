from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent

if TYPE_CHECKING:
    from coursewright.orgs.models import Organisation


def record_event(
    *,
    org: Organisation | None,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row. Called inside the caller's transaction, so the row exists
    exactly when the state change it describes does."""
    return AuditEvent.objects.create(
        org=org,
        actor_kind=actor.kind,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label,
        channel=actor.channel,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before or {},
        after=after or {},
    )

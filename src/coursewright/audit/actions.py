"""Writing to the audit log. Each call appends one entry to the hash chain
(``audit.chain``) inside the caller's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coursewright.audit.actor import Actor
from coursewright.audit.chain import append
from coursewright.audit.models import AuditEvent

if TYPE_CHECKING:
    from coursewright.orgs.models import Organisation

API_CALL = "api.call"


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
    exactly when the state change it describes does. Call it last in the transaction:
    it holds the chain's lock until the transaction ends."""
    return append(org=org, actor=actor, action=action, object_type=object_type,
                  object_id=object_id,
                  payload={"actor": actor.label, "before": before or {}, "after": after or {}})


def record_read(
    *,
    org: Organisation,
    actor: Actor,
    object_type: str,
    object_id: object,
    action: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that ``actor`` read protected data (course content, an export, the audit
    log, learner records). The action defaults to ``<object_type>.read``."""
    return record_event(org=org, actor=actor, action=action or f"{object_type}.read",
                        object_type=object_type, object_id=object_id, after=details)


def record_api_call(*, org: Organisation | None, actor: Actor, method: str, path: str,
                    status: int, duration_ms: int) -> AuditEvent:
    return record_event(org=org, actor=actor, action=API_CALL, object_type="api_request",
                        object_id=method,
                        after={"method": method, "path": path, "status": status,
                               "duration_ms": duration_ms})

"""The audit log over the API: ``GET /api/v1/audit`` (newest first, paginated, filtered)
and ``GET /api/v1/audit/export.jsonl`` (oldest first, one JSON object per line).

An organisation's API key reads its own organisation's log; a person reads it with the
owner or admin role (``?org=<slug>`` when they belong to several organisations). Only
that organisation's entries are queried.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from coursewright.api import principal
from coursewright.api_types import IsoDate, Pagination
from coursewright.audit.actions import record_read
from coursewright.audit.browse import AuditFilter, events_for, export_filename, jsonl
from coursewright.audit.models import ActorKind, AuditEvent
from coursewright.orgs.models import MANAGING_ROLES, Organisation

router = Router(tags=["audit"])


class AuditEventOut(Schema):
    seq: int
    uid: UUID
    created_at: datetime
    action: str
    object_type: str
    object_id: str
    channel: str
    actor_kind: str
    actor: str
    actor_user_id: int | None
    actor_api_key_id: int | None
    before: dict[str, Any]
    after: dict[str, Any]
    payload_readable: bool
    prev_hash: str
    entry_hash: str

    @staticmethod
    def resolve_actor(obj: AuditEvent) -> str:
        return obj.actor_label


class AuditQuery(Schema):
    org: str | None = None
    action: str | None = None
    actor: str | None = None
    since: IsoDate | None = None
    until: IsoDate | None = None

    def as_filter(self) -> AuditFilter:
        return AuditFilter(action=self.action or "", actor=self.actor or "",
                           since=self.since, until=self.until)


def _readable_org(request: HttpRequest, slug: str | None) -> Organisation:
    p = principal(request)
    org = p.default_org(slug)
    if p.actor.kind != ActorKind.API_KEY:
        p.require(org, MANAGING_ROLES, "read the audit log")
    return org


@router.get("", response=list[AuditEventOut], summary="Read the audit log")
@paginate(Pagination)
def list_audit_events(request: HttpRequest,
                      params: Query[AuditQuery]) -> QuerySet[AuditEvent]:
    org = _readable_org(request, params.org)
    return events_for(org.pk, params.as_filter())


@router.get("/export.jsonl", summary="Export the audit log as JSON lines",
            openapi_extra={"responses": {200: {
                "description": "One audit entry per line, oldest first",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}})
def export_audit_events(request: HttpRequest,
                        params: Query[AuditQuery]) -> StreamingHttpResponse:
    org = _readable_org(request, params.org)
    filters = params.as_filter()
    events = events_for(org.pk, filters, newest_first=False)
    record_read(org=org, actor=principal(request).actor, object_type="audit_log",
                object_id=org.pk, action="audit_log.exported",
                details={"filters": filters.as_dict(), "format": "jsonl"})
    response = StreamingHttpResponse(jsonl(events.iterator(chunk_size=500)),
                                     content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(org.slug)}"'
    return response

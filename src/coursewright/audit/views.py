"""The organisation's audit log in the dashboard: filter, page through, export.

Owners and admins only (``org_view(roles=MANAGING_ROLES)``): another member gets a 403,
someone outside the organisation a 404, as for the other settings pages. Only this
organisation's entries are ever queried. Reading the log is itself recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from coursewright.audit.actions import record_read
from coursewright.audit.browse import (
    PAGE_SIZE,
    AuditFilter,
    events_for,
    export_filename,
    jsonl,
)
from coursewright.audit.forms import AuditFilterForm
from coursewright.audit.models import AuditEvent
from coursewright.orgs.models import MANAGING_ROLES
from coursewright.web.access import OrgRequest, org_view, web_actor


@dataclass
class AuditRow:
    event: AuditEvent
    before: str
    after: str


def _row(event: AuditEvent) -> AuditRow:
    def compact(data: dict[str, object]) -> str:
        return json.dumps(data, ensure_ascii=False, sort_keys=True) if data else ""

    return AuditRow(event, compact(event.before), compact(event.after))


@org_view(roles=MANAGING_ROLES)
@require_GET
def audit_log(request: OrgRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None, org_id=request.org.pk)
    if form.is_bound and not form.is_valid():
        return render(request, "audit/log.html", {"form": form, "page": None}, status=400)
    filters = form.filters() if form.is_bound else AuditFilter()
    record_read(org=request.org, actor=web_actor(request), object_type="audit_log",
                object_id=request.org.pk, action="audit_log.viewed",
                details={"filters": filters.as_dict(), "page": request.GET.get("page", "1")[:12]})
    page = Paginator(events_for(request.org.pk, filters), PAGE_SIZE).get_page(
        request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/log.html", {
        "form": form, "page": page, "rows": [_row(e) for e in page.object_list],
        "filter_query": query.urlencode(),
    })


# org_view is typed for HttpResponse; a streamed export is an HttpResponseBase
@org_view(roles=MANAGING_ROLES)  # type: ignore[arg-type]
@require_GET
def audit_export(request: OrgRequest) -> HttpResponse | StreamingHttpResponse:
    form = AuditFilterForm(request.GET or None, org_id=request.org.pk)
    if form.is_bound and not form.is_valid():
        return render(request, "audit/log.html", {"form": form, "page": None}, status=400)
    filters = form.filters() if form.is_bound else AuditFilter()
    record_read(org=request.org, actor=web_actor(request), object_type="audit_log",
                object_id=request.org.pk, action="audit_log.exported",
                details={"filters": filters.as_dict(), "format": "jsonl"})
    events = events_for(request.org.pk, filters, newest_first=False)
    response = StreamingHttpResponse(jsonl(events.iterator(chunk_size=500)),
                                     content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{export_filename(request.org.slug)}"')
    return response

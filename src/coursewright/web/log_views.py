"""The dashboard's logs page of a course: launch events (allowed and refused, with the
reason the Gatekeeper gave) and the runtime errors the player reported, filtered, paged,
and exported as CSV or JSON.

Owners and admins only (``org_view(roles=MANAGING_ROLES)``: anyone else in the
organisation gets a 403 page, someone outside it a 404). The filters, queries, rows and
exports are the API's (``delivery.api_logs``), so the page, ``GET
/api/v1/courses/{id}/launches|errors`` and the files agree; the form here only turns the
page's dates (whole UTC days, both inclusive) into that filter. Every page view and every
export writes an audit row: error messages are text from learners' browsers.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET

from coursewright.courses.models import Course
from coursewright.delivery.api_logs import (
    LogFilter,
    LogName,
    check_filter,
    export_response,
    record_log_read,
    rows_of,
)
from coursewright.delivery.gatekeeper import REASONS
from coursewright.delivery.models import LaunchOutcome, License, PlayerErrorKind
from coursewright.errors import Invalid
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import MANAGING_ROLES, Organisation
from coursewright.web.access import OrgRequest, org_view, web_actor

LOG_PAGE_SIZE = 50
SHARED_FILTERS = ("license", "since", "until")  # kept when switching between the logs


class LogFilterForm(forms.Form):
    license = forms.TypedChoiceField(label="License", required=False, coerce=int,
                                     empty_value=None)
    outcome = forms.ChoiceField(label="Outcome", required=False,
                                choices=[("", "Any outcome"), *LaunchOutcome.choices])
    reason = forms.ChoiceField(label="Reason refused", required=False,
                               choices=[("", "Any reason"),
                                        *((code, code.replace("_", " ")) for code in REASONS)])
    kind = forms.ChoiceField(label="Kind", required=False,
                             choices=[("", "Any kind"), *PlayerErrorKind.choices])
    since = forms.DateField(label="From", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, org: Organisation, log: LogName, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for name in (("kind",) if log == "launches" else ("outcome", "reason")):
            del self.fields[name]
        licenses = License.objects.filter(org=org).order_by("name", "pk")
        field = self.fields["license"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "Any license"), *(
            (str(lic.pk), lic.name if lic.status == "active"
             else f"{lic.name} ({lic.get_status_display().lower()})") for lic in licenses)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” must not be after “To”.")
        return data

    def filters(self) -> LogFilter:
        if not self.is_bound:
            return LogFilter()
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        return LogFilter(
            license_id=data.get("license"), outcome=data.get("outcome") or "",
            reason=data.get("reason") or "", kind=data.get("kind") or "",
            since=datetime.combine(since, time.min, UTC) if since else None,
            until=datetime.combine(until + timedelta(days=1), time.min, UTC) if until else None)


def _course(request: OrgRequest, course_id: int) -> Course:
    return get_scoped(Course, request.principal, pk=course_id, org=request.org)


def _filters(request: OrgRequest, course: Course,
             log: LogName) -> tuple[LogFilterForm, LogFilter | None]:
    form = LogFilterForm(request.GET or None, org=request.org, log=log)
    if form.is_bound and not form.is_valid():
        return form, None
    try:
        return form, check_filter(course, form.filters())
    except Invalid as exc:  # the form offers only valid values; kept for a forged query
        form.add_error(None, exc.message)
        return form, None


def _query(request: OrgRequest, keep: tuple[str, ...] | None = None) -> str:
    query = request.GET.copy()
    for key in list(query):
        if key == "page" or (keep is not None and key not in keep):
            query.pop(key)
    return query.urlencode()


def _render(request: OrgRequest, course: Course, log: LogName, form: LogFilterForm, *,
            page: Page[Any] | None = None, status: int = 200) -> HttpResponse:
    return render(request, "web/logs.html", {
        "course": course, "log": log, "form": form, "page": page,
        # each row with what the learner was told, when it was a refused launch
        "rows": [(r, REASONS.get(getattr(r, "reason", ""), "")) for r in page.object_list]
        if page is not None else [],
        "filter_query": _query(request), "shared_query": _query(request, SHARED_FILTERS),
    }, status=status)


def _log_page(request: OrgRequest, course_id: int, log: LogName) -> HttpResponse:
    course = _course(request, course_id)
    form, filters = _filters(request, course, log)
    if filters is None:
        return _render(request, course, log, form, status=400)
    record_log_read(course, actor=web_actor(request), log=log, filters=filters)
    page = Paginator(rows_of(course, log, filters), LOG_PAGE_SIZE).get_page(
        request.GET.get("page"))
    return _render(request, course, log, form, page=page)


@org_view(roles=MANAGING_ROLES)
@require_GET
def launch_log(request: OrgRequest, course_id: int) -> HttpResponse:
    return _log_page(request, course_id, "launches")


@org_view(roles=MANAGING_ROLES)
@require_GET
def error_log(request: OrgRequest, course_id: int) -> HttpResponse:
    return _log_page(request, course_id, "errors")


# org_view is typed for HttpResponse; a streamed export is an HttpResponseBase
@org_view(roles=MANAGING_ROLES)  # type: ignore[arg-type]
@require_GET
def log_export(request: OrgRequest, course_id: int, log: LogName,
               fmt: str) -> HttpResponse | StreamingHttpResponse:
    course = _course(request, course_id)
    form, filters = _filters(request, course, log)
    if filters is None:
        return _render(request, course, log, form, status=400)
    assert fmt in ("csv", "json")
    record_log_read(course, actor=web_actor(request), log=log, filters=filters, fmt=fmt)
    return export_response(course, log, "csv" if fmt == "csv" else "json",
                           rows_of(course, log, filters))


_BASE = "o/<slug:org_slug>/courses/<int:course_id>/logs/"
patterns: list[URLPattern] = [
    path(_BASE, launch_log, name="course_logs"),
    path(f"{_BASE}errors/", error_log, name="course_logs_errors"),
    *(path(f"{_BASE}{log}.{fmt}", log_export, {"log": log, "fmt": fmt},
           name=f"course_logs_{log}_{fmt}")
      for log in ("launches", "errors") for fmt in ("csv", "json")),
]

"""A course's launch and player-error logs, over the API and for the dashboard's logs page.

    GET /api/v1/courses/{course_id}/launches  ?license_id=&outcome=&reason=&since=&until=
    GET /api/v1/courses/{course_id}/errors    ?license_id=&kind=&since=&until=
        … &limit=&offset= for a page, or &format=csv|json for every matching row

Who may read them: a signed-in owner or admin, and the organisation's API key — as for a
license's launches and the audit log (a key belongs to one organisation and acts for
it). Another organisation's course is a 404 before any role question. Every read writes
an audit row (``course_logs.read``, ``course_logs.exported``, with the log, the filters
and the format): error messages are text from learners' browsers.

The dashboard page (``web.log_views``) uses the same filter, query, rows and exports, so
a page, an API answer and an export of the same filters hold the same rows. Filters are
checked once, here (``check_filter``): an unknown outcome, reason code or error kind, a
license that is not the organisation's (reported like one that does not exist), or
``since`` after ``until`` is a 422 ``bad_filter``. Messages and details are encrypted at
rest, so they cannot be searched in SQL: the filters are the columns that are not.
Exports are streamed (CSV through ``csvexport``, which defuses formula cells).

(No postponed annotations here: query schemas are resolved at runtime.)
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from coursewright.api import principal
from coursewright.api_types import MAX_OFFSET, IsoDateTime
from coursewright.audit.actions import record_read
from coursewright.audit.actor import Actor
from coursewright.audit.models import ActorKind
from coursewright.courses.models import Course
from coursewright.csvexport import csv_lines
from coursewright.delivery.gatekeeper import REASONS
from coursewright.delivery.models import (
    LaunchEvent,
    LaunchOutcome,
    License,
    PlayerError,
    PlayerErrorKind,
)
from coursewright.errors import Invalid
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import MANAGING_ROLES

router = Router(tags=["logs"])

LogName = Literal["launches", "errors"]
ExportFormat = Literal["csv", "json"]
LOG_NAMES: tuple[LogName, ...] = ("launches", "errors")
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "json")


# --- filters and queries ----------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    license_id: int | None = None
    outcome: str = ""  # launches
    reason: str = ""  # launches: a gatekeeper.REASONS code
    kind: str = ""  # errors
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def as_dict(self) -> dict[str, str]:
        return {k: v.isoformat() if isinstance(v, datetime) else str(v)
                for k, v in asdict(self).items() if v is not None and v != ""}


def _aware(value: datetime | None) -> datetime | None:
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, UTC)


def check_filter(course: Course, filters: LogFilter) -> LogFilter:
    """``filters`` with naive times read as UTC; :class:`Invalid` naming every problem."""
    problems: list[dict[str, Any]] = []
    if filters.outcome and filters.outcome not in LaunchOutcome.values:
        problems.append({"field": "outcome", "message": "outcome must be one of "
                         + ", ".join(LaunchOutcome.values)})
    if filters.reason and filters.reason not in REASONS:
        problems.append({"field": "reason", "message": "reason must be one of "
                         + ", ".join(REASONS)})
    if filters.kind and filters.kind not in PlayerErrorKind.values:
        problems.append({"field": "kind", "message": "kind must be one of "
                         + ", ".join(PlayerErrorKind.values)})
    if filters.license_id is not None and not License.objects.filter(
            org_id=course.org_id, pk=filters.license_id).exists():
        # another organisation's license is reported exactly like one that does not exist
        problems.append({"field": "license_id",
                         "message": "no such license in this organisation"})
    since, until = _aware(filters.since), _aware(filters.until)
    if since is not None and until is not None and since > until:
        problems.append({"field": "since", "message": "since must not be after until"})
    if problems:
        raise Invalid("; ".join(p["message"] for p in problems), code="bad_filter",
                      details=problems)
    return LogFilter(license_id=filters.license_id, outcome=filters.outcome,
                     reason=filters.reason, kind=filters.kind, since=since, until=until)


def launches_of(course: Course, filters: LogFilter) -> QuerySet[LaunchEvent]:
    """The course's launch events matching ``filters`` (checked), newest first."""
    events = LaunchEvent.objects.filter(org_id=course.org_id, course=course)
    if filters.license_id is not None:
        events = events.filter(license_id=filters.license_id)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.reason:
        events = events.filter(reason=filters.reason)
    if filters.since is not None:
        events = events.filter(created_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(created_at__lt=filters.until)
    return events.select_related("license", "deployment__version").order_by("-id")


def errors_of(course: Course, filters: LogFilter) -> QuerySet[PlayerError]:
    """The course's player errors matching ``filters`` (checked), newest first."""
    errors = PlayerError.objects.filter(org_id=course.org_id, course=course)
    if filters.license_id is not None:
        errors = errors.filter(license_id=filters.license_id)
    if filters.kind:
        errors = errors.filter(kind=filters.kind)
    if filters.since is not None:
        errors = errors.filter(created_at__gte=filters.since)
    if filters.until is not None:
        errors = errors.filter(created_at__lt=filters.until)
    return errors.select_related("license", "version").order_by("-id")


def rows_of(course: Course, log: LogName,
            filters: LogFilter) -> QuerySet[LaunchEvent] | QuerySet[PlayerError]:
    return launches_of(course, filters) if log == "launches" else errors_of(course, filters)


# --- rows and exports -------------------------------------------------------------------

LAUNCH_COLUMNS = ("id", "created_at", "license_id", "license_name", "outcome", "reason",
                  "reason_text", "deployment_id", "version", "learner", "origin")
ERROR_COLUMNS = ("id", "created_at", "license_id", "license_name", "kind", "message",
                 "detail", "deployment_id", "version", "learner")


def launch_row(event: LaunchEvent) -> dict[str, Any]:
    deployment = event.deployment
    return {"id": event.pk, "created_at": event.created_at.isoformat(),
            "license_id": event.license_id,
            "license_name": event.license.name if event.license else None,
            "outcome": event.outcome, "reason": event.reason,
            "reason_text": REASONS.get(event.reason, ""),
            "deployment_id": event.deployment_id,
            "version": deployment.version.number if deployment else None,
            "learner": event.learner, "origin": event.origin}


def error_row(error: PlayerError) -> dict[str, Any]:
    return {"id": error.pk, "created_at": error.created_at.isoformat(),
            "license_id": error.license_id,
            "license_name": error.license.name if error.license else None,
            "kind": error.kind, "message": error.message, "detail": error.detail,
            "deployment_id": error.deployment_id,
            "version": error.version.number if error.version else None,
            "learner": error.learner}


def _dicts(log: LogName, rows: QuerySet[LaunchEvent] | QuerySet[PlayerError],
           ) -> Iterator[dict[str, Any]]:
    for row in rows.iterator(chunk_size=500):
        yield launch_row(row) if isinstance(row, LaunchEvent) else error_row(row)


def export_lines(log: LogName, fmt: ExportFormat,
                 rows: QuerySet[LaunchEvent] | QuerySet[PlayerError]) -> Iterator[str]:
    """Every row, as CSV lines (formula-safe) or one JSON array, produced lazily."""
    if fmt == "csv":
        columns = LAUNCH_COLUMNS if log == "launches" else ERROR_COLUMNS
        return csv_lines(columns, ([d[c] for c in columns] for d in _dicts(log, rows)))
    return _json_array(_dicts(log, rows))


def _json_array(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield "["
    for number, row in enumerate(rows):
        yield ("," if number else "") + json.dumps(row)
    yield "]\n"


def export_response(course: Course, log: LogName, fmt: ExportFormat,
                    rows: QuerySet[LaunchEvent] | QuerySet[PlayerError],
                    ) -> StreamingHttpResponse:
    content_type = ("text/csv; charset=utf-8" if fmt == "csv"
                    else "application/json; charset=utf-8")
    response = StreamingHttpResponse(export_lines(log, fmt, rows), content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="{log}-course-{course.pk}-{stamp}.{fmt}"')
    response["Cache-Control"] = "no-store"
    return response


def record_log_read(course: Course, *, actor: Actor, log: LogName, filters: LogFilter,
                    fmt: str = "page") -> None:
    record_read(org=course.org, actor=actor, object_type="course_logs",
                object_id=course.pk,
                action="course_logs.read" if fmt == "page" else "course_logs.exported",
                details={"log": log, "filters": filters.as_dict(), "format": fmt})


# --- the API ----------------------------------------------------------------------------


class LaunchLogOut(Schema):
    id: int
    created_at: datetime
    license_id: int | None
    license_name: str | None
    outcome: str
    reason: str = Field(description="Why it was refused, a code (empty when launched)")
    reason_text: str = Field(description="What the learner was told about the refusal")
    deployment_id: int | None
    version: int | None = Field(description="The number of the version it launched")
    learner: str = Field(description="The learner's pseudonym on the license (HMAC of the "
                                     "LMS's id); empty when none was sent")
    origin: str


class PlayerErrorOut(Schema):
    id: int
    created_at: datetime
    license_id: int | None
    license_name: str | None
    kind: str = Field(description="script, lms (an LMS call failed) or content (a course "
                                  "file did not load)")
    message: str
    detail: str | None = Field(description="Where: source and line, or the LMS call and "
                                           "its error code")
    deployment_id: int | None
    version: int | None
    learner: str


class LaunchLogPage(Schema):
    items: list[LaunchLogOut]
    count: int


class PlayerErrorPage(Schema):
    items: list[PlayerErrorOut]
    count: int


class _LogQuery(Schema):
    license_id: int | None = Field(default=None, ge=1, description="Only this license's")
    since: IsoDateTime | None = Field(default=None, description="From this time (inclusive; "
                                                                "UTC when no zone is given)")
    until: IsoDateTime | None = Field(default=None,
                                      description="Before this time (exclusive)")
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    format: ExportFormat | None = Field(
        default=None, description="Export every matching row as a CSV or JSON file "
                                  "(limit and offset do not apply)")


class LaunchLogQuery(_LogQuery):
    outcome: Literal["launched", "blocked"] | None = None
    reason: str | None = Field(default=None, max_length=40,
                               description="A refusal reason code: " + ", ".join(REASONS))

    def as_filter(self) -> LogFilter:
        return LogFilter(license_id=self.license_id, outcome=self.outcome or "",
                         reason=self.reason or "", since=self.since, until=self.until)


class ErrorLogQuery(_LogQuery):
    kind: Literal["script", "lms", "content"] | None = None

    def as_filter(self) -> LogFilter:
        return LogFilter(license_id=self.license_id, kind=self.kind or "",
                         since=self.since, until=self.until)


def _course(request: HttpRequest, course_id: int) -> Course:
    p = principal(request)
    course = get_scoped(Course, p, pk=course_id)
    if p.actor.kind != ActorKind.API_KEY:  # the key belongs to this organisation
        p.require(course.org_id, MANAGING_ROLES, "read launch and error logs")
    request.audit_org = course.org  # type: ignore[attr-defined]
    return course


def _answer(request: HttpRequest, course: Course, log: LogName, filters: LogFilter,
            params: _LogQuery) -> HttpResponseBase | dict[str, Any]:
    filters = check_filter(course, filters)
    rows = rows_of(course, log, filters)
    actor = principal(request).actor
    record_log_read(course, actor=actor, log=log, filters=filters,
                    fmt=params.format or "page")
    if params.format is not None:
        return export_response(course, log, params.format, rows)
    page = rows[params.offset:params.offset + params.limit]
    return {"items": [launch_row(r) if isinstance(r, LaunchEvent) else error_row(r)
                      for r in page],
            "count": rows.count()}


# The answer is a page, or with ``?format=json`` every row as one JSON array (the export
# file: the ``list[...]`` half of each response type), or with ``?format=csv`` a CSV file.
FILE_RESPONSES = {"responses": {200: {
    "description": "A page of rows; with format, a file of all of them",
    "content": {"text/csv": {"schema": {"type": "string"}}}}}}


@router.get("/courses/{course_id}/launches", response=LaunchLogPage | list[LaunchLogOut],
            summary="A course's launches, allowed and refused, newest first (owners and "
                    "admins, or the org's API key; ?format=csv|json exports them all)",
            openapi_extra=FILE_RESPONSES)
def list_course_launches(request: HttpRequest, course_id: int,
                         params: Query[LaunchLogQuery]) -> HttpResponseBase | dict[str, Any]:
    course = _course(request, course_id)
    return _answer(request, course, "launches", params.as_filter(), params)


@router.get("/courses/{course_id}/errors", response=PlayerErrorPage | list[PlayerErrorOut],
            summary="Runtime errors the player reported for a course, newest first (owners "
                    "and admins, or the org's API key; ?format=csv|json exports them all)",
            openapi_extra=FILE_RESPONSES)
def list_course_errors(request: HttpRequest, course_id: int,
                       params: Query[ErrorLogQuery]) -> HttpResponseBase | dict[str, Any]:
    course = _course(request, course_id)
    return _answer(request, course, "errors", params.as_filter(), params)

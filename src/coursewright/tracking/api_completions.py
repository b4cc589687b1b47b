"""A course's completion records and their summary over the API.

    GET /api/v1/courses/{course_id}/completions
        ?deployment_id=&license_id=&status=&since=&until=
        … &limit=&offset= for a page, or &format=csv|json for every matching record
    GET /api/v1/courses/{course_id}/completions/summary   (same filters): the chart's data

Who may read them: as for the course's launch and error logs (``delivery.api_logs``), a
signed-in owner or admin, or the organisation's API key; another organisation's course
is a 404 before any role question. Every read, summary and export writes an audit row
(``course_completions.read`` / ``course_completions.exported``, with the view, filters
and format): these are learner records. The records are ``tracking.completions``'s
(its design note says what each figure means); the dashboard page
(``web.completion_views``) shows the same records and exports the same files.

(No postponed annotations here: query schemas are resolved at runtime.)
"""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponseBase
from ninja import Field, Query, Router, Schema

from coursewright.api import principal
from coursewright.api_types import MAX_OFFSET, IsoDateTime
from coursewright.audit.models import ActorKind
from coursewright.courses.models import Course
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import MANAGING_ROLES
from coursewright.tracking.completions import (
    CompletionFilter,
    all_records,
    check_filter,
    export_response,
    record_completions_read,
    summary_of,
)

router = Router(tags=["completions"])

Status = Literal["not_attempted", "incomplete", "completed", "passed", "failed"]


# --- the API ----------------------------------------------------------------------------


class CompletionOut(Schema):
    course_id: int
    learner: str = Field(description="The learner's anonymous id: the pseudonym on the "
                                     "license (launches, cmi5) or the LRS's keyed hash of "
                                     "the actor (xAPI); empty for a launch that sent none")
    sources: list[Literal["launch", "cmi5", "xapi"]]
    license_id: int | None
    license_name: str | None
    deployment_id: int | None
    version: int | None = Field(description="The number of the deployment's version")
    status: str = Field(description="passed or failed when judged, else the completion")
    completion: Literal["not_attempted", "incomplete", "completed"]
    success: Literal["passed", "failed", "unknown"]
    score: float | None = Field(description="The best scaled score of any attempt, 0 to 1")
    attempts: int
    time_spent: int = Field(description="Seconds, summed over the attempts")
    first_activity: datetime | None
    last_activity: datetime | None
    completed_at: datetime | None = Field(description="The first completion")


class CompletionPage(Schema):
    items: list[CompletionOut]
    count: int


class _Filters(Schema):
    deployment_id: int | None = Field(default=None, ge=1,
                                      description="Only this deployment's records")
    license_id: int | None = Field(default=None, ge=1, description="Only this license's")
    status: Status | None = Field(default=None, description="A completion status, or "
                                                            "passed / failed")
    since: IsoDateTime | None = Field(default=None, description="Active from this time "
                                   "(inclusive; UTC when no zone is given)")
    until: IsoDateTime | None = Field(default=None, description="Active before this time "
                                                                "(exclusive)")

    def as_filter(self) -> CompletionFilter:
        return CompletionFilter(deployment_id=self.deployment_id, license_id=self.license_id,
                                status=self.status or "", since=self.since, until=self.until)


class CompletionQuery(_Filters):
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    format: Literal["csv", "json"] | None = Field(
        default=None, description="Export every matching record as a CSV or JSON file "
                                  "(limit and offset do not apply)")


class DayOut(Schema):
    date: str
    completions: int


class ScoreBinOut(Schema):
    low: float = Field(description="Scaled score from (inclusive)")
    high: float = Field(description="Scaled score to (exclusive; the last bin includes 1)")
    records: int


class DropOffOut(Schema):
    screen: str = Field(description="The screen id the attempt stopped on (its bookmark; "
                                     "empty when it set none)")
    title: str | None
    position: int | None
    attempts: int


class TotalsOut(Schema):
    records: int
    completed: int
    incomplete: int
    not_attempted: int
    passed: int
    failed: int
    average_score: float | None


class SummaryOut(Schema):
    since: str = Field(description="The chart's first day (UTC)")
    until: str = Field(description="The chart's last day (UTC, included)")
    totals: TotalsOut
    completions_per_day: list[DayOut]
    score_distribution: list[ScoreBinOut]
    drop_off: list[DropOffOut]


def _course(request: HttpRequest, course_id: int) -> Course:
    p = principal(request)
    course = get_scoped(Course, p, pk=course_id)
    if p.actor.kind != ActorKind.API_KEY:  # the key belongs to this organisation
        p.require(course.org_id, MANAGING_ROLES, "read completion records")
    request.audit_org = course.org  # type: ignore[attr-defined]
    return course


@router.get("/courses/{course_id}/completions", response=CompletionPage | list[CompletionOut],
            summary="A course's completion records, one per learner, deployment and "
                    "license, latest activity first (owners and admins, or the org's API "
                    "key; ?format=csv|json exports them all)",
            openapi_extra={"responses": {200: {
                "description": "A page of records; with format=json every record as one "
                               "array, with format=csv a CSV file",
                "content": {"text/csv": {"schema": {"type": "string"}}}}}})
def list_course_completions(request: HttpRequest, course_id: int,
                            params: Query[CompletionQuery]) -> HttpResponseBase | dict[str, Any]:
    course = _course(request, course_id)
    filters = check_filter(course, params.as_filter())
    records = all_records(course, filters)
    record_completions_read(course, actor=principal(request).actor, view="records",
                            filters=filters, fmt=params.format or "page")
    if params.format is not None:
        return export_response(course, params.format, records)
    page = records[params.offset:params.offset + params.limit]
    return {"items": [r.as_row() for r in page], "count": len(records)}


@router.get("/courses/{course_id}/completions/summary", response=SummaryOut,
            summary="The figures of a course's completion chart: completions per day, "
                    "score distribution, drop-off by screen (owners and admins, or the "
                    "org's API key)")
def course_completion_summary(request: HttpRequest, course_id: int,
                              params: Query[_Filters]) -> dict[str, Any]:
    course = _course(request, course_id)
    filters = check_filter(course, params.as_filter(), summary=True)
    summary = summary_of(course, filters)
    record_completions_read(course, actor=principal(request).actor, view="summary",
                            filters=filters)
    return summary.as_dict()

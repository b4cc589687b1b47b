"""Deployments over the API (under ``/api/v1``): read a course's channels and history,
export the history, deploy an approved version to staging, promote, roll back.

Objects are fetched with ``get_scoped`` (another organisation's course, version or
deployment is a 404); who may move which channel is ``delivery.deployments``' rule,
checked there: staging by owners, admins, authors or the org's API key, production by a
signed-in owner or admin only. Any member (or the org's API key) may read the history;
an export of it (``?format=csv|json``) writes an audit row, since it carries the reasons.
"""

# No ``from __future__ import annotations``: django-ninja reads the ``Query[...]``
# parameter annotation at import time.
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import pydantic
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Field, Query, Router, Schema, Status

from coursewright.api import principal
from coursewright.api_types import MAX_OFFSET
from coursewright.courses.models import Course, CourseVersion
from coursewright.delivery import deployments
from coursewright.delivery.models import ChannelName, Deployment
from coursewright.errors import Invalid
from coursewright.orgs.access import get_scoped

router = Router(tags=["deployments"])

REASON_HELP = (f"Why (required to promote or roll back; 1-{deployments.MAX_REASON} "
               "characters after trimming). Stored encrypted, shown in the history.")


class DeploymentOut(Schema):
    id: int
    uid: UUID
    channel: str
    action: str
    version_id: int
    version_number: int
    from_deployment_id: int | None
    from_version_number: int | None
    source_deployment_id: int | None
    reason: str
    actor: str
    actor_user_id: int | None
    created_at: datetime

    @staticmethod
    def resolve_version_number(obj: Deployment) -> int:
        return obj.version.number

    @staticmethod
    def resolve_from_deployment_id(obj: Deployment) -> int | None:
        return obj.previous_id

    @staticmethod
    def resolve_from_version_number(obj: Deployment) -> int | None:
        return obj.previous.version.number if obj.previous is not None else None

    @staticmethod
    def resolve_source_deployment_id(obj: Deployment) -> int | None:
        return obj.source_id

    @staticmethod
    def resolve_reason(obj: Deployment) -> str:
        return obj.reason or ""

    @staticmethod
    def resolve_actor(obj: Deployment) -> str:
        return obj.actor_label

    @staticmethod
    def resolve_actor_user_id(obj: Deployment) -> int | None:
        return obj.actor_id


class ChannelOut(Schema):
    name: str
    current: DeploymentOut | None


class DeploymentsOut(Schema):
    course_id: int
    channels: list[ChannelOut]
    history: list[DeploymentOut]
    history_count: int


class DeploymentsQuery(Schema):
    format: Literal["csv", "json"] | None = Field(
        default=None, description="Download the whole history as CSV or JSON instead "
                                  "(who, when, channel, action, from → to version, reason).")
    limit: int = Field(default=100, ge=1, le=1000, description="History steps to return.")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class HistoryRecordOut(Schema):
    """One step of the history as the exports show it (``deployments.HistoryRecord``)."""

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


class DeploymentsExportOut(Schema):
    """``?format=json``: the whole history as a file (``deployments.history_json``)."""

    course_id: int
    exported_at: datetime
    history: list[HistoryRecordOut]


class DeployIn(Schema):
    reason: str = Field(default="", description="Optional note, kept in the history.")


class PromoteIn(Schema):
    reason: str = Field(description=REASON_HELP)
    staging_deployment_id: int | None = Field(
        default=None,
        description="The staging deployment you mean to promote. If staging has moved on "
                    "since, the promotion is refused (409 staging_changed).")


class RollbackIn(Schema):
    channel: ChannelName
    deployment_id: int = Field(description="An earlier deployment of that channel.")
    reason: str = Field(description=REASON_HELP)


def _course(request: HttpRequest, course_id: int) -> Course:
    course = get_scoped(Course, principal(request), pk=course_id)
    request.audit_org = course.org  # type: ignore[attr-defined]  # the API-call entry's
    return course


@router.get("/courses/{course_id}/deployments",
            response=DeploymentsOut | DeploymentsExportOut,
            summary="A course's channels (staging, production) and deployment history, "
                    "newest first; ?format=csv|json downloads the history instead",
            openapi_extra={"responses": {200: {"content": {
                "text/csv": {"schema": {"type": "string"}}}}}})
def list_deployments(request: HttpRequest, course_id: int, params: Query[DeploymentsQuery],
                     ) -> dict[str, Any] | HttpResponse | StreamingHttpResponse:
    course = _course(request, course_id)
    if params.format is not None:
        return _export(request, course, params.format)
    current = deployments.current_deployments(course)
    steps = deployments.history(course)
    return {"course_id": course.pk,
            "channels": [{"name": name, "current": current[name]}
                         for name in deployments.CHANNELS],
            "history": list(steps[params.offset:params.offset + params.limit]),
            "history_count": steps.count()}


def _export(request: HttpRequest, course: Course,
            fmt: str) -> HttpResponse | StreamingHttpResponse:
    deployments.record_export(course, actor=principal(request).actor, fmt=fmt)
    records = deployments.history_records(deployments.history(course).iterator(chunk_size=500))
    response: HttpResponse | StreamingHttpResponse
    if fmt == "csv":
        response = StreamingHttpResponse(deployments.history_csv(records),
                                         content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(deployments.history_json(course, records),
                                content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{deployments.export_filename(course, fmt)}"')
    response["Cache-Control"] = "no-store"
    return response


def _deploy_body(request: HttpRequest) -> DeployIn:
    """The body is optional: ``POST …/deploy`` with none deploys without a note."""
    if request.content_type != "application/json" or not request.body.strip():
        return DeployIn()
    try:
        return DeployIn.model_validate_json(request.body)
    except pydantic.ValidationError as exc:
        raise Invalid("The request is not valid.", details=[
            {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"]} for e in exc.errors()
        ]) from None


@router.post("/versions/{version_id}/deploy", response={201: DeploymentOut},
             summary="Deploy an approved or published version to staging (owners, admins, "
                     "authors, or the org's API key)",
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": DeployIn.model_json_schema()}}}})
def deploy_version(request: HttpRequest, version_id: int) -> Status[Deployment]:
    p = principal(request)
    version = get_scoped(CourseVersion, p, pk=version_id)
    request.audit_org = version.org  # type: ignore[attr-defined]
    body = _deploy_body(request)
    return Status(201, deployments.deploy_to_staging(version, actor=p.actor,
                                                     reason=body.reason))


@router.post("/courses/{course_id}/promote", response={201: DeploymentOut},
             summary="Promote staging's current deployment to production, with a reason "
                     "(a signed-in owner or admin only)")
def promote_course(request: HttpRequest, course_id: int, body: PromoteIn) -> Status[Deployment]:
    p = principal(request)
    course = _course(request, course_id)
    expected = None
    if body.staging_deployment_id is not None:
        expected = get_scoped(Deployment, p, pk=body.staging_deployment_id, course=course)
    return Status(201, deployments.promote(course, actor=p.actor, reason=body.reason,
                                           expected_staging=expected))


@router.post("/courses/{course_id}/rollback", response={201: DeploymentOut},
             summary="Make an earlier deployment of a channel current again, with a reason "
                     "(staging: owners, admins, authors, the org's API key; production: a "
                     "signed-in owner or admin)")
def rollback_course(request: HttpRequest, course_id: int, body: RollbackIn) -> Status[Deployment]:
    p = principal(request)
    course = _course(request, course_id)
    target = get_scoped(Deployment, p, pk=body.deployment_id)
    return Status(201, deployments.rollback(course, body.channel, target, actor=p.actor,
                                            reason=body.reason))

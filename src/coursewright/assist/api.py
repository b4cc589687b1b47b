"""The organisation's side of learner-facing AI (API keys and dashboard sessions):
switching the tutor / AI grading on for a version, and reviewing grades.

The learners' side (token auth, CORS) is ``assist.player_api``. (No postponed annotations
here: the paginated view's query parameters are resolved at runtime.)
"""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.pagination import paginate

from coursewright.api import principal
from coursewright.api_types import Pagination
from coursewright.assist import actions
from coursewright.assist.access import player_assist
from coursewright.assist.models import AssistAccess, GradingRecord
from coursewright.audit.actions import record_read
from coursewright.courses.models import Course, CourseVersion
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import ALL_ROLES, AUTHORING_ROLES, REVIEWING_ROLES

router = Router(tags=["learner AI"])


class AssistOut(Schema):
    version_id: int
    tutor: bool
    grading: bool
    endpoint: str | None = Field(description="What the player calls (the player API)")
    token: str | None = Field(
        description="The version's player token (interim: replaced by launch sessions)")
    created_at: datetime | None


class RevokedOut(Schema):
    revoked: bool


class VerdictOut(Schema):
    id: str
    met: bool
    justification: str


class GradingOut(Schema):
    id: int
    course_id: int
    version_id: int
    block_id: str
    learner: str = Field(description="A pseudonym of the learner session (no identity)")
    answer: str
    criteria: list[VerdictOut]
    ai_score: int
    max_score: int
    final_score: int | None
    score: int
    status: str
    provider: str
    model: str
    review_note: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_learner(obj: GradingRecord) -> str:
        return obj.learner_ref[:12]

    @staticmethod
    def resolve_criteria(obj: GradingRecord) -> list[dict[str, Any]]:
        return list((obj.result or {}).get("criteria", []))

    @staticmethod
    def resolve_reviewed_by(obj: GradingRecord) -> str | None:
        return obj.reviewed_by.email if obj.reviewed_by else None


class ReviewIn(Schema):
    score: int = Field(ge=0)
    note: str = Field(default="", max_length=2000)


def _assist_out(version: CourseVersion, access: AssistAccess | None) -> dict[str, Any]:
    config = player_assist(version) if access is not None else None
    return {"version_id": version.pk, "tutor": bool(access and access.tutor),
            "grading": bool(access and access.grading),
            "endpoint": config.endpoint if config else None,
            "token": config.token if config else None,
            "created_at": access.created_at if access else None}


@router.get("/versions/{version_id}/assist", response=AssistOut,
            summary="Whether the version's learners have the AI tutor / AI grading")
def get_assist(request: HttpRequest, version_id: int) -> dict[str, Any]:
    p = principal(request)
    version = get_scoped(CourseVersion, p, pk=version_id)
    p.require(version.org_id, ALL_ROLES, "see the version")
    return _assist_out(version, AssistAccess.objects.filter(version=version).first())


@router.post("/versions/{version_id}/assist", response=AssistOut,
             summary="Switch the AI tutor and/or AI grading on for an approved version")
def enable_assist(request: HttpRequest, version_id: int, tutor: bool = True,
                  grading: bool = True) -> dict[str, Any]:
    p = principal(request)
    version = get_scoped(CourseVersion, p, pk=version_id)
    p.require(version.org_id, AUTHORING_ROLES, "switch learner AI on")
    access = actions.enable_assist(version, actor=p.actor, tutor=tutor, grading=grading)
    return _assist_out(version, access)


@router.delete("/versions/{version_id}/assist", response=RevokedOut,
               summary="Switch learner AI off for a version and revoke its player token")
def disable_assist(request: HttpRequest, version_id: int) -> dict[str, bool]:
    p = principal(request)
    version = get_scoped(CourseVersion, p, pk=version_id)
    p.require(version.org_id, AUTHORING_ROLES, "switch learner AI off")
    return {"revoked": actions.disable_assist(version, actor=p.actor)}


@router.get("/courses/{course_id}/gradings", response=list[GradingOut],
            summary="AI-graded free-text answers of a course, newest first (reviewers)")
@paginate(Pagination)
def list_gradings(request: HttpRequest, course_id: int, version_id: int | None = None,
                  status: Literal["ai_graded", "reviewed"] | None = None,
                  ) -> list[GradingRecord]:
    p = principal(request)
    course = get_scoped(Course, p, pk=course_id)
    p.require(course.org_id, REVIEWING_ROLES, "review grades")
    records = GradingRecord.objects.filter(org_id=course.org_id, course=course)
    if version_id is not None:
        records = records.filter(version_id=version_id)
    if status is not None:
        records = records.filter(status=status)
    record_read(org=course.org, actor=p.actor, object_type="grading_records",
                object_id=course.pk,
                details={"version_id": version_id, "status": status})
    return list(records.select_related("reviewed_by"))


@router.post("/gradings/{grading_id}/review", response=GradingOut,
             summary="Set the final score of an AI-graded answer (a signed-in reviewer)")
def review_grading(request: HttpRequest, grading_id: int, body: ReviewIn) -> GradingRecord:
    p = principal(request)
    record = get_scoped(GradingRecord, p, pk=grading_id)
    return actions.review_grading(record, actor=p.actor, score=body.score, note=body.note)

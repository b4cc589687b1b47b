from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import pydantic
from django.http import HttpRequest
from ninja import Field, File, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from coursewright.api import ApiKeyAuth, PersonSessionAuth, principal
from coursewright.api_types import Pagination
from coursewright.audit.actions import record_read
from coursewright.courses import actions
from coursewright.courses.content import CourseContent
from coursewright.courses.grounding import REASONS, SUPPORT_THRESHOLD
from coursewright.courses.models import Course, CourseVersion
from coursewright.embed.auth import EmbedTokenAuth
from coursewright.errors import Invalid
from coursewright.orgs.access import get_scoped, scoped
from coursewright.orgs.models import ALL_ROLES, AUTHORING_ROLES
from coursewright.privacy.api import ReceiptOut
from coursewright.privacy.deletion import DeletionReceipt, delete_course

router = Router(tags=["courses"])
# Endpoints an embedded page may call with a partner user's embed token, as well as with
# an API key or a session: the token's scope and courses decide (coursewright.embed.auth).
# The token is tried before the session: the session auth's CSRF check would refuse an
# embedded page's POST (it has no cookie, and needs none).
WITH_EMBED = [ApiKeyAuth(), EmbedTokenAuth(), PersonSessionAuth()]


class VersionSummary(Schema):
    id: int
    number: int
    state: str
    created_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    published_at: datetime | None


class CourseOut(Schema):
    id: int
    uid: UUID = Field(description="The course's public id (embed tokens, the embedded "
                                  "player's address, webhook events)")
    title: str
    language: str
    source_document_id: int | None
    created_at: datetime
    updated_at: datetime
    versions: list[VersionSummary]

    @staticmethod
    def resolve_versions(obj: Course) -> list[CourseVersion]:
        return list(obj.versions.order_by("-number"))


class CommentOut(Schema):
    body: str
    author: str
    created_at: datetime

    @staticmethod
    def resolve_author(obj: Any) -> str:
        return obj.author.email if obj.author else "deleted user"


class FlagOut(Schema):
    id: str
    screen_id: str
    block_id: str
    sentence: str
    score: float
    sources: list[str]
    reason: str
    reason_label: str
    missing: list[str]
    resolved: bool
    resolved_by: str
    resolved_at: datetime | None


class GroundingOut(Schema):
    """The grounding check of the AI-made blocks: sentences their cited source does not
    support (lexical support, not truth: see courses/grounding.py)."""

    checked: bool
    method: str
    threshold: float
    checked_at: datetime | None
    flags_total: int
    flags_open: int
    flags: list[FlagOut]


def _grounding_out(version: CourseVersion) -> dict[str, Any]:
    report = version.grounding or {}
    flags = [{**f, "reason_label": REASONS.get(str(f.get("reason")), str(f.get("reason"))),
              "resolved": bool(f.get("resolved_at")),
              "resolved_by": f.get("resolved_by") or ""} for f in version.grounding_flags]
    return {"checked": version.grounding is not None, "method": report.get("method", ""),
            "threshold": report.get("threshold", SUPPORT_THRESHOLD),
            "checked_at": report.get("checked_at"), "flags_total": len(flags),
            "flags_open": sum(1 for f in flags if not f["resolved"]), "flags": flags}


class VersionOut(VersionSummary):
    course_id: int
    content: dict[str, Any]
    content_sha256: str
    submitted_by: str
    approved_by: str | None
    approved_via: str
    comments: list[CommentOut]
    grounding: GroundingOut

    @staticmethod
    def resolve_grounding(obj: CourseVersion) -> dict[str, Any]:
        return _grounding_out(obj)

    @staticmethod
    def resolve_submitted_by(obj: CourseVersion) -> str:
        return obj.submitted_by_label

    @staticmethod
    def resolve_approved_by(obj: CourseVersion) -> str | None:
        return obj.approved_by.email if obj.approved_by else None

    @staticmethod
    def resolve_comments(obj: CourseVersion) -> list[Any]:
        return list(obj.comments.select_related("author"))


class ScreenIn(Schema):
    title: str
    blocks: list[dict[str, Any]]


class RejectIn(Schema):
    comment: str


class ApproveIn(Schema):
    confirm_unsupported: bool = Field(
        default=False,
        description="Required (true) when the grounding check flagged sentences that no "
                    "reviewer marked as checked: you confirm you checked them against "
                    "their sources. Without it such an approval answers 409 "
                    "unsupported_claims, with the number open in details.")


class AssetOut(Schema):
    sha256: str
    content_type: str
    width: int
    height: int
    size: int


def _version(request: HttpRequest, version_id: int) -> CourseVersion:
    return get_scoped(CourseVersion, principal(request), pk=version_id)


@router.get("/courses", response=list[CourseOut], summary="List courses", auth=WITH_EMBED)
@paginate(Pagination)
def list_courses(request: HttpRequest) -> list[Course]:
    return list(scoped(Course, principal(request)).prefetch_related("versions"))


@router.get("/courses/{course_id}", response=CourseOut, summary="Read a course",
            auth=WITH_EMBED)
def get_course(request: HttpRequest, course_id: int) -> Course:
    return get_scoped(Course, principal(request), pk=course_id)


@router.post("/courses/{course_id}/drafts", response={201: VersionOut},
             summary="Start a new draft from the latest version", auth=WITH_EMBED)
def new_draft(request: HttpRequest, course_id: int) -> Status[CourseVersion]:
    p = principal(request)
    course = get_scoped(Course, p, pk=course_id)
    p.require(course.org_id, AUTHORING_ROLES, "edit courses")
    return Status(201, actions.start_new_draft(course, actor=p.actor))


@router.post("/courses/{course_id}/images", response={201: AssetOut},
             summary="Upload an image (PNG, JPEG or WebP)")
def upload_image(request: HttpRequest, course_id: int,
                 file: File[UploadedFile]) -> Status[Any]:
    from django.conf import settings

    from coursewright.errors import TooLarge

    p = principal(request)
    course = get_scoped(Course, p, pk=course_id)
    p.require(course.org_id, AUTHORING_ROLES, "edit courses")
    limit = settings.MAX_IMAGE_MB * 1024 * 1024
    data = file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"images may be at most {settings.MAX_IMAGE_MB} MB")
    return Status(201, actions.add_image(course, data=data, actor=p.actor))


@router.get("/versions/{version_id}", response=VersionOut, summary="Read a version (draft)",
            auth=WITH_EMBED)
def get_version(request: HttpRequest, version_id: int) -> CourseVersion:
    version = _version(request, version_id)
    record_read(org=version.org, actor=principal(request).actor,
                object_type="course_version", object_id=version.pk)
    return version


@router.put("/versions/{version_id}/screens/{screen_id}", response=VersionOut,
            summary="Edit a screen of a draft", auth=WITH_EMBED)
def edit_screen(request: HttpRequest, version_id: int, screen_id: str,
                body: ScreenIn) -> CourseVersion:
    p = principal(request)
    version = _version(request, version_id)
    p.require(version.org_id, AUTHORING_ROLES, "edit courses")
    return actions.update_screen(version, screen_id, body.dict(), actor=p.actor)


@router.post("/versions/{version_id}/submit", response=VersionOut,
             summary="Submit a draft for review", auth=WITH_EMBED)
def submit(request: HttpRequest, version_id: int) -> CourseVersion:
    p = principal(request)
    version = _version(request, version_id)
    p.require(version.org_id, AUTHORING_ROLES, "submit courses for review")
    return actions.submit_for_review(version, actor=p.actor)


def _approve_body(request: HttpRequest) -> ApproveIn:
    """The body is optional: clients that predate it send none (or an empty form)."""
    if request.content_type != "application/json" or not request.body.strip():
        return ApproveIn()
    try:
        return ApproveIn.model_validate_json(request.body)
    except pydantic.ValidationError as exc:
        raise Invalid("The request is not valid.", details=[
            {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"]} for e in exc.errors()
        ]) from None


@router.post("/versions/{version_id}/approve", response=VersionOut,
             summary="Approve a version (a signed-in reviewer, or a partner's user with a "
                     "reviewer embed token; never an API key)", auth=WITH_EMBED,
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": ApproveIn.model_json_schema()}}}})
def approve(request: HttpRequest, version_id: int) -> CourseVersion:
    p = principal(request)
    version = _version(request, version_id)
    body = _approve_body(request)
    return actions.approve_version(version, actor=p.actor,
                                   confirm_unsupported=body.confirm_unsupported)


@router.post("/versions/{version_id}/grounding/{flag_id}/resolve", response=VersionOut,
             summary="Mark a flagged sentence as checked against its source (reviewers only)")
def resolve_flag(request: HttpRequest, version_id: int, flag_id: str) -> CourseVersion:
    p = principal(request)
    version = _version(request, version_id)
    return actions.resolve_flag(version, flag_id, actor=p.actor)


@router.post("/versions/{version_id}/reject", response=VersionOut,
             summary="Send a version back to draft with a comment (reviewers only)")
def reject(request: HttpRequest, version_id: int, body: RejectIn) -> CourseVersion:
    p = principal(request)
    version = _version(request, version_id)
    return actions.reject_version(version, actor=p.actor, comment=body.comment)


@router.post("/versions/{version_id}/publish", response=VersionOut,
             summary="Publish an approved version", auth=WITH_EMBED)
def publish(request: HttpRequest, version_id: int) -> CourseVersion:
    p = principal(request)
    version = _version(request, version_id)
    p.require(version.org_id, ALL_ROLES, "publish courses")
    return actions.publish_version(version, actor=p.actor)


class DuplicateIn(Schema):
    title: str = Field(default="", max_length=300,
                       description="The copy's title; empty: the source's title + \" (copy)\"")


class RevertIn(Schema):
    reason: str = Field(max_length=2000, description="Why (required; 1-500 characters "
                                                     "after trimming). Kept in the audit log.")


@router.post("/courses", response={201: VersionOut},
             summary="Create a course from content JSON (its first version is a draft)")
def create_course(request: HttpRequest, body: CourseContent, org: str = "") -> Status[Any]:
    """The body is the course content schema; every block is recorded as made by a
    person. ``org``: the organisation's slug, needed when the caller belongs to several."""
    p = principal(request)
    target = p.default_org(org or None)
    p.require(target, AUTHORING_ROLES, "create courses")
    content = actions.as_human_content(body.model_dump(mode="json"))
    return Status(201, actions.create_course(target, content=content, actor=p.actor))


@router.post("/courses/{course_id}/duplicate", response={201: VersionOut},
             summary="Copy a course (its latest version) into a new course's first draft")
def duplicate_course(request: HttpRequest, course_id: int, body: DuplicateIn) -> Status[Any]:
    p = principal(request)
    course = get_scoped(Course, p, pk=course_id)
    p.require(course.org_id, AUTHORING_ROLES, "copy courses")
    return Status(201, actions.duplicate_course(course, actor=p.actor, title=body.title))


@router.post("/courses/{course_id}/revert", response=VersionOut,
             summary="Make the previously published version current again (returns it)")
def revert_course(request: HttpRequest, course_id: int, body: RevertIn) -> CourseVersion:
    """The current published version goes back to approved; the one published before it
    is current again (exports, the embedded player's new attempts). 409
    ``no_earlier_version`` when there is none. Deployment channels do not move: roll a
    channel back with ``/courses/{id}/rollback``."""
    p = principal(request)
    course = get_scoped(Course, p, pk=course_id)
    p.require(course.org_id, ALL_ROLES, "publish courses")
    return actions.revert_publication(course, actor=p.actor, reason=body.reason)


@router.delete("/courses/{course_id}", response=ReceiptOut,
               summary="Delete a course with all its versions, images and packages")
def delete_course_endpoint(request: HttpRequest, course_id: int,
                           reason: str = "") -> DeletionReceipt:
    p = principal(request)
    course = get_scoped(Course, p, pk=course_id)
    p.require(course.org_id, AUTHORING_ROLES, "delete courses")
    return delete_course(course, actor=p.actor, reason=reason)

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import Field

from coursewright.ai.models import GenerationJob
from coursewright.api import principal
from coursewright.audit.actor import Actor
from coursewright.courses.api import VersionOut
from coursewright.courses.models import CourseVersion
from coursewright.errors import Invalid
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import AUTHORING_ROLES

router = Router(tags=["generation"])
ai_router = Router(tags=["AI"])


class JobOut(Schema):
    id: int
    document_id: int | None
    status: str
    progress: int
    stage: str
    error: str
    course_id: int | None
    created_at: datetime
    finished_at: datetime | None


@router.get("/{job_id}", response=JobOut, summary="Generation progress")
def get_job(request: HttpRequest, job_id: int) -> GenerationJob:
    return get_scoped(GenerationJob, principal(request), pk=job_id)


class BriefIn(Schema):
    brief: str = Field(min_length=1, max_length=5000)
    title: str = ""
    language: str = "en"
    target_screens: int | None = Field(default=None, description="How many screens (3-200)")
    audience: str = Field(default="", max_length=300,
                          description="Who the course is for, e.g. \"new warehouse staff\"")
    tone: str = Field(default="", max_length=100, description="e.g. \"friendly\", \"formal\"")
    provider: str = ""


def _full_brief(body: BriefIn) -> str:
    """The brief as the model reads it: audience and tone lead, as the author's words."""
    lines = [f"{label}: {' '.join(value.split())}"
             for label, value in (("Audience", body.audience), ("Tone", body.tone))
             if value.strip()]
    text = "\n".join([*lines, body.brief.strip()])
    if len(text) > 5000:
        raise Invalid("The brief, audience and tone together must be at most 5,000 "
                      "characters", code="brief_too_long")
    return text


@ai_router.post("/ai/generate", response={202: JobOut},
                summary="Draft a course from a brief alone (no document; needs an LLM provider)")
def generate_from_brief(request: HttpRequest, body: BriefIn, org: str = "") -> Status[object]:
    """``org``: the organisation's slug, needed when the caller belongs to several."""
    from coursewright.ai.actions import start_generation

    p = principal(request)
    target = p.default_org(org or None)
    p.require(target, AUTHORING_ROLES, "generate courses")
    job = start_generation(None, org=target, actor=p.actor, brief=_full_brief(body),
                           title=body.title,
                           language=body.language, target_screens=body.target_screens,
                           provider=body.provider)
    return Status(202, job)


class RegenerateIn(Schema):
    screen_id: str
    instruction: str = Field(default="", max_length=500)
    provider: str = ""


class RefineIn(Schema):
    screen_ids: list[str] = Field(default_factory=list)  # empty: the whole draft
    tone: str = ""
    reading_level: str = ""
    length: str = ""
    provider: str = ""


class QuestionsIn(Schema):
    screen_id: str
    count: int = 2
    provider: str = ""


class TranslateIn(Schema):
    language: str
    provider: str = ""


def _editable(request: HttpRequest, version_id: int) -> tuple[Actor, CourseVersion]:
    """The draft's version and the caller, who must hold an authoring role in its org."""
    p = principal(request)
    version = get_scoped(CourseVersion, p, pk=version_id)
    p.require(version.org_id, AUTHORING_ROLES, "edit courses")
    return p.actor, version


@ai_router.post("/versions/{version_id}/ai/regenerate-screen", response=VersionOut,
                summary="Redraft one screen of a draft with AI")
def regenerate_screen(request: HttpRequest, version_id: int,
                      body: RegenerateIn) -> CourseVersion:
    from coursewright.ai.actions import ai_edit

    actor, version = _editable(request, version_id)
    return ai_edit(version, actor=actor, feature="regenerate_screen",
                   provider=body.provider, screen_id=body.screen_id,
                   instruction=body.instruction)


@ai_router.post("/versions/{version_id}/ai/refine", response=VersionOut,
                summary="Refine a draft's text (tone, reading level, length) with AI")
def refine(request: HttpRequest, version_id: int, body: RefineIn) -> CourseVersion:
    from coursewright.ai.actions import ai_edit

    actor, version = _editable(request, version_id)
    return ai_edit(version, actor=actor, feature="refine",
                   provider=body.provider, screen_ids=body.screen_ids, tone=body.tone,
                   reading_level=body.reading_level, length=body.length)


@ai_router.post("/versions/{version_id}/ai/questions", response=VersionOut,
                summary="Add AI-written questions to a screen of a draft")
def questions(request: HttpRequest, version_id: int, body: QuestionsIn) -> CourseVersion:
    from coursewright.ai.actions import ai_edit

    actor, version = _editable(request, version_id)
    return ai_edit(version, actor=actor, feature="quiz",
                   provider=body.provider, screen_id=body.screen_id, count=body.count)


@ai_router.post("/versions/{version_id}/ai/translate", response={201: VersionOut},
                summary="Translate an approved version into a new draft version")
def translate(request: HttpRequest, version_id: int, body: TranslateIn) -> Status[object]:
    from coursewright.ai.actions import translate_version

    actor, version = _editable(request, version_id)
    draft = translate_version(version, body.language, actor=actor,
                              provider=body.provider)
    return Status(201, draft)

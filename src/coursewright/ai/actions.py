"""Generation jobs: queued by a person or key, run by a worker, claimed exactly once.

The job row is the source of truth for progress (the API and the page poll it). A worker
claims a job with a conditional UPDATE (queued → running); a second worker that gets
the same task finds nothing to claim and stops. The draft it creates is a draft: only
the review flow in ``courses.actions`` can make it reach a learner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from coursewright.ai.models import GenerationJob, JobStatus
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.errors import Conflict, Invalid
from coursewright.ingest.models import Document
from coursewright.privacy.fields import seal_for

if TYPE_CHECKING:
    from coursewright.courses.models import CourseVersion
    from coursewright.orgs.models import Organisation

log = logging.getLogger(__name__)


def start_generation(document: Document | None, *, actor: Actor, title: str = "",
                     language: str = "en", target_screens: int | None = None,
                     provider: str | None = None, brief: str = "",
                     org: Organisation | None = None,
                     enqueue: bool = True) -> GenerationJob:
    """Queue a draft: from a document, or (``document=None``) from a brief alone.

    The org's policy is checked now, so a request that could never run is refused at
    once with its reason (and logged); the worker checks it again before anything is
    sent, since the policy may change while the job waits."""
    from coursewright.ai.gateway import candidates
    from coursewright.courses.content import LANGUAGES

    if document is not None:
        org = document.org
    if org is None:
        raise Invalid("a generation needs a document or an organisation", code="no_source")
    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", code="bad_language")
    screens = target_screens or settings.TARGET_SCREENS
    if not 3 <= screens <= 200:
        raise Invalid("target_screens must be between 3 and 200", code="bad_target_screens")
    brief = (brief or "").strip()
    if document is None and not brief:
        raise Invalid("Describe the course you want (a brief), or upload a document",
                      code="no_source")
    if len(brief) > 5000:
        raise Invalid("The brief must be at most 5,000 characters", code="brief_too_long")
    chosen = candidates(org, actor, "generate", provider=provider or None,
                        prompt_capable=document is None)
    title = (title or "").strip()[:300]
    with transaction.atomic():
        job = GenerationJob.objects.create(
            org=org, document=document, requested_by=actor.user,
            requested_by_key=actor.api_key, requested_via=actor.channel, title=title,
            language=language, target_screens=screens, provider=provider or "",
            engine=chosen[0].name, prompt=brief or None)
        record_event(org=org, actor=actor, action="generation.requested",
                     object_type="generation_job", object_id=job.pk,
                     after={"document": document.pk if document else None,
                            "language": language, "target_screens": screens,
                            "provider": provider or "", "from_brief": document is None})
        if enqueue:
            from coursewright.ai.tasks import generate_course_task

            job_id = job.pk
            transaction.on_commit(lambda: generate_course_task(job_id))
    return job


def _requester(job: GenerationJob) -> Actor:
    """The draft is created on behalf of whoever asked for it."""
    if job.requested_by is not None:
        return Actor.person(job.requested_by, Channel(job.requested_via))
    if job.requested_by_key is not None:
        return Actor.key(job.requested_by_key)
    return Actor.system()


def run_generation(job_id: int,
                   on_progress: Callable[[int, str], None] | None = None) -> GenerationJob:
    """Run a queued job (or resume one whose worker died: see ``recover_stale_jobs``)."""
    from coursewright.ai import llm
    from coursewright.ai.gateway import AiBlocked, AiFailed, candidates, record_local
    from coursewright.ai.offline import draft_course
    from coursewright.courses.actions import create_course
    from coursewright.ingest.actions import load_converted

    claimed = GenerationJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(),
        attempts=F("attempts") + 1, progress=1, stage="Starting")
    job = GenerationJob.objects.select_related(
        "document", "org", "requested_by", "requested_by_key").get(pk=job_id)
    if not claimed:
        return job

    def progress(percent: int, stage: str) -> None:
        percent = max(1, min(99, int(percent)))
        GenerationJob.objects.filter(pk=job_id).update(progress=percent, stage=stage[:100],
                                                       heartbeat_at=timezone.now())
        if on_progress is not None:
            on_progress(percent, stage)

    def save_checkpoint(data: dict[str, Any]) -> None:
        GenerationJob.objects.filter(pk=job_id).update(
            checkpoint=seal_for(job, "checkpoint", data), heartbeat_at=timezone.now())

    actor = _requester(job)
    try:
        converted = load_converted(job.document) if job.document is not None else None
        chosen = candidates(job.org, actor, "generate", provider=job.provider or None,
                            prompt_capable=converted is None)
        content = None
        llm_error: AiFailed | None = None
        if not chosen[0].is_offline:
            try:
                content = llm.generate_course(
                    llm.Context(job.org, actor, job.language, provider=job.provider or None,
                                now=timezone.now()),
                    doc=converted, brief=job.prompt or "", title=job.title,
                    target_screens=job.target_screens, checkpoint=job.checkpoint,
                    save_checkpoint=save_checkpoint, progress=progress)
            except AiFailed as exc:
                llm_error = exc
        if content is None:
            # The offline engine: first choice, or the next allowed provider after every
            # model provider failed (it drafts on this server; nothing is sent).
            if converted is None or not any(c.is_offline for c in chosen):
                raise llm_error or AiFailed("No allowed AI provider could draft this.")
            started = timezone.now()
            content = draft_course(converted, title=job.title or None, language=job.language,
                                   target_screens=job.target_screens, now=timezone.now(),
                                   progress=progress)
            record_local(job.org, actor, feature="generate", latency_ms=int(
                (timezone.now() - started).total_seconds() * 1000))
        with transaction.atomic():
            version = create_course(job.org, content=content, actor=actor,
                                    source_document=job.document)
            GenerationJob.objects.filter(pk=job_id).update(
                status=JobStatus.SUCCEEDED, progress=100, stage="Draft ready",
                course=version.course, finished_at=timezone.now(), checkpoint=None)
    except (AiBlocked, AiFailed) as exc:
        GenerationJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, stage="Failed", finished_at=timezone.now(),
            error=exc.message[:1000])
    except Exception as exc:
        log.exception("generation job %s failed", job_id)
        GenerationJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, stage="Failed", finished_at=timezone.now(),
            error=f"The draft could not be generated: {type(exc).__name__}")
    if on_progress is not None:
        on_progress(100, "Done")
    job.refresh_from_db()
    return job


def recover_stale_jobs(*, enqueue: bool = True) -> list[int]:
    """Requeue running jobs whose worker stopped reporting (it died or was restarted).

    The job keeps its checkpoint, so the resumed run skips the work already done."""
    cutoff = timezone.now() - timedelta(seconds=settings.AI_JOB_STALE_SECONDS)
    stale = list(GenerationJob.objects.filter(
        status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True))
    requeued: list[int] = []
    for pk in stale:
        if GenerationJob.objects.filter(pk=pk, status=JobStatus.RUNNING,
                                        heartbeat_at__lt=cutoff).update(
                status=JobStatus.QUEUED, stage="Resuming after a worker restart"):
            requeued.append(pk)
            if enqueue:
                from coursewright.ai.tasks import generate_course_task

                generate_course_task(pk)
    return requeued


# -- AI edits of a draft ---------------------------------------------------------------

def _source_chunks(version: CourseVersion) -> dict[str, str]:
    document = version.course.source_document
    if document is None:
        return {}
    return {c.chunk_id: c.text for c in document.chunks.all()}


def _llm_context(version: CourseVersion, actor: Actor, provider: str | None) -> Any:
    from coursewright.ai import llm
    from coursewright.courses.actions import validate_content

    content = validate_content(version.content)
    return llm.Context(version.org, actor, content.language, provider=provider or None,
                       now=timezone.now()), content


def _unusable(exc: ValueError) -> Invalid:
    return Invalid(f"The AI could not do that: {exc}", code="ai_unusable")


def ai_edit(version: CourseVersion, *, actor: Actor, feature: str,
            provider: str | None = None, screen_id: str = "", screen_ids: list[str] | None = None,
            instruction: str = "", tone: str = "", reading_level: str = "", length: str = "",
            count: int = 2) -> CourseVersion:
    """Regenerate a screen, refine screens, or add questions to a screen of a draft."""
    from coursewright.ai import llm
    from coursewright.courses.actions import save_ai_rewrite

    if version.state != "draft":
        raise Conflict("Only a draft can be changed; start a new draft first",
                       code="not_editable")
    known = {"tone": llm.REFINEMENTS["tone"], "reading_level": llm.REFINEMENTS["reading_level"],
             "length": llm.REFINEMENTS["length"]}
    for name, value in (("tone", tone), ("reading_level", reading_level), ("length", length)):
        if value and value not in known[name]:
            raise Invalid(f"{name} must be one of {', '.join(known[name])}",
                          code=f"bad_{name}")
    if not 1 <= count <= 5:
        raise Invalid("count must be between 1 and 5", code="bad_count")
    ctx, content = _llm_context(version, actor, provider)
    screens = {s.id for s in content.screens}
    wanted = [screen_id] if screen_id else list(screen_ids or [])
    unknown = [s for s in wanted if s not in screens]
    if unknown:
        raise Invalid(f"screen {unknown[0]!r} is not in this version", code="unknown_screen")
    try:
        if feature == "regenerate_screen":
            new = llm.regenerate_screen(ctx, content, screen_id, _source_chunks(version),
                                        instruction=instruction)
        elif feature == "refine":
            new = llm.refine(ctx, content, set(wanted) if wanted else None, tone=tone,
                             reading_level=reading_level, length=length)
        elif feature == "quiz":
            new = llm.add_questions(ctx, content, screen_id, _source_chunks(version),
                                    count=count)
        else:
            raise Invalid(f"unknown AI feature {feature!r}", code="bad_feature")
    except ValueError as exc:
        raise _unusable(exc) from exc
    return save_ai_rewrite(version, new, actor=actor, action=f"version.ai_{feature}",
                           extra={"screens": wanted, "feature": feature})


def translate_version(version: CourseVersion, target: str, *, actor: Actor,
                      provider: str | None = None) -> CourseVersion:
    """Translate a version into a new draft version of the same course."""
    from coursewright.ai import llm
    from coursewright.courses.actions import save_ai_rewrite, start_new_draft
    from coursewright.courses.content import LANGUAGES

    if target not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", code="bad_language")
    other_draft = version.course.versions.filter(state__in=["draft", "in_review"]).exclude(
        pk=version.pk).exists()
    if other_draft or version.state in ("draft", "in_review"):
        raise Conflict("Translate an approved or published version, when the course has no "
                       "open draft (a translation becomes the new draft)",
                       code="draft_exists")
    ctx, content = _llm_context(version, actor, provider)
    try:
        translated = llm.translate(ctx, content, target)
    except ValueError as exc:
        raise _unusable(exc) from exc
    with transaction.atomic():
        draft = start_new_draft(version.course, actor=actor)
        return save_ai_rewrite(draft, translated, actor=actor, action="version.ai_translated",
                               extra={"from_version": version.number, "language": target})

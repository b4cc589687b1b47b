"""Generation jobs: queued by a person or key, run by a worker, claimed exactly once.

The job row is the source of truth for progress (the API and the page poll it). A worker
claims a job with a conditional UPDATE (queued → running); a second worker that gets
the same task finds nothing to claim and stops. The draft it creates is a draft: only
the review flow in ``courses.actions`` can make it reach a learner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from coursewright.ai.models import GenerationJob, JobStatus
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.errors import Invalid
from coursewright.ingest.models import Document

log = logging.getLogger(__name__)


def start_generation(document: Document, *, actor: Actor, title: str = "",
                     language: str = "en", target_screens: int | None = None,
                     enqueue: bool = True) -> GenerationJob:
    from coursewright.courses.content import LANGUAGES

    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", code="bad_language")
    screens = target_screens or settings.TARGET_SCREENS
    if not 3 <= screens <= 200:
        raise Invalid("target_screens must be between 3 and 200", code="bad_target_screens")
    title = (title or "").strip()[:300]
    with transaction.atomic():
        job = GenerationJob.objects.create(
            org_id=document.org_id, document=document, requested_by=actor.user,
            requested_by_key=actor.api_key, requested_via=actor.channel, title=title,
            language=language, target_screens=screens)
        record_event(org=document.org, actor=actor, action="generation.requested",
                     object_type="generation_job", object_id=job.pk,
                     after={"document": document.pk, "language": language,
                            "target_screens": screens})
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
    from coursewright.ai.offline import draft_course
    from coursewright.courses.actions import create_course
    from coursewright.ingest.actions import load_converted

    claimed = GenerationJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), progress=1, stage="Starting")
    job = GenerationJob.objects.select_related(
        "document", "org", "requested_by", "requested_by_key").get(pk=job_id)
    if not claimed:
        return job

    def progress(percent: int, stage: str) -> None:
        percent = max(1, min(99, int(percent)))
        GenerationJob.objects.filter(pk=job_id).update(progress=percent, stage=stage[:100])
        if on_progress is not None:
            on_progress(percent, stage)

    try:
        converted = load_converted(job.document)
        content = draft_course(converted, title=job.title or None, language=job.language,
                               target_screens=job.target_screens, now=timezone.now(),
                               progress=progress)
        actor = _requester(job)
        with transaction.atomic():
            version = create_course(job.org, content=content, actor=actor,
                                    source_document=job.document)
            GenerationJob.objects.filter(pk=job_id).update(
                status=JobStatus.SUCCEEDED, progress=100, stage="Draft ready",
                course=version.course, finished_at=timezone.now())
    except Exception as exc:
        log.exception("generation job %s failed", job_id)
        GenerationJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, stage="Failed", finished_at=timezone.now(),
            error=f"The draft could not be generated: {type(exc).__name__}")
    if on_progress is not None:
        on_progress(100, "Done")
    job.refresh_from_db()
    return job

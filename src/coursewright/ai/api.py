from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from coursewright.ai.models import GenerationJob
from coursewright.api import principal
from coursewright.orgs.access import get_scoped

router = Router(tags=["generation"])


class JobOut(Schema):
    id: int
    document_id: int
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

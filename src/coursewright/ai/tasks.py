from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from coursewright.ai.actions import run_generation


@db_task(retries=0)  # type: ignore[untyped-decorator]
def generate_course_task(job_id: int) -> None:
    run_generation(job_id)


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def recover_stale_jobs_task() -> None:
    """Jobs survive a worker restart: a job whose worker stopped reporting is resumed."""
    from coursewright.ai.actions import recover_stale_jobs

    recover_stale_jobs()

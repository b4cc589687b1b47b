from __future__ import annotations

from huey.contrib.djhuey import db_task

from coursewright.ai.actions import run_generation


@db_task(retries=0)  # type: ignore[untyped-decorator]
def generate_course_task(job_id: int) -> None:
    run_generation(job_id)

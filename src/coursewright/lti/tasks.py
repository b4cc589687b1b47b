"""LTI jobs: a grade as soon as it is pending, every minute the grades that are due
(retries, lost jobs), and daily the clean-up of login states, used nonces and the
learners' ``sub`` once no grade needs it."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from coursewright.lti.grades import due_grades, send_grade


@db_task(retries=0)  # type: ignore[untyped-decorator]
def send_grade_task(launch_id: int) -> None:
    send_grade(launch_id)  # failures are recorded and retried later


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def send_due_grades_task() -> None:
    for launch_id in due_grades():
        send_grade_task(launch_id)


@db_periodic_task(crontab(hour="3", minute="50"))  # type: ignore[untyped-decorator]
def expire_lti_records_task() -> None:
    from coursewright.lti.privacy import expire_records

    expire_records()

"""Statement forwarding jobs: every minute each due target gets a job of its own (so a
slow receiver holds up no other), and "retry now" / "resume" queue one at once. The
lease in ``tracking.forwarding`` keeps two workers off the same target."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from coursewright.tracking.forwarding import due_targets, forward_target


@db_task(retries=0)  # type: ignore[untyped-decorator]
def forward_target_task(target_id: int) -> None:
    forward_target(target_id)  # failures are recorded on the target and retried later


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def forward_statements_task() -> None:
    for target_id in due_targets():
        forward_target_task(target_id)

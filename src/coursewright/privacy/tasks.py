"""The daily backup: 03:00 UTC (huey's crontab runs in UTC), then retention."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from coursewright.privacy.backup import run_scheduled_backup

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="0", hour="3"), retries=1,  # type: ignore[untyped-decorator]
                  retry_delay=900)
def daily_backup() -> None:
    result, deleted = run_scheduled_backup()
    logger.info("backup written to %s (%d bytes, %d rows, %d files) in %.1f s; "
                "%d old backup(s) deleted", result.path, result.size, result.rows,
                result.files, result.seconds, len(deleted))

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="30", hour="2"))  # type: ignore[untyped-decorator]
def purge_expired_data() -> None:
    """Daily at 02:30 UTC: apply every organisation's retention rules."""
    from coursewright.privacy.retention import purge_all

    purge_all()

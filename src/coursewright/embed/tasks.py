from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="17"))  # type: ignore[untyped-decorator]
def purge_expired_embed_tokens() -> None:
    """Hourly: delete embed tokens and sessions that can no longer be used."""
    from coursewright.embed.actions import purge_expired

    purge_expired()

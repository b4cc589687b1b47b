"""Periodic audit work for the huey consumer: a signed checkpoint every ten minutes when
entries were appended since the last one."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from coursewright.audit.checkpoints import make_checkpoint
from coursewright.audit.verify import ChainBroken

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/10"))  # type: ignore[untyped-decorator]
def checkpoint_audit_log() -> None:
    try:
        make_checkpoint()
    except ChainBroken as exc:
        # never sign a broken chain; `coursewright audit verify` says where it breaks
        logger.error("audit chain does not verify, no checkpoint signed: %s", exc)

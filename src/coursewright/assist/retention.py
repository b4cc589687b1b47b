"""Retention of learner-facing AI data: grading records are learner records.

``register()`` (called when the app is ready) adds the purge to
``privacy.retention.PURGERS`` under ``learner_records``, chained after any purge another
feature registered for that category, so one rule governs all learner records. The
tutor keeps no conversations; its rate-limit rows hold no content and are deleted after
a day by ``assist.ratelimit`` itself.
"""

from __future__ import annotations

from datetime import datetime

from coursewright.orgs.models import Organisation


def purge_grading_records(org: Organisation, cutoff: datetime) -> int:
    from coursewright.assist.models import GradingRecord

    count, _ = GradingRecord.objects.filter(org=org, created_at__lt=cutoff).delete()
    return count


def register() -> None:
    from coursewright.privacy import retention
    from coursewright.privacy.models import Category

    existing = retention.PURGERS.get(Category.LEARNER_RECORDS)
    if existing is purge_grading_records or getattr(existing, "assist", False):
        return
    if existing is None:
        retention.PURGERS[Category.LEARNER_RECORDS] = purge_grading_records
        return

    def chained(org: Organisation, cutoff: datetime) -> int:
        return existing(org, cutoff) + purge_grading_records(org, cutoff)

    chained.assist = True  # type: ignore[attr-defined]
    retention.PURGERS[Category.LEARNER_RECORDS] = chained

"""Retention: per organisation and data category, how long data is kept.

A daily job (``ops.tasks.purge_expired_data``, or ``coursewright retention purge``)
applies every rule and writes one receipt per organisation and category to the audit log
(counts only). What each category's purge does:

- ``uploads``: the original uploaded file is deleted from storage; the extracted text,
  and the courses drafted from it, stay.
- ``extracted_text``: a document's Markdown, outline and source passages are deleted
  (the document row stays as a record that it existed; courses keep their content, and
  their citations then point at passages that are gone).
- ``drafts``: draft versions not edited for that long are deleted; a course left with no
  version is deleted with it. Versions in review, approved or published are never purged
  as drafts.
- ``audit_log``: the log is one hash chain for the whole installation, so it can only be
  pruned from its start, in whole spans behind a signed checkpoint
  (``coursewright audit prune --older-than-days DAYS``); an organisation's rule is reported,
  not applied per organisation.
- ``ai_ledger``: ledger rows (and the encrypted prompts an org opted to keep) older than
  the rule are deleted.
- ``launch_logs``: launch events and player runtime errors older than the rule, and
  launch sessions that ended before it, are deleted; so are webhook deliveries
  (``webhooks.privacy`` chains its purge after this one; they are kept 30 days at most
  anyway).
- ``learner_records``: progress reported by launched attempts whose last report is
  older than the rule, the LRS's statements stored and documents written before it, and
  cmi5 registrations with no AU session since;
  features that store more learner records chain their purge after it (``assist`` for
  gradings). Each purge is added with the feature that stores that data (registered in
  ``PURGERS``), so a rule never silently does nothing: ``purge_org`` reports categories
  it cannot apply.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.errors import Invalid
from coursewright.orgs.models import Organisation
from coursewright.privacy.models import Category, RetentionRule

MAX_DAYS = 36500
Purger = Callable[[Organisation, datetime], int]


def _purge_uploads(org: Organisation, cutoff: datetime) -> int:
    from coursewright.ingest.models import Document
    from coursewright.storage import delete_quietly

    purged = 0
    for document in Document.objects.filter(org=org, created_at__lt=cutoff).exclude(
            storage_path=""):
        path = document.storage_path
        still_used = Document.objects.filter(org=org, storage_path=path).exclude(
            pk=document.pk).exclude(created_at__lt=cutoff).exists()
        Document.objects.filter(pk=document.pk).update(storage_path="")
        if not still_used:
            transaction.on_commit(lambda p=path: delete_quietly(p))  # type: ignore[misc]
        purged += 1
    return purged


def _purge_extracted_text(org: Organisation, cutoff: datetime) -> int:
    from coursewright.ingest.models import Document, DocumentChunk

    purged = 0
    for document in Document.objects.filter(org=org, created_at__lt=cutoff).exclude(
            text_purged=True):
        DocumentChunk.objects.filter(document=document).delete()
        document.markdown = ""
        document.outline = []
        document.text_purged = True
        document.save(update_fields=["markdown", "outline", "text_purged"])
        purged += 1
    return purged


def _purge_drafts(org: Organisation, cutoff: datetime) -> int:
    from coursewright.courses.models import Course, CourseVersion, VersionState

    stale = CourseVersion.objects.filter(org=org, state=VersionState.DRAFT,
                                         updated_at__lt=cutoff)
    course_ids = set(stale.values_list("course_id", flat=True))
    count = stale.count()
    stale.delete()
    Course.objects.filter(pk__in=course_ids, versions__isnull=True).delete()
    return count


NOT_APPLIED: dict[str, str] = {
    Category.AUDIT_LOG: "the audit log is one hash chain, pruned from its start for the "
                        "whole installation (coursewright audit prune --older-than-days DAYS)",
}

def _purge_ai_ledger(org: Organisation, cutoff: datetime) -> int:
    from coursewright.ai.models import LedgerEntry

    count, _ = LedgerEntry.objects.filter(org=org, created_at__lt=cutoff).delete()
    return count


def _purge_launch_logs(org: Organisation, cutoff: datetime) -> int:
    from coursewright.delivery.models import LaunchEvent, LaunchSession, PlayerError

    events, _ = LaunchEvent.objects.filter(org=org, created_at__lt=cutoff).delete()
    errors, _ = PlayerError.objects.filter(org=org, created_at__lt=cutoff).delete()
    sessions, _ = LaunchSession.objects.filter(org=org, expires_at__lt=cutoff).delete()
    return events + errors + sessions


def _purge_launch_progress(org: Organisation, cutoff: datetime) -> int:
    """Learner records of launched attempts, by their last report (other features chain
    their learner records after this one)."""
    from coursewright.delivery.models import LaunchProgress
    from coursewright.tracking.privacy import purge_learner_records

    count, _ = LaunchProgress.objects.filter(org=org, updated_at__lt=cutoff).delete()
    return count + purge_learner_records(org, cutoff) + _purge_cmi5(org, cutoff)


def _purge_cmi5(org: Organisation, cutoff: datetime) -> int:
    """cmi5 registrations with no AU session since the cutoff (their sessions go too)."""
    from django.db.models import Exists, OuterRef

    from coursewright.cmi5.models import AuSession, Registration

    recent = AuSession.objects.filter(registration=OuterRef("pk"), created_at__gte=cutoff)
    count, _ = (Registration.objects.filter(org=org, created_at__lt=cutoff)
                .exclude(Exists(recent)).delete())
    return count


PURGERS: dict[str, Purger] = {
    Category.AI_LEDGER: _purge_ai_ledger,
    Category.LAUNCH_LOGS: _purge_launch_logs,
    Category.LEARNER_RECORDS: _purge_launch_progress,
    Category.UPLOADS: _purge_uploads,
    Category.EXTRACTED_TEXT: _purge_extracted_text,
    Category.DRAFTS: _purge_drafts,
}


def set_retention(org: Organisation, rules: dict[str, int | None], *,
                  actor: Actor) -> dict[str, int | None]:
    """Replace the given categories' rules (None removes a rule: keep until deleted)."""
    unknown = set(rules) - set(Category.values)
    if unknown:
        raise Invalid(f"unknown data categories: {', '.join(sorted(unknown))}",
                      code="unknown_category")
    for category, days in rules.items():
        if days is not None and not 1 <= days <= MAX_DAYS:
            raise Invalid(f"{category}: keep between 1 and {MAX_DAYS} days, or no limit",
                          code="bad_days")
    with transaction.atomic():
        before = policy(org)
        for category, days in rules.items():
            if days is None:
                RetentionRule.objects.filter(org=org, category=category).delete()
            else:
                RetentionRule.objects.update_or_create(org=org, category=category,
                                                       defaults={"keep_days": days})
        after = policy(org)
        record_event(org=org, actor=actor, action="retention.changed",
                     object_type="organisation", object_id=org.pk,
                     before={k: v for k, v in before.items() if v is not None},
                     after={k: v for k, v in after.items() if v is not None})
    return after


def policy(org: Organisation) -> dict[str, int | None]:
    rules = dict(RetentionRule.objects.filter(org=org).values_list("category", "keep_days"))
    return {category: rules.get(category) for category in Category.values}


def purge_org(org: Organisation, *, now: datetime | None = None) -> dict[str, int | str]:
    """Apply the organisation's rules; returns what was purged per category."""
    now = now or timezone.now()
    report: dict[str, int | str] = {}
    for rule in RetentionRule.objects.filter(org=org).order_by("category"):
        purger = PURGERS.get(rule.category)
        if purger is None:
            report[rule.category] = NOT_APPLIED.get(rule.category, "no such data is stored yet")
            continue
        with transaction.atomic():
            count = purger(org, now - timedelta(days=rule.keep_days))
            if count:
                record_event(org=org, actor=Actor.system(), action="retention.purged",
                             object_type="organisation", object_id=org.pk,
                             after={"category": rule.category, "keep_days": rule.keep_days,
                                    "purged": count})
        report[rule.category] = count
    return report


def purge_all(now: datetime | None = None) -> dict[str, dict[str, int | str]]:
    orgs = Organisation.objects.filter(retention_rules__isnull=False).distinct().order_by("pk")
    return {org.slug: purge_org(org, now=now) for org in orgs}

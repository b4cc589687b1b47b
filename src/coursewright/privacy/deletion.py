"""Deletion on request, with a receipt, and crypto-shredding for whole organisations.

What is guaranteed:

- ``delete_course`` removes the course, all its versions, review comments, images,
  built packages and generation jobs, and every stored file no remaining row refers to,
  with the published (plaintext) copy of each such image (delivery.content); a copy
  another course of the organisation still shows stays.
- ``delete_organisation`` removes every row that belongs to the organisation (and the
  accounts of people who belong to no other organisation), deletes its whole directory
  (or bucket prefix, on S3) in its region's storage, published files included, and then
  destroys its data keys in the keyring. From then on
  any copy of its data that we could not reach — an older backup, a stray file, a
  replica — is ciphertext under a key that no longer exists, and the destroyed key id is
  never re-created. What this cannot reach: packages already downloaded and uploaded to an
  LMS, or files a CDN or a learner's browser copied while they were published; those are
  outside our storage and are the recipient's to delete.
- Each deletion writes a receipt to the audit log (what, when, by whom, counts) and
  returns it. Receipts hold ids and counts only, never content or names. Kinds added
  after the first receipts (deployments) are counted only when there are some, so a
  receipt's keys say which kinds of data the deleted object had.
- A course's deployments (its staging and production history, and the channels) go
  with it, even though a deployment keeps its version from being deleted on its own
  (RESTRICT): the collector allows it because the deployments go in the same deletion.
- Rows go in one transaction; files and keys go only after it commits, so a failure
  leaves either everything or (for files and keys) something ``finish_organisation``
  can safely complete again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.courses.models import Asset, Course, CourseVersion, ReviewComment
from coursewright.delivery.models import Deployment
from coursewright.errors import Forbidden, Invalid
from coursewright.orgs.models import Organisation
from coursewright.publishing.models import Export


@dataclass
class DeletionReceipt:
    kind: str
    object_id: int
    org_id: int
    deleted_at: datetime
    deleted_by: str
    channel: str
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    files_deleted: int = 0
    key_destroyed: bool = False

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["deleted_at"] = self.deleted_at.isoformat()
        return data


def delete_course(course: Course, *, actor: Actor, reason: str = "") -> DeletionReceipt:
    from coursewright.ai.models import GenerationJob
    from coursewright.delivery.content import (
        forget_published,
        published_copy,
        published_exists,
    )
    from coursewright.storage import delete_quietly

    org = course.org
    with transaction.atomic():
        versions = CourseVersion.objects.filter(course=course)
        paths = set(Asset.objects.filter(course=course).values_list("storage_path", flat=True))
        paths |= set(Export.objects.filter(version__course=course)
                     .values_list("storage_path", flat=True))
        counts = {
            "courses": 1,
            "versions": versions.count(),
            "review_comments": ReviewComment.objects.filter(version__course=course).count(),
            "images": Asset.objects.filter(course=course).count(),
            "packages": Export.objects.filter(version__course=course).count(),
            "generation_jobs": GenerationJob.objects.filter(course=course).count(),
        }
        deployments = Deployment.objects.filter(course=course).count()
        if deployments:
            counts["deployments"] = deployments
        GenerationJob.objects.filter(course=course).delete()
        course_id = course.pk
        course.delete()
        still_used = set(Asset.objects.filter(storage_path__in=paths)
                         .values_list("storage_path", flat=True)) | set(
            Export.objects.filter(storage_path__in=paths).values_list("storage_path", flat=True))
        doomed = sorted(paths - still_used)
        # the published (plaintext) copies of images no other course of the org still has
        published = [p for p in map(published_copy, doomed) if p and published_exists(p)]
        doomed += published
        receipt = DeletionReceipt(kind="course", object_id=course_id, org_id=org.pk,
                                  deleted_at=timezone.now(), deleted_by=actor.label,
                                  channel=str(actor.channel), reason=reason[:500],
                                  counts=counts, files_deleted=len(doomed))
        record_event(org=org, actor=actor, action="deletion.course", object_type="course",
                     object_id=course_id, after=receipt.as_json())

        def remove_files() -> None:
            for path in doomed:
                delete_quietly(path)
            forget_published(published)

        transaction.on_commit(remove_files)
    return receipt


def _org_counts(org: Organisation) -> dict[str, int]:
    from coursewright.ai.models import GenerationJob
    from coursewright.ingest.models import Document, DocumentChunk
    from coursewright.orgs.models import ApiKey, Invitation, Membership

    models = {"memberships": Membership, "invitations": Invitation, "api_keys": ApiKey,
              "documents": Document, "document_chunks": DocumentChunk,
              "generation_jobs": GenerationJob, "courses": Course,
              "versions": CourseVersion, "review_comments": ReviewComment, "images": Asset,
              "packages": Export}
    counts = {name: model._default_manager.filter(org=org).count()
              for name, model in models.items()}
    from coursewright.delivery.models import (
        LaunchEvent,
        LaunchProgress,
        LaunchSession,
        License,
        PlayerError,
    )

    # delivery's kinds are counted only when there are some (older receipts lack them)
    for name, model in {"deployments": Deployment, "licenses": License,
                        "launch_events": LaunchEvent, "launch_sessions": LaunchSession,
                        "launch_progress": LaunchProgress,
                        "player_errors": PlayerError}.items():
        if count := model._default_manager.filter(org=org).count():
            counts[name] = count
    from coursewright.webhooks.privacy import org_counts as webhook_counts

    counts.update(webhook_counts(org))  # they go by cascade from the organisation
    from coursewright.lti.privacy import org_counts as lti_counts

    counts.update(lti_counts(org))  # by cascade too (registrations, their launches)
    return counts


def _delete_launch_records(org: Organisation) -> None:
    """The organisation's launch records (progress, player errors, launch events, cmi5
    sessions, launch sessions, license learners), one DELETE per table, children first.
    Left to ``Organisation.delete()``, the ORM would first set every row's license,
    course and session to NULL (their foreign keys are SET_NULL) — a million updates
    before a million deletes. Call inside the deletion's transaction."""
    from coursewright.cmi5.models import AuSession
    from coursewright.delivery.models import (
        LaunchEvent,
        LaunchProgress,
        LaunchSession,
        License,
        LicenseLearner,
        PlayerError,
    )

    with connection.cursor() as cursor:
        for model in (PlayerError, LaunchProgress, LaunchEvent, AuSession, LaunchSession):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE org_id = %s",  # noqa: S608
                           [org.pk])
        cursor.execute(
            f"DELETE FROM {LicenseLearner._meta.db_table} WHERE license_id IN "  # noqa: S608
            f"(SELECT id FROM {License._meta.db_table} WHERE org_id = %s)", [org.pk])


# SQLite's page cache while an organisation is deleted: a million-row DELETE touches its
# indexes' pages in an order unrelated to the table's, and with the default 2 MiB cache
# each page is read (and spilled to the WAL) over and over. 256 MiB, for that
# transaction only, holds the indexes of a large organisation's launch records.
DELETION_CACHE_KIB = 262_144


@contextmanager
def _large_page_cache() -> Iterator[None]:
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = -{DELETION_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {before}")


def delete_organisation(org: Organisation, *, actor: Actor, confirm: str,
                        reason: str = "") -> DeletionReceipt:
    from coursewright.accounts.models import User

    if confirm != org.slug:
        raise Invalid(f"type the organisation's slug ({org.slug}) to confirm the deletion",
                      code="confirmation_required")
    if actor.api_key is not None:
        raise Forbidden("Deleting an organisation needs a signed-in owner, not an API key.",
                        code="person_required")
    key_id, region, org_id = str(org.key_id), org.region, org.pk
    with _large_page_cache(), transaction.atomic():
        counts = _org_counts(org)
        # people whose only organisation this is: their accounts hold nothing else
        loners = (User.objects.filter(memberships__org=org)
                  .annotate(n=Count("memberships"))
                  .filter(n=1, is_superuser=False))
        loner_ids = list(loners.values_list("pk", flat=True))
        # the LRS's tables go first, one DELETE each (nothing loaded into memory)
        from coursewright.tracking.privacy import delete_org_records

        counts.update({k: v for k, v in delete_org_records(org).items() if v})
        _delete_launch_records(org)
        org.delete()
        counts["accounts"] = len(loner_ids)
        receipt = DeletionReceipt(kind="organisation", object_id=org_id, org_id=org_id,
                                  deleted_at=timezone.now(), deleted_by=actor.label,
                                  channel=str(actor.channel), reason=reason[:500],
                                  counts=counts, key_destroyed=True)
        # The receipt is a system row: the organisation and its key are about to be gone.
        record_event(org=None, actor=actor, action="deletion.organisation",
                     object_type="organisation", object_id=org_id, after=receipt.as_json())
        User.objects.filter(pk__in=loner_ids).delete()  # after the receipt that names them
    receipt.files_deleted = finish_organisation(key_id=key_id, org_id=org_id, region=region)
    return receipt


def finish_organisation(*, key_id: str, org_id: int, region: str) -> int:
    """Destroy the keys, then remove the files. Safe to run again."""
    from coursewright.privacy.keys import forget_cached, keyring
    from coursewright.privacy.orgkeys import key_id_for_org
    from coursewright.storage import delete_org_files

    keyring().destroy(key_id, reason=f"organisation {org_id} deleted")
    forget_cached(key_id)
    key_id_for_org.cache_clear()
    # the whole org-<id>/ folder or bucket prefix: sealed files and published ones
    return delete_org_files(region, org_id)

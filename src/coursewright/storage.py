"""Where files live, and the residency rule.

A file's name is ``<region>/org-<id>/<kind>/<sha256><ext>``: content-addressed (same
bytes, same name) and always under its organisation's region. Each region is a storage of
its own — a directory per region locally (``<storage>/<region>/`` unless
``COURSEWRIGHT_STORAGE_DIR_<REGION>`` puts it elsewhere, e.g. on another volume), a
bucket per region on S3 — so an EU organisation's files can only ever be written to, or
read from, the EU location. A request that would cross regions is refused and recorded
in the audit log.

A region is on S3 when ``COURSEWRIGHT_S3_BUCKET_<REGION>`` names a bucket (any
S3-compatible service, ``COURSEWRIGHT_S3_ENDPOINT_URL``); credentials come from the
standard AWS environment / boto3 chain only. Object names are the same as on disk, minus
the region (the bucket is the region).

Every file written through ``put_bytes`` is sealed under its organisation's data key
(privacy.crypto), bound to its name: the storage holds ciphertext only, a file copied to
another name or organisation does not decrypt, and destroying the organisation's key makes
every copy unreadable. The one exception is ``<region>/org-<id>/pub/``: published
learner-facing files, plaintext so that a CDN can serve them (delivery.content).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage

from coursewright.errors import Forbidden
from coursewright.orgs.models import Organisation, Region
from coursewright.privacy.crypto import seal, unseal

logger = logging.getLogger(__name__)
SEALED_TYPE = "application/octet-stream"  # what S3 is told a sealed file is, whatever its name


class ResidencyViolation(Forbidden):
    code = "residency"


def s3_bucket(region: str) -> str | None:
    """The bucket that holds ``region``'s files, or None when the region is on local disk."""
    bucket: str | None = getattr(settings, "REGION_S3_BUCKETS", {}).get(region)
    return bucket or None


def region_storage(region: str) -> Storage:
    if region not in Region.values:
        raise ResidencyViolation(f"unknown region {region!r}")
    bucket = s3_bucket(region)
    if bucket:
        return _s3_storage(bucket, getattr(settings, "S3_ENDPOINT_URL", None),
                           getattr(settings, "S3_REGION_NAME", None))
    configured = getattr(settings, "REGION_STORAGE_DIRS", {}).get(region)
    base = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    return FileSystemStorage(location=configured or base / region)


@lru_cache(maxsize=16)
def _s3_storage(bucket: str, endpoint_url: str | None, region_name: str | None) -> Storage:
    # One instance per bucket (it keeps a boto3 session and a connection per thread).
    # SigV4 everywhere: it is what presigned URLs need on every AWS region, and its
    # X-Amz-Expires is what makes them expire.
    from storages.backends.s3 import S3Storage  # type: ignore[import-untyped]

    storage: Storage = S3Storage(bucket_name=bucket, endpoint_url=endpoint_url,
                                 region_name=region_name, signature_version="s3v4",
                                 default_acl=None, file_overwrite=True,
                                 querystring_auth=True)
    return storage


def org_path(org: Organisation, kind: str, sha256: str, ext: str) -> str:
    return f"{org.region}/org-{org.pk}/{kind}/{sha256}{ext}"


def locate(org: Organisation, path: str) -> tuple[Storage, str]:
    """The storage and the name in it of ``path``, one of ``org``'s files (refused and
    audited when it is outside the organisation's region or folder)."""
    region, _, name = path.partition("/")
    if region != org.region or not name.startswith(f"org-{org.pk}/"):
        _refuse(org, path)
    return region_storage(region), name



def _refuse(org: Organisation, path: str) -> None:
    from coursewright.audit.actions import record_event
    from coursewright.audit.actor import Actor

    record_event(org=org, actor=Actor.system(), action="residency.refused",
                 object_type="file", object_id=path[:64],
                 after={"org_region": org.region, "path_region": path.split("/", 1)[0]})
    raise ResidencyViolation(
        f"refused: this file is not stored in the organisation's region ({org.region})")


def put_bytes(org: Organisation, kind: str, data: bytes, ext: str) -> tuple[str, str]:
    """Store ``data`` encrypted in the org's region; returns (name, sha256 of the
    plaintext). Idempotent for identical content."""
    digest = hashlib.sha256(data).hexdigest()
    path = org_path(org, kind, digest, ext)
    storage, name = locate(org, path)
    if not storage.exists(name):
        sealed = ContentFile(seal(str(org.key_id), data, where=f"file:{path}"))
        sealed.content_type = SEALED_TYPE  # type: ignore[attr-defined]
        saved = storage.save(name, sealed)
        if saved != name:  # lost a race with an identical write; keep one copy
            storage.delete(saved)
    return path, digest


def read_bytes(org: Organisation, path: str) -> bytes:
    storage, name = locate(org, path)
    with storage.open(name, "rb") as handle:
        sealed: bytes = handle.read()
    return unseal(str(org.key_id), sealed, where=f"file:{path}")


def delete_quietly(path: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    region, _, name = path.partition("/")
    try:
        region_storage(region).delete(name)
    except (OSError, ResidencyViolation):
        pass
    except (BotoCoreError, ClientError):
        logger.warning("could not delete %s from object storage", path, exc_info=True)


def delete_org_files(region: str, org_id: int) -> int:
    """Remove every file under ``org-<id>/`` in the region's storage (sealed and
    published alike); returns how many there were. Safe to run again."""
    prefix = f"org-{int(org_id)}"
    storage = region_storage(region)
    if isinstance(storage, FileSystemStorage):
        root = Path(storage.path(prefix))
        files = sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0
        shutil.rmtree(root, ignore_errors=True)
        return files
    s3: Any = storage
    client = s3.connection.meta.client
    removed = 0
    # a listing page holds at most 1,000 keys, as many as one DeleteObjects call takes
    for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=s3.bucket_name, Prefix=f"{prefix}/"):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if not keys:
            continue
        answer = client.delete_objects(Bucket=s3.bucket_name,
                                       Delete={"Objects": keys, "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise OSError(f"object storage refused to delete {len(answer['Errors'])} "
                          f"object(s) under {prefix}/, e.g. {first.get('Key')}: "
                          f"{first.get('Code')}")
        removed += len(keys)
    return removed

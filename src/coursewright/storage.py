"""Where files live, and the residency rule.

A file's name is ``<region>/org-<id>/<kind>/<sha256><ext>``: content-addressed (same
bytes, same name) and always under its organisation's region. Each region is a storage of
its own — a directory per region locally (``<storage>/<region>/`` unless
``COURSEWRIGHT_STORAGE_DIR_<REGION>`` puts it elsewhere, e.g. on another volume), a
bucket per region on S3 — so an EU organisation's files can only ever be written to, or
read from, the EU location. A request that would cross regions is refused and recorded
in the audit log.

Every file is sealed under its organisation's data key (privacy.crypto), bound to its
name: the storage holds ciphertext only, a file copied to another name or organisation
does not decrypt, and destroying the organisation's key makes every copy unreadable.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage

from coursewright.errors import Forbidden
from coursewright.orgs.models import Organisation, Region
from coursewright.privacy.crypto import seal, unseal


class ResidencyViolation(Forbidden):
    code = "residency"


def region_storage(region: str) -> Storage:
    if region not in Region.values:
        raise ResidencyViolation(f"unknown region {region!r}")
    configured = getattr(settings, "REGION_STORAGE_DIRS", {}).get(region)
    base = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    return FileSystemStorage(location=configured or base / region)


def org_path(org: Organisation, kind: str, sha256: str, ext: str) -> str:
    return f"{org.region}/org-{org.pk}/{kind}/{sha256}{ext}"


def _locate(org: Organisation, path: str) -> tuple[Storage, str]:
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
    storage, name = _locate(org, path)
    if not storage.exists(name):
        sealed = seal(str(org.key_id), data, where=f"file:{path}")
        saved = storage.save(name, ContentFile(sealed))
        if saved != name:  # lost a race with an identical write; keep one copy
            storage.delete(saved)
    return path, digest


def read_bytes(org: Organisation, path: str) -> bytes:
    storage, name = _locate(org, path)
    with storage.open(name, "rb") as handle:
        sealed: bytes = handle.read()
    return unseal(str(org.key_id), sealed, where=f"file:{path}")


def delete_quietly(path: str) -> None:
    region, _, name = path.partition("/")
    with contextlib.suppress(OSError, ResidencyViolation):
        region_storage(region).delete(name)

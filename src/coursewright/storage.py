"""Where files live: ``<region>/org-<id>/<kind>/<sha256><ext>`` in the default storage.

Paths are content-addressed (same bytes, same path) and always under the org's region,
so moving storage per region later is a settings change, not a data migration.

Every file is sealed under its organisation's data key (privacy.crypto), bound to its
path: the storage holds ciphertext only, a file copied to another path or organisation
does not decrypt, and destroying the organisation's key makes every copy unreadable.
"""

from __future__ import annotations

import contextlib
import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from coursewright.orgs.models import Organisation
from coursewright.privacy.crypto import seal, unseal


def org_path(org: Organisation, kind: str, sha256: str, ext: str) -> str:
    return f"{org.region}/org-{org.pk}/{kind}/{sha256}{ext}"


def put_bytes(org: Organisation, kind: str, data: bytes, ext: str) -> tuple[str, str]:
    """Store ``data`` encrypted; returns (path, sha256 of the plaintext). Idempotent."""
    digest = hashlib.sha256(data).hexdigest()
    path = org_path(org, kind, digest, ext)
    if not default_storage.exists(path):
        sealed = seal(str(org.key_id), data, where=f"file:{path}")
        saved = default_storage.save(path, ContentFile(sealed))
        if saved != path:  # lost a race with an identical write; keep one copy
            default_storage.delete(saved)
    return path, digest


def read_bytes(org: Organisation, path: str) -> bytes:
    if not path.startswith(f"{org.region}/org-{org.pk}/"):
        raise ValueError("that file does not belong to this organisation")
    with default_storage.open(path, "rb") as handle:
        sealed: bytes = handle.read()
    return unseal(str(org.key_id), sealed, where=f"file:{path}")


def delete_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        default_storage.delete(path)

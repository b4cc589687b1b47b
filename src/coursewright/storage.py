"""Where files live: ``<region>/org-<id>/<kind>/<sha256><ext>`` in the default storage.

Paths are content-addressed (same bytes, same path) and always under the org's region,
so moving storage per region later is a settings change, not a data migration.
"""

from __future__ import annotations

import contextlib
import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from coursewright.orgs.models import Organisation


def org_path(org: Organisation, kind: str, sha256: str, ext: str) -> str:
    return f"{org.region}/org-{org.pk}/{kind}/{sha256}{ext}"


def put_bytes(org: Organisation, kind: str, data: bytes, ext: str) -> tuple[str, str]:
    """Store ``data``; returns (path, sha256). Idempotent for identical content."""
    digest = hashlib.sha256(data).hexdigest()
    path = org_path(org, kind, digest, ext)
    if not default_storage.exists(path):
        saved = default_storage.save(path, ContentFile(data))
        if saved != path:  # lost a race with an identical write; keep one copy
            default_storage.delete(saved)
    return path, digest


def read_bytes(path: str) -> bytes:
    with default_storage.open(path, "rb") as handle:
        data: bytes = handle.read()
    return data


def delete_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        default_storage.delete(path)

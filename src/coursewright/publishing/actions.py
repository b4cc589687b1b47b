"""Exports: packages built from approved (or published) versions only.

Builds are reproducible (same version → same bytes), so an export is stored once per
(version, format) and served again from storage; the audit log still records each
download as a data access.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.courses.actions import validate_content
from coursewright.courses.models import Asset, CourseVersion, VersionState
from coursewright.errors import Conflict, Invalid
from coursewright.publishing.models import Export, ExportFormat
from coursewright.storage import delete_quietly, put_bytes, read_bytes

EXPORTABLE = (VersionState.APPROVED, VersionState.PUBLISHED)


def build_version_package(version: CourseVersion, fmt: str) -> bytes:
    from coursewright.publishing.packaging import PackageMeta, build_package

    if version.state not in EXPORTABLE or version.approved_at is None:
        raise Conflict("Only an approved version can be exported; have a reviewer approve "
                       "it first.", code="not_approved")
    if fmt not in ExportFormat.values:
        raise Invalid(f"format must be one of {', '.join(ExportFormat.values)}",
                      code="bad_format")
    content = validate_content(version.content)
    assets = {
        a.sha256: (read_bytes(version.org, a.storage_path), a.content_type)
        for a in Asset.objects.filter(course_id=version.course_id,
                                      sha256__in=content.asset_hashes())
    }
    approver = version.approved_by
    meta = PackageMeta(
        course_id=f"{version.org.slug}-{version.course_id}",
        version_number=version.number,
        approved_by=(approver.display_name or approver.email) if approver else "a reviewer",
        approved_at=version.approved_at,
        published_at=version.published_at,
        org_name=version.org.name,
    )
    return build_package(content, fmt=fmt, meta=meta, assets=assets)  # type: ignore[arg-type]


def export_version(version: CourseVersion, fmt: str, *, actor: Actor) -> Export:
    existing = Export.objects.filter(version=version, format=fmt).first()
    if existing is None:
        data = build_version_package(version, fmt)
        path, digest = put_bytes(version.org, "exports", data, ".zip")
        try:
            with transaction.atomic():
                existing = Export.objects.create(org_id=version.org_id, version=version,
                                                 format=fmt, sha256=digest, size=len(data),
                                                 storage_path=path)
        except IntegrityError:
            existing = Export.objects.get(version=version, format=fmt)
        except Exception:
            delete_quietly(path)
            raise
    elif version.state not in EXPORTABLE:
        raise Conflict("Only an approved version can be exported.", code="not_approved")
    record_event(org=version.org, actor=actor, action="export.downloaded",
                 object_type="course_version", object_id=version.pk,
                 after={"format": fmt, "sha256": existing.sha256})
    return existing


def build_export(version: CourseVersion, fmt: str, *, actor: Actor) -> bytes:
    """Build a package afresh (never from the stored copy) and record the access."""
    data = build_version_package(version, fmt)
    record_event(org=version.org, actor=actor, action="export.built",
                 object_type="course_version", object_id=version.pk,
                 after={"format": fmt, "sha256": hashlib.sha256(data).hexdigest()})
    return data


def export_filename(version: CourseVersion, fmt: str) -> str:
    from django.utils.text import slugify

    return f"{slugify(version.course.title)[:60] or 'course'}-v{version.number}-{fmt}.zip"

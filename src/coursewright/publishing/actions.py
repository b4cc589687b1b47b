"""Exports: packages built from approved (or published) versions only.

Builds are reproducible (same version → same bytes), so an export is stored once per
(version, format) and served again from storage; the audit log still records each
download as a data access.

A package leaves for a client's LMS, so no personal data of staff goes into it: the
reviewer travels as an opaque reference (``courses.transparency.reviewer_reference``)
and the footer names the organisation, not the person. The note on AI-made screens is
the organisation's wording (``ai.policy.disclosure_text``); the unchanged default is
left to the player, which translates it into the course language.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import IntegrityError, transaction

from coursewright.ai.policy import DEFAULT_DISCLOSURE, disclosure_text
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.courses.actions import validate_content
from coursewright.courses.models import Asset, Course, CourseVersion, VersionState
from coursewright.courses.transparency import reviewer_reference
from coursewright.errors import Conflict, Invalid
from coursewright.publishing.models import Export
from coursewright.storage import delete_quietly, put_bytes, read_bytes

EXPORTABLE = (VersionState.APPROVED, VersionState.PUBLISHED)


def activity_base(course: Course) -> str:
    """The IRI a course's xAPI activities (cmi5 course, AUs, TinCan activity) derive from:
    on this platform, by the course's uid, the same for every version."""
    return f"{settings.BASE_URL}/xapi/activities/courses/{course.uid}"


def build_version_package(version: CourseVersion, fmt: str, *,
                          cmi5_layout: str = "course") -> bytes:
    from coursewright.publishing.packaging import FORMATS, PackageMeta, build_package
    from coursewright.publishing.xapi_manifests import LAYOUTS

    if version.state not in EXPORTABLE or version.approved_at is None:
        raise Conflict("Only an approved version can be exported; have a reviewer approve "
                       "it first.", code="not_approved")
    if fmt not in FORMATS:
        raise Invalid(f"format must be one of {', '.join(FORMATS)}", code="bad_format")
    if cmi5_layout not in LAYOUTS:
        raise Invalid(f"the cmi5 layout must be one of {', '.join(LAYOUTS)}",
                      code="bad_layout")
    content = validate_content(version.content)
    assets = {
        a.sha256: (read_bytes(version.org, a.storage_path), a.content_type)
        for a in Asset.objects.filter(course_id=version.course_id,
                                      sha256__in=content.asset_hashes())
    }
    org = version.org
    meta = PackageMeta(
        course_id=f"{org.slug}-{version.course_id}",
        version_number=version.number,
        approved_by=org.name,
        approved_at=version.approved_at,
        published_at=version.published_at,
        org_name=org.name,
        approved_via=version.approved_via or None,
        reviewer_ref=(reviewer_reference(org.key_id, version.approved_by_id)
                      if version.approved_by_id is not None else None),
        activity_base=activity_base(version.course),
    )
    wording = disclosure_text(org)
    disclosure = None if wording == DEFAULT_DISCLOSURE else wording
    from coursewright.assist.access import player_assist

    return build_package(content, fmt=fmt, meta=meta, assets=assets,
                         disclosure=disclosure, assist=player_assist(version),
                         cmi5_layout=cmi5_layout)


def forget_exports(version: CourseVersion) -> int:
    """Drop the stored packages of ``version`` (rebuilt on the next download), e.g. after
    its learner AI settings changed, so no stored package carries stale settings."""
    count = 0
    for export in Export.objects.filter(version=version):
        path = export.storage_path
        export.delete()
        delete_quietly(path)
        count += 1
    return count


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


def build_export(version: CourseVersion, fmt: str, *, actor: Actor,
                 cmi5_layout: str = "course") -> bytes:
    """Build a package afresh (never from the stored copy) and record the access; a cmi5
    package with one AU per module (``cmi5_layout="module"``) is always built this way."""
    data = build_version_package(version, fmt, cmi5_layout=cmi5_layout)
    after = {"format": fmt, "sha256": hashlib.sha256(data).hexdigest()}
    if fmt == "cmi5":
        after["cmi5_layout"] = cmi5_layout
    record_event(org=version.org, actor=actor, action="export.built",
                 object_type="course_version", object_id=version.pk, after=after)
    return data


def export_filename(version: CourseVersion, fmt: str) -> str:
    from django.utils.text import slugify

    return f"{slugify(version.course.title)[:60] or 'course'}-v{version.number}-{fmt}.zip"

"""Build learner packages (SCORM 2004 4th ed., SCORM 1.2, plain HTML, cmi5, xAPI/TinCan)
as zip bytes.

Design note: reproducibility
---------------------------
``build_package`` is a pure function of its arguments: the same content, format, meta
and assets give byte-identical zips in any process, time zone, locale, hash seed or
dict order. How:

* Nothing is read from the clock or the environment. The only dates written are those
  in ``meta`` (rendered in UTC, ISO 8601) and in block provenance.
* Every zip entry gets the same timestamp: ``meta.approved_at`` in UTC (clamped to the
  zip range 1980-2107, two-second DOS resolution), fixed permissions (regular file
  0644, ``create_system`` Unix), no extra fields, no directory entries, no comment.
* Entries are written in sorted name order; names are relative POSIX paths we
  generate (``index.html``, ``player/…``, ``assets/<sha256>.<ext>``, the manifest and
  the schema files), never absolute, never ``..``.
* Compression is fixed per entry: deflate at level 9 for text, stored for images
  (already compressed). Deflate output depends on the zlib build, so "identical"
  holds for one build of Python/zlib (as used by one deployment), which is what
  storing one export per (version, format) needs.
* Generated text is deterministic: JSON with sorted keys, HTML from ordered content,
  XML from lxml with a fixed attribute order; assets are iterated by sorted sha256.

Layout: ``index.html`` (launch file), ``player/player.js|player.css|noscript.css``,
``assets/<sha256>.<ext>`` for images, ``provenance.json``, ``metadata.xml``,
``ai-provenance.json``; SCORM packages add ``imsmanifest.xml`` and the official XSDs of
their edition at the root; cmi5 packages add ``cmi5.xml`` (one AU for the course, or one
per module: ``cmi5_layout``) and ``CourseStructure.xsd``; xAPI packages add
``tincan.xml`` (see :mod:`coursewright.publishing.xapi_manifests`).

AI transparency (EU AI Act Art. 50(2), terms and rules in
:mod:`coursewright.courses.transparency`): every package carries the marks in four
places, all derived from the same content and review record so they cannot disagree:

* ``provenance.json``: per screen and block, the IPTC digital source type, engine,
  model, generation time, edited flag and cited chunks; the review record (state,
  approval time, channel, an opaque reviewer reference) and the law it serves;
* ``index.html``: schema.org JSON-LD (the course and each AI-made screen with its
  ``digitalSourceType``), data attributes, and a visible note on each AI-made screen in
  the wording the caller passes (``disclosure``: the organisation's text, or None for
  the player's translated default);
* ``metadata.xml``: a LOM record with the course's digital source type as a
  classification, which SCORM manifests name with ``adlcp:location``;
* ``ai-provenance.json``: the older per-block list, kept for existing readers.

No personal data of staff goes into a package: ``PackageMeta`` carries the reviewer
only as an opaque reference, and ``approved_by`` is a label learners read (exports pass
the organisation's name).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from coursewright.courses.content import CourseContent
from coursewright.courses.transparency import ReviewRecord, provenance_record, summarise
from coursewright.player.render import (
    PROVENANCE_FILE,
    AssistConfig,
    ImageFile,
    ai_provenance,
    player_assets,
    render_index_html,
)
from coursewright.publishing.manifests import (
    METADATA_FILE,
    build_manifest,
    build_metadata,
    schema_files,
    validate_manifest,
)
from coursewright.publishing.xapi_manifests import (
    CMI5_FILE,
    TINCAN_FILE,
    Cmi5Layout,
    build_cmi5_xml,
    build_tincan_xml,
    cmi5_schema_files,
)

PackageFormat = Literal["scorm2004", "scorm12", "html", "cmi5", "xapi"]
FORMATS: tuple[PackageFormat, ...] = ("scorm2004", "scorm12", "html", "cmi5", "xapi")
XAPI_FORMATS = frozenset({"cmi5", "xapi"})

IMAGE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
                    "image/gif": "gif"}
_STORED_EXTENSIONS = frozenset(IMAGE_EXTENSIONS.values())
_FILE_MODE = 0o100644  # regular file, rw-r--r--
_UNIX = 3


class PackagingError(ValueError):
    """The inputs cannot make a package (missing or mismatched asset, bad metadata)."""


@dataclass(frozen=True)
class PackageMeta:
    course_id: str  # stable identifier, e.g. "acme-12"
    version_number: int
    # Who reviewed, as learners read it in the footer. Exports pass the organisation's
    # name: a package leaves for a client's LMS, so never a person's name or email.
    approved_by: str
    approved_at: datetime  # timezone-aware
    published_at: datetime | None
    org_name: str
    approved_via: str | None = None  # channel of the approval: "web", "api", "cli"
    reviewer_ref: str | None = None  # transparency.reviewer_reference(), opaque
    # the IRI the course's xAPI activities derive from (cmi5 and xAPI packages need it):
    # exports pass <platform>/xapi/activities/courses/<course uid>
    activity_base: str | None = None

    def __post_init__(self) -> None:
        if not self.course_id.strip():
            raise PackagingError("course_id must not be empty")
        if self.version_number < 1:
            raise PackagingError("version_number must be at least 1")
        for name in ("approved_at", "published_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise PackagingError(f"{name} must be timezone-aware")

    @property
    def review(self) -> ReviewRecord:
        return ReviewRecord(approved_at=self.approved_at, approved_via=self.approved_via,
                            reviewer_ref=self.reviewer_ref, published_at=self.published_at)


def _zip_timestamp(moment: datetime) -> tuple[int, int, int, int, int, int]:
    utc = moment.astimezone(UTC)
    if utc.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if utc.year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second - utc.second % 2)


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Exception:  # a size is only a layout hint
        return None, None
    return int(width), int(height)


def _check_name(name: str) -> None:
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise PackagingError(f"unsafe file name in package: {name!r}")


def write_zip(files: Mapping[str, bytes], stamp: datetime) -> bytes:
    """A deterministic zip of ``files`` (name → bytes), see the module design note."""
    date_time = _zip_timestamp(stamp)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            _check_name(name)
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.create_system = _UNIX
            info.external_attr = _FILE_MODE << 16
            stored = name.rsplit(".", 1)[-1] in _STORED_EXTENSIONS
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name], compress_type=info.compress_type,
                             compresslevel=None if stored else 9)
    return buffer.getvalue()


def _image_files(content: CourseContent,
                 assets: Mapping[str, tuple[bytes, str]]) -> tuple[dict[str, bytes],
                                                                    dict[str, ImageFile]]:
    files: dict[str, bytes] = {}
    images: dict[str, ImageFile] = {}
    for sha in sorted(content.asset_hashes()):
        if sha not in assets:
            raise PackagingError(f"the course shows image {sha} but it was not supplied")
        data, content_type = assets[sha]
        if hashlib.sha256(data).hexdigest() != sha:
            raise PackagingError(f"image {sha}: the bytes do not match their sha256")
        ext = IMAGE_EXTENSIONS.get(content_type.split(";")[0].strip().lower())
        if ext is None:
            raise PackagingError(f"image {sha}: unsupported content type {content_type!r}")
        name = f"assets/{sha}.{ext}"
        files[name] = data
        width, height = _image_size(data)
        images[sha] = ImageFile(src=name, width=width, height=height)
    return files, images


def _json_file(data: object) -> bytes:
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def package_files(
    content: CourseContent,
    *,
    fmt: PackageFormat,
    meta: PackageMeta,
    assets: Mapping[str, tuple[bytes, str]],
    disclosure: str | None = None,
    assist: AssistConfig | None = None,
    cmi5_layout: Cmi5Layout = "course",
) -> dict[str, bytes]:
    """Every file of the package, by relative path (what ``build_package`` zips)."""
    if fmt not in FORMATS:
        raise PackagingError(f"unknown package format {fmt!r}")
    if fmt in XAPI_FORMATS and not meta.activity_base:
        raise PackagingError(f"a {fmt} package needs meta.activity_base (an absolute IRI)")
    files, images = _image_files(content, assets)
    for name, data in player_assets().items():
        files[f"player/{name}"] = data
    files["index.html"] = render_index_html(
        content, fmt=fmt, meta=meta, images=images, disclosure=disclosure, assist=assist
    ).encode("utf-8")
    files["ai-provenance.json"] = _json_file(ai_provenance(content, meta))
    files[PROVENANCE_FILE] = _json_file(provenance_record(
        content, course_id=meta.course_id, version_number=meta.version_number,
        review=meta.review))
    files[METADATA_FILE] = build_metadata(
        content, binding="imsmd" if fmt == "scorm12" else "lom", course_id=meta.course_id,
        version_number=meta.version_number, source_type=summarise(content).source_type,
        provenance_file=PROVENANCE_FILE)
    if fmt == "cmi5":
        assert meta.activity_base is not None
        files[CMI5_FILE] = build_cmi5_xml(content, activity_base=meta.activity_base,
                                          layout=cmi5_layout)
        files.update(cmi5_schema_files())
    elif fmt == "xapi":
        assert meta.activity_base is not None
        files[TINCAN_FILE] = build_tincan_xml(content, activity_base=meta.activity_base)
    elif fmt == "scorm2004" or fmt == "scorm12":
        manifest = build_manifest(content, fmt=fmt, course_id=meta.course_id,
                                  version_number=meta.version_number, files=list(files),
                                  metadata_location=METADATA_FILE)
        validate_manifest(manifest, fmt)
        files["imsmanifest.xml"] = manifest
        for name, data in schema_files(fmt).items():
            files[name] = data
    return files


def build_package(
    content: CourseContent,
    *,
    fmt: PackageFormat,
    meta: PackageMeta,
    assets: Mapping[str, tuple[bytes, str]],
    disclosure: str | None = None,
    assist: AssistConfig | None = None,
    cmi5_layout: Cmi5Layout = "course",
) -> bytes:
    """The zip of ``content`` in ``fmt``; ``assets`` maps sha256 → (bytes, content type);
    ``disclosure`` is the note on AI-made screens (None: the player's default, translated);
    ``assist``: the learner AI (tutor, grading) settings, or None when it is off.

    Raises :class:`PackagingError` for a missing/mismatched image or bad metadata, and
    ``ManifestValidationError`` should a generated manifest ever fail its schemas.
    """
    files = package_files(content, fmt=fmt, meta=meta, assets=assets, disclosure=disclosure,
                          assist=assist, cmi5_layout=cmi5_layout)
    return write_zip(files, meta.approved_at)

"""Published course files: what a learner's browser loads, served by storage, not by us.

What is guaranteed, and why:

- **Published, content-addressed, immutable.** A deployed version's learner-facing files
  — the player's ``player.js``, ``player.css``, ``noscript.css`` and the images its
  content shows — are copied to ``<region>/org-<id>/pub/<sha256 of the bytes><ext>`` in
  the organisation's region (residency as for every file). Same bytes, same name, and a
  name never gets other bytes, so each file is written once with
  ``Cache-Control: public, max-age=31536000, immutable`` and its own Content-Type (S3
  object metadata; on disk ``gatekeeper_views.content_file`` sets the headers) and a CDN
  may sit in front. Only images the version shows are published, never a draft's.
- **Plaintext, on purpose.** A CDN must read these files, so they are not sealed under
  the organisation's key like everything else in storage (storage.py); at rest they rely
  on the bucket's own server-side encryption (SSE-S3 or SSE-KMS set on the bucket), or
  on the disk's. Nothing outside ``pub/`` is ever handed out as a URL or served by one.
- **When.** On deployment (``deployments.deploy_to_staging`` calls ``publish_deployed``
  after commit) and again, idempotently, whenever a launch session's page is rendered,
  so deployments made before publishing existed work. A process remembers what it
  published (and each version's file list: approved versions never change), so a page
  or a renewal costs no storage round trip once warm; deploying re-checks storage.
- **Reachable only by signed, expiring URLs**, minted only for a live launch session
  (the play page, ``POST /launch/v1/renew``), each valid for
  ``min(COURSEWRIGHT_CONTENT_URL_TTL, the session's remaining time)``: on S3 a presigned
  GET (SigV4, ``X-Amz-Expires``); on disk ``/content/<name>?e=<unix expiry>&s=<sig>``,
  HMAC-SHA256 over name and expiry under a key derived from SECRET_KEY for this purpose
  only, compared in constant time, and never valid for longer than the TTL configured
  now. After a revocation no new URL is issued, so the files stop being reachable within
  the TTL. What a CDN or a browser cached meanwhile cannot be recalled (README).
- **Deletion.** Deleting a course removes the published copy of each image no other
  course of the organisation still has (privacy.deletion, ``published_copy``); deleting
  an organisation removes its whole storage prefix, ``pub/`` included. Player files are
  shared by all of an organisation's courses and go with the organisation.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.db import transaction
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from coursewright.courses.content import CourseContent
from coursewright.courses.models import Asset, CourseVersion
from coursewright.delivery.models import LaunchSession
from coursewright.orgs.models import Organisation
from coursewright.storage import locate, read_bytes, region_storage, s3_bucket

if TYPE_CHECKING:
    from coursewright.player.render import AssistConfig, Format

IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png",
                 ".jpg": "image/jpeg", ".webp": "image/webp"}
PUBLISHED = re.compile(r"(?:eu|uk|us)/org-[1-9][0-9]{0,18}/pub/[0-9a-f]{64}"
                       r"\.(?:js|css|png|jpg|webp)")
_SEALED_IMAGE = re.compile(r"((?:eu|uk|us)/org-[0-9]+)/images/([0-9a-f]{64})"
                           r"(\.(?:png|jpg|webp))")
_SIGNING_PURPOSE = "coursewright.delivery.content.signed-url.v1"
_REMEMBER = 4096  # published names / version file lists a process keeps in mind


@dataclass(frozen=True)
class SignedFiles:
    """A session's course files: the name the page uses (``player.js``,
    ``images/<sha256>``) to a signed URL, and when those URLs stop working."""

    urls: dict[str, str]
    expires_at: datetime


# --- publishing ---------------------------------------------------------------------------


_lock = threading.Lock()
_published: set[tuple[str, str]] = set()  # (storage, name) known to exist
_version_files: dict[tuple[str, int], dict[str, str]] = {}  # (storage, version id) -> files


@cache
def _player_files() -> dict[str, tuple[str, bytes]]:
    from coursewright.player.render import player_assets

    return {name: (hashlib.sha256(data).hexdigest(), data)
            for name, data in player_assets().items()}


def published_name(org: Organisation, sha256: str, ext: str) -> str:
    return f"{org.region}/org-{org.pk}/pub/{sha256}{ext}"


def published_copy(path: str) -> str | None:
    """The published name of a sealed image's plaintext copy (None: not an image)."""
    match = _SEALED_IMAGE.fullmatch(path)
    if match is None:
        return None
    folder, sha256, ext = match.groups()
    return f"{folder}/pub/{sha256}{ext}"


def published_exists(path: str) -> bool:
    region, _, name = path.partition("/")
    return region_storage(region).exists(name)


def forget_published(paths: list[str]) -> None:
    """Drop deleted files from this process's memory of what is published."""
    gone = set(paths)
    with _lock:
        _published.difference_update({k for k in _published if k[1] in gone})
        _version_files.clear()


def publish_version(version: CourseVersion, *, content: CourseContent | None = None,
                    recheck: bool = False) -> dict[str, str]:
    """Publish ``version``'s learner-facing files (idempotent) and return their names in
    storage by the name the page uses for each. ``recheck``: ask the storage even for
    files this process already published."""
    org = version.org
    where = _where(org)
    with _lock:
        known = None if recheck else _version_files.get((where, version.pk))
    if known is not None:
        return dict(known)
    files = {name: _publish(org, published_name(org, sha256, "." + name.rsplit(".", 1)[1]),
                            partial(bytes, data), recheck=recheck)
             for name, (sha256, data) in _player_files().items()}
    if content is None:
        from coursewright.courses.actions import validate_content

        content = validate_content(version.content)
    wanted = content.asset_hashes()
    for asset in Asset.objects.filter(org_id=org.pk, course_id=version.course_id,
                                      sha256__in=wanted).order_by("sha256"):
        copy = published_copy(asset.storage_path)
        if copy is None:
            continue
        files[f"images/{asset.sha256}"] = _publish(org, copy, partial(_plaintext, org, asset),
                                                   recheck=recheck)
    with _lock:
        if len(_version_files) >= _REMEMBER:
            _version_files.clear()
        _version_files[(where, version.pk)] = dict(files)
    return files


def publish_deployed(version_id: int) -> None:
    """Publish a version that was just deployed (called after the deployment commits;
    a failure here is logged, and the first launch publishes instead)."""
    version = CourseVersion.objects.select_related("org").filter(pk=version_id).first()
    if version is not None:
        publish_version(version, recheck=True)


def publish_on_commit(version: CourseVersion) -> None:
    version_id = version.pk
    transaction.on_commit(lambda: publish_deployed(version_id), robust=True)


def _plaintext(org: Organisation, asset: Asset) -> bytes:
    data = read_bytes(org, asset.storage_path)
    if hashlib.sha256(data).hexdigest() != asset.sha256:
        raise ValueError(f"image {asset.pk}: stored bytes do not match its sha256")
    return data


def _where(org: Organisation) -> str:
    """Which storage an organisation's region is on now (settings can move it)."""
    bucket = s3_bucket(org.region)
    if bucket:
        return f"s3:{getattr(settings, 'S3_ENDPOINT_URL', None)}:{bucket}"
    storage = region_storage(org.region)
    assert isinstance(storage, FileSystemStorage)
    return f"file:{storage.location}"


def _publish(org: Organisation, path: str, load: Callable[[], bytes], *,
             recheck: bool) -> str:
    storage, name = locate(org, path)
    key = (_where(org), path)
    with _lock:
        if not recheck and key in _published:
            return path
    if not storage.exists(name):
        _write(storage, name, load(), CONTENT_TYPES[name[name.rindex("."):]])
    with _lock:
        if len(_published) >= _REMEMBER:
            _published.clear()
        _published.add(key)
    return path


def _write(storage: Storage, name: str, data: bytes, content_type: str) -> None:
    if isinstance(storage, FileSystemStorage):
        saved = storage.save(name, ContentFile(data))
        if saved != name:  # lost a race with an identical write; keep one copy
            storage.delete(saved)
        return
    s3: Any = storage  # S3Storage: per-object metadata needs the bucket itself
    s3.bucket.Object(name).put(Body=data, ContentType=content_type, CacheControl=IMMUTABLE)


# --- signed URLs --------------------------------------------------------------------------


def session_files(session: LaunchSession, *,
                  content: CourseContent | None = None) -> SignedFiles:
    """Signed URLs for every course file of ``session``'s version (publishing them
    first if needed), valid for the TTL or until the session ends, whichever is first."""
    return version_files(session.version, until=session.expires_at, content=content)


def version_files(version: CourseVersion, *, until: datetime,
                  content: CourseContent | None = None) -> SignedFiles:
    """Signed URLs for every course file of ``version`` (publishing them first if
    needed), valid for the TTL or ``until``, whichever is first (a launch session's end;
    an embedded player's token's expiry)."""
    paths = publish_version(version, content=content)
    now = int(time.time())
    remaining = int(until.timestamp()) - now
    seconds = max(1, min(settings.CONTENT_URL_TTL, remaining))
    return SignedFiles(urls={name: signed_url(path, seconds=seconds, now=now)
                             for name, path in paths.items()},
                       expires_at=datetime.fromtimestamp(now + seconds, UTC))


def course_page(version: CourseVersion, *, content: CourseContent, fmt: Format,
                urls: dict[str, str], assist: AssistConfig | None = None) -> str:
    """The learner player's page of ``version`` built for ``fmt``, naming its files by
    ``urls`` (signed, from :func:`version_files`): a launch's course page and an
    embedded player's both come from here."""
    from coursewright.ai.policy import DEFAULT_DISCLOSURE, disclosure_text
    from coursewright.player.render import ImageFile, render_index_html
    from coursewright.publishing.packaging import PackageMeta

    org = version.org
    meta = PackageMeta(course_id=f"{org.slug}-{version.course_id}",
                       version_number=version.number, approved_by=org.name,
                       approved_at=version.approved_at or version.updated_at,
                       published_at=version.published_at, org_name=org.name,
                       approved_via=version.approved_via or None)
    # an image whose upload is gone: an empty picture (its alt text shows), not a 500
    images = {sha: ImageFile(src=urls.get(f"images/{sha}", "data:,"))
              for sha in content.asset_hashes()}
    wording = disclosure_text(org)
    return render_index_html(content, fmt=fmt, meta=meta, images=images, asset_prefix="",
                             asset_urls=urls, provenance_href=None,
                             disclosure=None if wording == DEFAULT_DISCLOSURE else wording,
                             assist=assist)


def signed_url(path: str, *, seconds: int, now: int | None = None) -> str:
    """A URL that fetches the published file ``path`` for ``seconds`` from ``now``."""
    if not PUBLISHED.fullmatch(path):
        raise ValueError("only published files are reachable by URL")
    region, _, name = path.partition("/")
    if s3_bucket(region):
        s3: Any = region_storage(region)
        url: str = s3.url(name, expire=seconds)
        return url
    expires = (int(time.time()) if now is None else now) + seconds
    query = urlencode({"e": expires, "s": _signature(path, expires)})
    return f"{settings.BASE_URL}{reverse('delivery:content_file', args=[path])}?{query}"


def check_signed(path: str, expires: str, signature: str, *,
                 now: float | None = None) -> bool:
    """Whether a local URL's name, expiry and signature are ours and still good."""
    if not PUBLISHED.fullmatch(path) or not re.fullmatch(r"[0-9]{1,12}", expires):
        return False
    left = int(expires) - (time.time() if now is None else now)
    if left <= 0 or left > settings.CONTENT_URL_TTL:  # expired, or longer than allowed now
        return False
    return constant_time_compare(_signature(path, int(expires)), signature)


def _signature(path: str, expires: int) -> str:
    # salted_hmac: HMAC-SHA256 under sha256(purpose + SECRET_KEY), a key for this alone
    return salted_hmac(_SIGNING_PURPOSE, f"{path}\n{expires}", algorithm="sha256").hexdigest()


def open_published(path: str) -> Any:
    """The stored file behind a checked local URL (a file object, to stream)."""
    region, _, name = path.partition("/")
    return region_storage(region).open(name, "rb")

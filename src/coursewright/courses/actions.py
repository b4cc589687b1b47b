"""Course lifecycle: draft → in_review → approved → published.

Guarantees (each enforced here, the only place versions change state):
- Approved and published versions are immutable; editing one means a new draft.
- Only a *person* with the reviewer, admin or owner role in the course's organisation
  can approve, and never the person who submitted that version. API keys, jobs and the
  CLI's author identity cannot approve (the CLI records a named reviewer's approval
  through ``Channel.CLI``, and the audit row says so). A partner's user can, through an
  embed token with the ``reviewer`` scope minted for that organisation
  (``coursewright.embed``), and never one who submitted the version under the same id.
- Publishing and exporting need an approved version.
- Every transition is a conditional UPDATE on the expected state, so two concurrent
  requests cannot both succeed; each writes one audit row with before/after state.
- Provenance is the server's, not the client's: edits keep a block's stored provenance
  (marking AI blocks as edited); blocks the client adds are recorded as human-made.
- Every draft carries the grounding check of its AI-made blocks (``courses.grounding``),
  recomputed in the same write whenever its content changes. Approving a version with
  flagged sentences that no reviewer marked as checked needs an explicit confirmation,
  and the approval's audit row says how many were open and that they were confirmed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from pydantic import ValidationError

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.courses import grounding
from coursewright.courses.content import HUMAN, CourseContent
from coursewright.courses.models import Asset, Course, CourseVersion, ReviewComment, VersionState
from coursewright.errors import Conflict, Forbidden, Invalid, NotFound
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.orgs.models import REVIEWING_ROLES, Membership, Organisation
from coursewright.privacy.fields import seal_for
from coursewright.webhooks.events import course_event

S = VersionState


def content_digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_content(data: Any) -> CourseContent:
    try:
        return CourseContent.model_validate(data)
    except ValidationError as exc:
        raise Invalid("the course content is not valid", code="invalid_content",
                      details=_details(exc)) from None


def _details(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]


def _dump(content: CourseContent) -> dict[str, Any]:
    return content.model_dump(mode="json")


def create_course(org: Organisation, *, content: CourseContent, actor: Actor,
                  source_document: Document | None = None,
                  duplicate_of: CourseVersion | None = None) -> CourseVersion:
    """A new course whose first version is a draft of ``content``. With ``duplicate_of``
    the course is a copy of that version (its images come along) and the audit row says
    so (``course.duplicated``)."""
    data = _dump(content)
    with transaction.atomic():
        course = Course.objects.create(org=org, title=content.title, language=content.language,
                                       source_document=source_document, created_by=actor.user)
        if duplicate_of is not None:
            _copy_images(duplicate_of.course, course, content)
        report = grounding_report(course, content)
        version = CourseVersion.objects.create(
            org=org, course=course, number=1, state=S.DRAFT, content=data,
            content_sha256=content_digest(data), created_by_label=actor.label,
            grounding=report)
        course_event("course.created", version, actor=actor)
        copied = ({} if duplicate_of is None else
                  {"duplicate_of": {"course": duplicate_of.course_id,
                                    "version": duplicate_of.number}})
        record_event(org=org, actor=actor,
                     action="course.created" if duplicate_of is None else "course.duplicated",
                     object_type="course", object_id=course.pk,
                     after={"title": course.title, "version": 1,
                            "source_document": getattr(source_document, "pk", None),
                            **copied, **_flag_counts(report)})
    return version


def _copy_images(source: Course, target: Course, content: CourseContent) -> None:
    """The new course's own image rows for the images its content shows. The stored file
    is shared (content-addressed); deleting either course keeps a file still in use."""
    for asset in Asset.objects.filter(course=source, sha256__in=content.asset_hashes()):
        Asset.objects.create(org_id=target.org_id, course=target, sha256=asset.sha256,
                             content_type=asset.content_type, width=asset.width,
                             height=asset.height, size=asset.size,
                             storage_path=asset.storage_path)


def as_human_content(data: Any) -> CourseContent:
    """Content a client sent to create a course: every block is recorded as made by a
    person, whatever provenance the client claimed (provenance is the server's)."""
    content = validate_content(data)
    for screen in content.screens:
        for block in screen.blocks:
            block.provenance = HUMAN
    return validate_content(_dump(content))


MAX_TITLE = 300


def duplicate_course(course: Course, *, actor: Actor, title: str = "") -> CourseVersion:
    """A new course in the same organisation whose first draft is a copy of ``course``'s
    latest version (whatever its state). Provenance, citations and the source document
    come along, so the copy's grounding check reads the same passages."""
    latest = course.versions.order_by("-number").first()
    if latest is None:
        raise Conflict("this course has no version to copy", code="no_version")
    content = validate_content(latest.content)
    name = " ".join(title.split()) or f"{content.title} (copy)"
    if len(name) > MAX_TITLE:
        if title.strip():
            raise Invalid(f"keep the title to {MAX_TITLE} characters or fewer",
                          code="title_too_long")
        name = f"{content.title[:MAX_TITLE - 8].rstrip()} (copy)"
    copy = validate_content({**_dump(content), "title": name})
    return create_course(course.org, content=copy, actor=actor,
                         source_document=course.source_document, duplicate_of=latest)


def _require_draft(version: CourseVersion) -> None:
    if version.state != S.DRAFT:
        raise Conflict(
            f"version {version.number} is {version.get_state_display().lower()} and cannot be "
            "edited; start a new draft", code="not_editable")


def update_screen(version: CourseVersion, screen_id: str, data: Any, *,
                  actor: Actor) -> CourseVersion:
    _require_draft(version)
    current = validate_content(version.content)
    index = next((i for i, s in enumerate(current.screens) if s.id == screen_id), None)
    if index is None:
        raise Invalid(f"screen {screen_id!r} is not in this version", code="unknown_screen")
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise Invalid("a screen is a JSON object with a title and a list of blocks")
    old_blocks = {b.id: b for s in current.screens for b in s.blocks}
    blocks = []
    for raw in data["blocks"]:
        block = {k: v for k, v in raw.items() if k != "provenance"} if isinstance(
            raw, dict) else raw
        if isinstance(block, dict):
            previous = old_blocks.get(str(block.get("id")))
            provenance = previous.provenance if previous is not None else HUMAN
            block["provenance"] = provenance.model_dump(mode="json")
        blocks.append(block)
    screens = [s.model_dump(mode="json") for s in current.screens]
    screens[index] = {**data, "id": screen_id, "blocks": blocks}
    new_content = validate_content({**_dump(current), "screens": screens})
    for block in new_content.screens[index].blocks:
        previous = old_blocks.get(block.id)
        if (previous is not None and block.provenance.kind == "ai"
                and _without_provenance(block) != _without_provenance(previous)):
            block.provenance = block.provenance.model_copy(update={"edited": True})
    return _save_content(version, new_content, actor=actor,
                         action="version.screen_edited", extra={"screen": screen_id})


def _without_provenance(block: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = block.model_dump(mode="json", exclude={"provenance"})
    return dumped


def update_title(version: CourseVersion, title: str, *, actor: Actor) -> CourseVersion:
    _require_draft(version)
    current = validate_content(version.content)
    new_content = validate_content({**_dump(current), "title": title})
    return _save_content(version, new_content, actor=actor, action="version.title_edited")


def _save_content(version: CourseVersion, content: CourseContent, *, actor: Actor,
                  action: str, extra: dict[str, Any] | None = None) -> CourseVersion:
    data = _dump(content)
    digest = content_digest(data)
    report = grounding_report(version.course, content, previous=version.grounding)
    with transaction.atomic():
        updated = CourseVersion.objects.filter(pk=version.pk, state=S.DRAFT).update(
            content=seal_for(version, "content", data), content_sha256=digest,
            grounding=seal_for(version, "grounding", report), updated_at=timezone.now())
        if not updated:
            raise Conflict("this version is no longer a draft", code="not_editable")
        Course.objects.filter(pk=version.course_id).update(
            title=seal_for(version.course, "title", content.title), updated_at=timezone.now())
        record_event(org=version.org, actor=actor, action=action, object_type="course_version",
                     object_id=version.pk,
                     before={"content_sha256": version.content_sha256},
                     after={"content_sha256": digest, **(extra or {}), **_flag_counts(report)})
    version.refresh_from_db()
    return version


def start_new_draft(course: Course, *, actor: Actor) -> CourseVersion:
    """A draft to edit: the existing draft if there is one, else a copy of the latest."""
    with transaction.atomic():
        existing = course.versions.filter(state__in=[S.DRAFT]).first()
        if existing is not None:
            return existing
        if course.versions.filter(state=S.IN_REVIEW).exists():
            raise Conflict("a version is in review; approve or reject it first",
                           code="review_pending")
        latest = course.versions.order_by("-number").first()
        if latest is None:
            raise Conflict("this course has no version to copy")
        number = (course.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        report = grounding_report(course, validate_content(latest.content),
                                  previous=latest.grounding)
        version = CourseVersion.objects.create(
            org=course.org, course=course, number=number, state=S.DRAFT,
            content=latest.content, content_sha256=latest.content_sha256,
            based_on=latest, created_by_label=actor.label, grounding=report)
        record_event(org=course.org, actor=actor, action="version.draft_started",
                     object_type="course_version", object_id=version.pk,
                     after={"number": number, "based_on": latest.number,
                            **_flag_counts(report)})
    return version


def _transition(version: CourseVersion, *, expected: str, target: str, actor: Actor,
                action: str, fields: dict[str, Any],
                extra: dict[str, Any] | None = None) -> CourseVersion:
    with transaction.atomic():
        updated = CourseVersion.objects.filter(pk=version.pk, state=expected).update(
            state=target, updated_at=timezone.now(), **fields)
        if not updated:
            version.refresh_from_db(fields=["state"])
            raise Conflict(
                f"version {version.number} is {version.get_state_display().lower()}, "
                f"not {S(expected).label.lower()}", code="wrong_state")
        record_event(org=version.org, actor=actor, action=action,
                     object_type="course_version", object_id=version.pk,
                     before={"state": expected}, after={"state": target, **(extra or {})})
    version.refresh_from_db()
    return version


def submit_for_review(version: CourseVersion, *, actor: Actor) -> CourseVersion:
    content = validate_content(version.content)
    fields: dict[str, Any] = {"submitted_by": actor.user, "submitted_by_label": actor.label,
                              "submitted_at": timezone.now()}
    if version.grounding is None:  # a draft from before the check existed
        fields["grounding"] = seal_for(version, "grounding",
                                       grounding_report(version.course, content))
    return _transition(version, expected=S.DRAFT, target=S.IN_REVIEW, actor=actor,
                       action="version.submitted", fields=fields)


def check_can_review(version: CourseVersion, actor: Actor) -> None:
    if actor.embed_user is not None:
        _check_embed_reviewer(version, actor)
        return
    if not actor.is_person or actor.user is None:
        raise Forbidden("Only a signed-in person with the reviewer role, or a partner's user "
                        "with a reviewer embed token, can approve or reject; API keys and "
                        "automated jobs never can.", code="person_required")
    role = (Membership.objects.filter(org_id=version.org_id, user=actor.user)
            .values_list("role", flat=True).first())
    if role not in REVIEWING_ROLES:
        raise Forbidden("Only a reviewer, admin or owner of this organisation can approve or "
                        "reject a version.", code="reviewer_required")
    if version.submitted_by_id is not None and version.submitted_by_id == actor.user.pk:
        raise Forbidden("You submitted this version, so someone else must review it.",
                        code="own_submission")


def _check_embed_reviewer(version: CourseVersion, actor: Actor) -> None:
    """A partner's user acting through an embed token (``Actor.embed``)."""
    if actor.api_key is None or actor.api_key.org_id != version.org_id:
        raise NotFound("course version not found")
    if actor.embed_scope != "reviewer":
        raise Forbidden(f"This embed token's scope ({actor.embed_scope}) does not allow "
                        "approving or rejecting; it needs the reviewer scope.",
                        code="insufficient_scope")
    if version.submitted_by_label == actor.label:
        raise Forbidden("You submitted this version, so someone else must review it.",
                        code="own_submission")


def approve_version(version: CourseVersion, *, actor: Actor,
                    confirm_unsupported: bool = False) -> CourseVersion:
    """Approve a version in review. If the grounding check flagged sentences that no
    reviewer has marked as checked, the reviewer must say they checked them
    (``confirm_unsupported``); the audit row records how many were open."""
    check_can_review(version, actor)
    current = CourseVersion.objects.get(pk=version.pk)  # not a stale copy's flags
    flags = current.grounding
    open_flags = current.open_flags
    if open_flags and not confirm_unsupported and current.state == S.IN_REVIEW:
        n = len(open_flags)
        raise Conflict(
            f"The source check flagged {n} sentence{'s' if n != 1 else ''} that no reviewer "
            "has marked as checked. Read each against its cited source, then confirm that "
            "you did to approve.", code="unsupported_claims", details=[{"open_flags": n}])
    return _transition(version, expected=S.IN_REVIEW, target=S.APPROVED, actor=actor,
                       action="version.approved",
                       fields={"approved_by": actor.user, "approved_via": actor.channel,
                               "approved_at": timezone.now()},
                       extra={"approved_by": actor.label, "via": str(actor.channel),
                              "grounding": {
                                  "checked": flags is not None,
                                  "flags": len((flags or {}).get("flags", [])),
                                  "open_flags": len(open_flags),
                                  "confirmed_unsupported": bool(open_flags)}})


def reject_version(version: CourseVersion, *, actor: Actor, comment: str) -> CourseVersion:
    comment = comment.strip()
    if not comment:
        raise Invalid("say what needs to change (a comment is required to reject)",
                      code="comment_required")
    if len(comment) > 5000:
        raise Invalid("keep the comment under 5000 characters")
    check_can_review(version, actor)
    with transaction.atomic():
        version = _transition(version, expected=S.IN_REVIEW, target=S.DRAFT, actor=actor,
                              action="version.rejected", fields={}, extra={"comment": comment})
        ReviewComment.objects.create(org_id=version.org_id, version=version,
                                     author=actor.user, body=comment)
    return version


def publish_version(version: CourseVersion, *, actor: Actor) -> CourseVersion:
    if version.state != S.APPROVED:
        raise Conflict("Only an approved version can be published; submit it for review "
                       "and have a reviewer approve it first.", code="not_approved")
    with transaction.atomic():  # the webhook event is recorded with the change, or not at all
        published = _transition(version, expected=S.APPROVED, target=S.PUBLISHED, actor=actor,
                                action="version.published",
                                fields={"published_at": timezone.now()})
        course_event("course.published", published, actor=actor)
    return published


MAX_REASON = 500


def current_published(course: Course) -> CourseVersion | None:
    """The course's current version: its most recently published one (what the embedded
    player starts new attempts on). ``revert_publication`` makes the one before current."""
    return (CourseVersion.objects.filter(course=course, state=S.PUBLISHED)
            .order_by("-published_at", "-number").first())


def revert_publication(course: Course, *, actor: Actor, reason: str) -> CourseVersion:
    """Make the previously published version current again: the current published
    version goes back to approved (content and approval unchanged, ``published_at``
    cleared), so the one published before it is the latest published version again.
    Returns that version. Needs a reason (kept, encrypted, in the audit row); refused
    when the course has no earlier published version. Deployment channels are not
    moved (``delivery.deployments.rollback`` does that for a channel)."""
    from coursewright.publishing.actions import forget_exports

    text = (reason or "").strip()
    if not text:
        raise Invalid("Say why (a reason is required to revert); it is kept in the audit "
                      "log.", code="reason_required")
    if len(text) > MAX_REASON:
        raise Invalid(f"Keep the reason to {MAX_REASON} characters or fewer.",
                      code="reason_too_long")
    with transaction.atomic():
        published = list(CourseVersion.objects.select_for_update()
                         .filter(course=course, state=S.PUBLISHED)
                         .order_by("-published_at", "-number")[:2])
        if not published:
            raise Conflict("This course has no published version to revert.",
                           code="not_published")
        if len(published) < 2:
            raise Conflict(f"Version {published[0].number} is the only published version of "
                           "this course: there is no earlier published version to make "
                           "current again.", code="no_earlier_version")
        current, previous = published
        updated = CourseVersion.objects.filter(
            pk=current.pk, state=S.PUBLISHED, published_at=current.published_at,
        ).update(state=S.APPROVED, published_at=None, updated_at=timezone.now())
        if not updated:
            raise Conflict("the course's published version changed meanwhile; try again",
                           code="changed")
        record_event(org=course.org, actor=actor, action="course.reverted",
                     object_type="course", object_id=course.pk,
                     before={"current_version": current.number,
                             "published_at": (current.published_at.isoformat()
                                              if current.published_at else None)},
                     after={"current_version": previous.number,
                            "unpublished_version": current.number, "reason": text})
    # its stored packages say "published"; they are rebuilt on the next download
    forget_exports(current)
    previous.refresh_from_db()
    return previous


# --- the grounding check ----------------------------------------------------------------


def grounding_report(course: Course, content: CourseContent, *,
                     previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The grounding check of ``content``'s AI-made blocks against the passages of the
    course's source document, as stored on a version. A flag that ``previous`` had for
    the same sentence of the same block citing the same passages keeps its id and its
    resolution (a reviewer already checked it)."""
    passages, titles = _cited_passages(course, content)
    flags = grounding.check_content(content, passages, titles=titles)
    old = {(f["block_id"], f["sentence"], tuple(f["sources"])): f
           for f in (previous or {}).get("flags", [])}
    stored = []
    for flag in flags:
        before = old.get((flag.block_id, flag.sentence, flag.sources), {})
        stored.append({**flag.to_json(), "id": before.get("id") or f"f-{secrets.token_hex(5)}",
                       "resolved_by": before.get("resolved_by", ""),
                       "resolved_at": before.get("resolved_at")})
    return {"method": grounding.METHOD, "threshold": grounding.SUPPORT_THRESHOLD,
            "checked_at": timezone.now().isoformat(), "flags": stored}


def _cited_passages(course: Course, content: CourseContent) -> tuple[dict[str, str], list[str]]:
    """The passages the AI-made blocks cite (with their document's title and headings),
    and the document's section titles."""
    cited = sorted({s for screen in content.screens for b in screen.blocks
                    if b.provenance.kind == "ai" for s in b.provenance.sources})
    if not cited or course.source_document_id is None:
        return {}, []
    document = Document.objects.filter(org_id=course.org_id,
                                       pk=course.source_document_id).first()
    if document is None:
        return {}, []
    passages: dict[str, str] = {}
    for start in range(0, len(cited), 500):  # stay under SQLite's variable limit
        for chunk in DocumentChunk.objects.filter(
                org_id=course.org_id, document=document, chunk_id__in=cited[start:start + 500]):
            passages[chunk.chunk_id] = grounding.cited_passage(
                chunk.text, headings=[str(h) for h in chunk.section_path],
                title=document.title)
    return passages, [document.title, *_outline_titles(document.outline or [])]


def _outline_titles(sections: Iterable[Any]) -> Iterator[str]:
    for section in sections:
        if isinstance(section, dict):
            yield str(section.get("title", ""))
            yield from _outline_titles(section.get("children") or [])


def _flag_counts(report: dict[str, Any]) -> dict[str, int]:
    flags = report.get("flags", [])
    return {"flagged_sentences": len(flags),
            "open_flags": sum(1 for f in flags if not f.get("resolved_at"))}


def refresh_grounding(version: CourseVersion, *, actor: Actor | None = None) -> CourseVersion:
    """Run the grounding check of a draft (or a version in review) again and store it,
    e.g. after its source passages changed. Marks reviewers made on flags that remain are
    kept. Creating a course, editing a draft and starting a new draft do this already."""
    actor = actor or Actor.system()
    if version.is_immutable:
        raise Conflict(f"version {version.number} is {version.get_state_display().lower()}; "
                       "its check is part of what was approved", code="not_editable")
    report = grounding_report(version.course, validate_content(version.content),
                              previous=version.grounding)
    with transaction.atomic():
        updated = CourseVersion.objects.filter(
            pk=version.pk, state__in=[S.DRAFT, S.IN_REVIEW],
            content_sha256=version.content_sha256,
        ).update(grounding=seal_for(version, "grounding", report))
        if not updated:
            raise Conflict("the version changed while it was being checked; try again",
                           code="changed")
        record_event(org=version.org, actor=actor, action="version.grounding_checked",
                     object_type="course_version", object_id=version.pk,
                     after=_flag_counts(report))
    version.refresh_from_db()
    return version


def resolve_flag(version: CourseVersion, flag_id: str, *, actor: Actor) -> CourseVersion:
    """A reviewer marks a flagged sentence as checked against its source ("fine as it
    is"). Same people as approval: a reviewer, admin or owner, not the submitter."""
    check_can_review(version, actor)
    with transaction.atomic():
        locked = CourseVersion.objects.select_for_update().get(pk=version.pk)
        if locked.state not in (S.DRAFT, S.IN_REVIEW):
            raise Conflict(f"version {locked.number} is {locked.get_state_display().lower()} "
                           "and can no longer change", code="not_editable")
        report = dict(locked.grounding or {})
        flags = [dict(f) for f in report.get("flags", [])]
        flag = next((f for f in flags if f.get("id") == flag_id), None)
        if flag is None:
            raise NotFound("this version has no such flagged sentence", code="unknown_flag")
        if flag.get("resolved_at"):
            return locked  # already checked: nothing changes, nothing to record
        flag.update(resolved_by=actor.label, resolved_at=timezone.now().isoformat())
        report["flags"] = flags
        CourseVersion.objects.filter(pk=locked.pk, state=locked.state).update(
            grounding=seal_for(locked, "grounding", report))
        record_event(org=locked.org, actor=actor, action="version.flag_resolved",
                     object_type="course_version", object_id=locked.pk,
                     after={"flag": flag_id, "block": flag.get("block_id"),
                            **_flag_counts(report)})
    version.refresh_from_db()
    return version


_IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_IMAGE_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
MAX_IMAGE_PIXELS = 40_000_000


def add_image(course: Course, *, data: bytes, actor: Actor) -> Asset:
    """Store an uploaded image. The type is decided by decoding, not by the name or the
    declared content type; SVG and anything else that is not PNG/JPEG/WebP is refused."""
    import io

    from django.conf import settings
    from PIL import Image, UnidentifiedImageError

    from coursewright.errors import TooLarge, UnsupportedMedia
    from coursewright.storage import put_bytes

    if not data:
        raise Invalid("the image is empty", code="empty")
    if len(data) > settings.MAX_IMAGE_MB * 1024 * 1024:
        raise TooLarge(f"images may be at most {settings.MAX_IMAGE_MB} MB")
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in data[:1024].lower():
        raise UnsupportedMedia("SVG images are not accepted (they can carry scripts); "
                               "upload PNG, JPEG or WebP.", code="svg_refused")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
            width, height = image.size
            if kind not in _IMAGE_TYPES:
                raise UnsupportedMedia("Upload a PNG, JPEG or WebP image.")
            if width * height > MAX_IMAGE_PIXELS:
                raise TooLarge("this image has too many pixels (at most 40 megapixels)")
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UnsupportedMedia("This file is not a readable PNG, JPEG or WebP image.",
                               code="bad_image") from None
    content_type = _IMAGE_TYPES[kind]
    path, digest = put_bytes(course.org, "images", data, _IMAGE_EXT[content_type])
    with transaction.atomic():
        asset, created = Asset.objects.get_or_create(
            course=course, sha256=digest,
            defaults={"org_id": course.org_id, "content_type": content_type, "width": width,
                      "height": height, "size": len(data), "storage_path": path})
        if created:
            record_event(org=course.org, actor=actor, action="asset.uploaded",
                         object_type="asset", object_id=asset.pk,
                         after={"sha256": digest, "content_type": content_type})
    return asset


def save_ai_rewrite(version: CourseVersion, content: CourseContent, *, actor: Actor,
                    action: str, extra: dict[str, Any] | None = None) -> CourseVersion:
    """Store content an AI feature rewrote (regenerate, refine, questions) in a draft.

    The blocks carry the AI provenance the feature gave them; the usual draft checks
    and the audit row apply as for any edit."""
    _require_draft(version)
    return _save_content(version, validate_content(content.model_dump(mode="json")),
                         actor=actor, action=action, extra=extra)

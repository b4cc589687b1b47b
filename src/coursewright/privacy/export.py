"""Export of a whole organisation's data: portable JSON plus the files, in one zip.

What the archive holds (``FORMAT``, version ``FORMAT_VERSION``):

- ``organisation.json``: the organisation (name, slug, region); its members with their
  roles and email addresses; pending invitations; API keys (name, prefix, dates);
  documents (metadata, Markdown, outline, and the chunks with the stable ids that course
  provenance cites); courses with every version's full content, state, approval and
  review comments, their images and built packages; generation jobs (status, dates,
  the brief of a course drafted from one); each course's deployments (what its staging
  and production channels serve, and the whole history: who, when, from which version
  to which, and the reason); the AI policy, which providers have the
  organisation's own key (never the key) and the AI ledger (with the prompts it opted
  to keep); learners' graded free-text answers (keyed to anonymous ids); licenses
  (never their learner salt) and launch events (learners only as hashes); embed
  sessions (the partner's user id, scope, courses, times; never a token or its hash); webhook
  endpoints (never their signing secret) and deliveries (metadata, not payloads). What is
  encrypted at rest is decrypted: the archive is for the organisation to read and to
  take elsewhere.
- ``audit.jsonl``: the organisation's audit entries, oldest first, one JSON object a line
  in the shape of the audit log's own export (``audit.browse``), payloads opened (an entry
  whose payload cannot be opened says ``"payload_readable": false`` and why).
- ``files/<sha256><ext>``: the decrypted original uploads, images and built packages,
  each once, named by the SHA-256 of their bytes (so anyone can check them) and referenced
  by that name from ``organisation.json``. ``"file": null`` means there is no file: the
  original was removed by retention, or deleted while the export ran (``missing_files``).

What it never holds: anything that lets the holder sign in or decrypt — password hashes,
two-factor secrets, API key and invitation token hashes, data keys and key ids — and
nothing about people beyond the organisation's own records: its members' emails and
roles, and the email of whoever uploaded, wrote, submitted, approved or commented on its
content (the audit log names them too). Learner records are not stored yet (a later
tracking issue adds them), so there are none to export.

Rows are listed by id and every object's keys are written in a fixed order, so two
exports of the same data diff line by line. The rows are read without one long
transaction, which on SQLite would hold up every writer while files are decrypted, so the
archive is not a point-in-time snapshot: a row written during the export may be missing.
Files are added one at a time to a zip on a spooled temporary file, so memory holds the
rows plus one file, not the whole archive.

The archive is plaintext: whoever holds it holds the organisation's data. The API sends it
with ``Cache-Control: no-store``, the CLI writes it with mode 0600, and every export writes
an ``export.organisation`` audit entry (counts only).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.orgs.models import Organisation

if TYPE_CHECKING:
    from coursewright.accounts.models import User
    from coursewright.audit.actor import Actor

FORMAT = "coursewright-organisation-export"
FORMAT_VERSION = 1
# Below this the archive stays in memory; above it the spool moves to a temporary file.
SPOOL_BYTES = 32 * 1024 * 1024


def export_organisation(org: Organisation, *, actor: Actor) -> bytes:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        write_organisation_export(org, spool, actor=actor)
        spool.seek(0)
        return spool.read()


def spool_organisation_export(org: Organisation, *, actor: Actor) -> IO[bytes]:
    """The archive in a spooled temporary file, positioned at its start (the caller
    closes it; for answering a download without holding it all in memory)."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        write_organisation_export(org, spool, actor=actor)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def write_organisation_export(org: Organisation, target: IO[bytes], *,
                              actor: Actor) -> dict[str, int]:
    """Write the archive to ``target``, record the audit entry, and return the counts."""
    exported_at = timezone.now()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        files = _Files(org, archive, exported_at)
        data = _organisation_data(org, files, exported_at=exported_at, actor=actor)
        audit_entries = _write_audit(org, archive, exported_at)
        data["counts"]["audit_entries"] = audit_entries
        data["counts"]["files"] = files.count
        _write(archive, "organisation.json", exported_at,
               json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n")
    counts: dict[str, int] = {**data["counts"], "missing_files": len(files.missing),
                              "file_bytes": files.size, "archive_bytes": target.tell()}
    with transaction.atomic():
        record_event(org=org, actor=actor, action="export.organisation",
                     object_type="organisation", object_id=org.pk, after=counts)
    return counts


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _email(user: User | None) -> str | None:
    return user.email if user is not None else None


def _write(archive: zipfile.ZipFile, name: str, when: datetime, data: bytes) -> None:
    archive.writestr(_entry(name, when), data)


def _entry(name: str, when: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.astimezone(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    return info


class _Files:
    """Adds each stored file once, decrypted, as ``files/<sha256><ext>``."""

    def __init__(self, org: Organisation, archive: zipfile.ZipFile, when: datetime) -> None:
        self.org, self.archive, self.when = org, archive, when
        self.names: dict[str, str | None] = {}  # storage path -> name in the archive
        self.written: set[str] = set()
        self.missing: list[str] = []
        self.size = 0

    @property
    def count(self) -> int:
        return len(self.written)

    def add(self, storage_path: str) -> str | None:
        from coursewright.storage import read_bytes

        if not storage_path:
            return None
        if storage_path not in self.names:
            try:
                data = read_bytes(self.org, storage_path)
            except FileNotFoundError:  # deleted after its row was read
                self.missing.append(storage_path)
                self.names[storage_path] = None
                return None
            name = f"files/{hashlib.sha256(data).hexdigest()}{PurePosixPath(storage_path).suffix}"
            if name not in self.written:
                _write(self.archive, name, self.when, data)
                self.written.add(name)
                self.size += len(data)
            self.names[storage_path] = name
        return self.names[storage_path]


def _organisation_data(org: Organisation, files: _Files, *, exported_at: datetime,
                       actor: Actor) -> dict[str, Any]:
    members = _members(org)
    invitations = _pending_invitations(org, exported_at)
    api_keys = _api_keys(org)
    documents = _documents(org, files)
    courses = _courses(org, files)
    jobs = _generation_jobs(org)
    ai = _ai(org)
    gradings = _gradings(org)
    licenses, launches = _licenses(org)
    progress, player_errors = _runtime_reports(org)
    from coursewright.tracking.privacy import org_export as xapi_export

    xapi = xapi_export(org)
    from coursewright.cmi5.models import Registration

    cmi5 = [cmi5_registration_row(r) for r in Registration.objects.filter(org=org)
            .order_by("id").prefetch_related("sessions")]
    from coursewright.embed.privacy import org_export as embed_export

    embed_sessions = embed_export(org)
    from coursewright.embed.privacy import org_settings_export as embed_settings_export

    embed = embed_settings_export(org)
    from coursewright.webhooks.privacy import org_export as webhooks_export

    webhooks = webhooks_export(org)
    from coursewright.lti.privacy import org_export as lti_export

    lti = lti_export(org)
    versions = [v for c in courses for v in c["versions"]]
    deployments = sum(len(c["deployments"]) for c in courses)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": _iso(exported_at),
        "exported_by": actor.label,
        "organisation": {"id": org.pk, "name": org.name, "slug": org.slug,
                         "region": org.region, "require_mfa": org.require_mfa,
                         "created_at": _iso(org.created_at)},
        "members": members,
        "invitations": invitations,
        "api_keys": api_keys,
        "documents": documents,
        "courses": courses,
        "generation_jobs": jobs,
        "ai": ai,
        "gradings": gradings,
        "licenses": licenses,
        "launch_events": launches,
        "launch_progress": progress,
        "player_errors": player_errors,
        "xapi": xapi,
        "cmi5_registrations": cmi5,
        "embed_sessions": embed_sessions,
        **embed,
        "webhooks": webhooks,
        "lti": lti,
        "missing_files": files.missing,
        "counts": {
            "members": len(members),
            "invitations": len(invitations),
            "api_keys": len(api_keys),
            "documents": len(documents),
            "document_chunks": sum(len(d["chunks"]) for d in documents),
            "courses": len(courses),
            "versions": len(versions),
            "review_comments": sum(len(v["review_comments"]) for v in versions),
            "images": sum(len(c["images"]) for c in courses),
            "packages": sum(len(v["packages"]) for v in versions),
            "generation_jobs": len(jobs),
            "ai_ledger": len(ai["ledger"]),
            "gradings": len(gradings),
            **({"licenses": len(licenses), "launch_events": len(launches)}
               if licenses or launches else {}),
            # counted only when there are some, like the deletion receipt's newer kinds
            **({"deployments": deployments} if deployments else {}),
            **({"launch_progress": len(progress)} if progress else {}),
            **({"player_errors": len(player_errors)} if player_errors else {}),
            **{k: len(v) for k, v in xapi.items() if v},
            **({"cmi5_registrations": len(cmi5)} if cmi5 else {}),
            **({"embed_sessions": len(embed_sessions)} if embed_sessions else {}),
            **{k: len(v) for k, v in embed.items() if v},
            **{k: len(v) for k, v in webhooks.items() if v},
            **{k: len(v) for k, v in lti.items() if v},
        },
    }


def _ai(org: Organisation) -> dict[str, Any]:
    """The AI policy, which providers have an own key (never the key), and the ledger
    (with the prompts the organisation opted to keep)."""
    from coursewright.ai.models import AiPolicy, LedgerEntry, ProviderCredential

    policy = AiPolicy.objects.filter(org=org).first()
    return {
        "policy": None if policy is None else {
            "features": policy.features, "providers": policy.providers,
            "store_prompts": policy.store_prompts,
            "disclosure_text": policy.disclosure_text},
        "own_keys_for": sorted(ProviderCredential.objects.filter(org=org)
                               .values_list("provider", flat=True)),
        "ledger": [{
            "id": e.pk, "created_at": _iso(e.created_at), "user": _email(e.user),
            "api_key": e.api_key.prefix if e.api_key else None, "channel": e.channel,
            "feature": e.feature, "provider": e.provider, "model": e.model,
            "region": e.region, "tokens_in": e.tokens_in, "tokens_out": e.tokens_out,
            "redactions": e.redactions, "latency_ms": e.latency_ms, "outcome": e.outcome,
            "reason": e.reason, "detail": e.detail,
        } for e in LedgerEntry.objects.filter(org=org).select_related(
            "user", "api_key").order_by("id")],
    }


def _licenses(org: Organisation) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Licenses (never their learner salt, nor a token: tokens are not stored) and every
    launch event (learners appear only as the per-license hash)."""
    from coursewright.delivery.models import LaunchEvent, License

    licenses = [{
        "id": lic.pk, "uid": str(lic.uid), "name": lic.name, "status": lic.status,
        "courses": sorted(c.pk for c in lic.courses.all()),
        "expires_at": _iso(lic.expires_at), "allowed_origins": lic.allowed_origins,
        "max_learners": lic.max_learners, "max_launches": lic.max_launches,
        "launches": lic.launches, "learners": lic.learners, "token_kid": lic.token_kid,
        "created_at": _iso(lic.created_at), "status_changed_at": _iso(lic.status_changed_at),
    } for lic in License.objects.filter(org=org).prefetch_related("courses").order_by("id")]
    launches = [{
        "id": e.pk, "license_id": e.license_id, "course_id": e.course_id,
        "deployment_id": e.deployment_id, "learner": e.learner, "outcome": e.outcome,
        "reason": e.reason, "origin": e.origin, "created_at": _iso(e.created_at),
    } for e in LaunchEvent.objects.filter(org=org).order_by("id")]
    return licenses, launches


def _runtime_reports(org: Organisation) -> tuple[list[dict[str, Any]],
                                                  list[dict[str, Any]]]:
    """What launched courses reported back: progress per launch session and runtime
    errors (learners appear only as the per-license hash)."""
    from coursewright.delivery.models import LaunchProgress, PlayerError

    return [progress_row(p) for p in LaunchProgress.objects.filter(org=org).order_by("id")], [
        player_error_row(e) for e in PlayerError.objects.filter(org=org).order_by("id")]


def progress_row(p: Any) -> dict[str, Any]:
    return {"id": p.pk, "license_id": p.license_id, "course_id": p.course_id,
            "deployment_id": p.deployment_id, "version_id": p.version_id,
            "learner": p.learner, "completion": p.completion, "success": p.success,
            "score": p.score, "progress": p.progress, "location": p.location,
            "reports": p.reports,
            "created_at": _iso(p.created_at), "updated_at": _iso(p.updated_at),
            "completed_at": _iso(p.completed_at)}


def cmi5_registration_row(r: Any) -> dict[str, Any]:
    return {"id": r.pk, "license_id": r.license_id, "course_id": r.course_id,
            "learner": r.learner, "registration": str(r.registration),
            "achieved": r.achieved, "satisfied_at": _iso(r.satisfied_at),
            "created_at": _iso(r.created_at),
            "sessions": [{"session_id": str(a.session_id), "au_id": a.au_id,
                          "launch_mode": a.launch_mode, "version_id": a.version_id,
                          "initialized_at": _iso(a.initialized_at),
                          "terminated_at": _iso(a.terminated_at),
                          "created_at": _iso(a.created_at)}
                         for a in r.sessions.all().order_by("id")]}


def player_error_row(e: Any) -> dict[str, Any]:
    return {"id": e.pk, "license_id": e.license_id, "course_id": e.course_id,
            "deployment_id": e.deployment_id, "version_id": e.version_id,
            "learner": e.learner, "kind": e.kind, "message": e.message, "detail": e.detail,
            "created_at": _iso(e.created_at)}


def _gradings(org: Organisation) -> list[dict[str, Any]]:
    from coursewright.assist.models import GradingRecord

    return [{
        "id": g.pk, "course_id": g.course_id, "version_id": g.version_id,
        "block_id": g.block_id, "learner": g.learner_ref, "answer": g.answer,
        "result": g.result, "provider": g.provider, "model": g.model,
        "ai_score": g.ai_score, "max_score": g.max_score,
        "final_score": g.final_score, "reviewed_at": _iso(g.reviewed_at),
        "review_note": g.review_note,
        "created_at": _iso(g.created_at),
    } for g in GradingRecord.objects.filter(org=org).order_by("id")]


def _members(org: Organisation) -> list[dict[str, Any]]:
    from coursewright.orgs.models import Membership

    return [{"email": m.user.email, "display_name": m.user.display_name, "role": m.role,
             "member_since": _iso(m.created_at)}
            for m in Membership.objects.filter(org=org).select_related("user").order_by("id")]


def _pending_invitations(org: Organisation, now: datetime) -> list[dict[str, Any]]:
    from coursewright.orgs.models import Invitation

    pending = (Invitation.objects.filter(org=org, accepted_at__isnull=True, expires_at__gt=now)
               .select_related("invited_by").order_by("id"))
    return [{"id": i.pk, "email": i.email, "role": i.role, "invited_by": _email(i.invited_by),
             "created_at": _iso(i.created_at), "expires_at": _iso(i.expires_at)}
            for i in pending]


def _api_keys(org: Organisation) -> list[dict[str, Any]]:
    from coursewright.orgs.models import ApiKey

    keys = ApiKey.objects.filter(org=org).select_related("created_by").order_by("id")
    return [{"id": k.pk, "name": k.name, "prefix": k.prefix, "created_by": _email(k.created_by),
             "created_at": _iso(k.created_at), "last_used_at": _iso(k.last_used_at),
             "revoked_at": _iso(k.revoked_at)}
            for k in keys]


def _documents(org: Organisation, files: _Files) -> list[dict[str, Any]]:
    from coursewright.ingest.models import Document, DocumentChunk

    chunks: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in DocumentChunk.objects.filter(org=org).order_by("id"):
        chunks[c.document_id].append({
            "id": c.pk, "chunk_id": c.chunk_id, "ordinal": c.ordinal, "page": c.page,
            "section_path": c.section_path, "text": c.text})
    documents = Document.objects.filter(org=org).select_related("uploaded_by").order_by("id")
    return [{
        "id": d.pk, "title": d.title, "filename": d.filename,
        "source_format": d.source_format, "size": d.size, "sha256": d.sha256,
        "page_count": d.page_count, "uploaded_by": _email(d.uploaded_by),
        "created_at": _iso(d.created_at), "file": files.add(d.storage_path),
        "text_purged": d.text_purged, "markdown": d.markdown, "outline": d.outline,
        "chunks": chunks.get(d.pk, []),
    } for d in documents]


def _courses(org: Organisation, files: _Files) -> list[dict[str, Any]]:
    from coursewright.courses.models import Asset, Course, CourseVersion, ReviewComment
    from coursewright.publishing.models import Export

    comments: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in ReviewComment.objects.filter(org=org).select_related("author").order_by("id"):
        comments[r.version_id].append({"id": r.pk, "author": _email(r.author), "body": r.body,
                                       "created_at": _iso(r.created_at)})
    packages: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in Export.objects.filter(org=org).order_by("id"):
        packages[e.version_id].append({"id": e.pk, "format": e.format, "sha256": e.sha256,
                                       "size": e.size, "created_at": _iso(e.created_at),
                                       "file": files.add(e.storage_path)})
    versions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for v in (CourseVersion.objects.filter(org=org)
              .select_related("submitted_by", "approved_by").order_by("id")):
        versions[v.course_id].append({
            "id": v.pk, "number": v.number, "state": v.state,
            "based_on_version_id": v.based_on_id, "created_by": v.created_by_label,
            "created_at": _iso(v.created_at), "updated_at": _iso(v.updated_at),
            "submitted_by": v.submitted_by_label or _email(v.submitted_by),
            "submitted_at": _iso(v.submitted_at),
            "approved_by": _email(v.approved_by), "approved_via": v.approved_via or None,
            "approved_at": _iso(v.approved_at), "published_at": _iso(v.published_at),
            "content_sha256": v.content_sha256, "content": v.content,
            "grounding": v.grounding,
            "review_comments": comments.get(v.pk, []), "packages": packages.get(v.pk, []),
        })
    images: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in Asset.objects.filter(org=org).order_by("id"):
        images[a.course_id].append({
            "id": a.pk, "sha256": a.sha256, "content_type": a.content_type,
            "width": a.width, "height": a.height, "size": a.size,
            "created_at": _iso(a.created_at), "file": files.add(a.storage_path)})
    history, channels = _deployments(org)
    courses = Course.objects.filter(org=org).select_related("created_by").order_by("id")
    return [{
        "id": c.pk, "title": c.title, "language": c.language,
        "source_document_id": c.source_document_id, "created_by": _email(c.created_by),
        "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at),
        "images": images.get(c.pk, []), "versions": versions.get(c.pk, []),
        "channels": {"staging": None, "production": None, **channels.get(c.pk, {})},
        "deployments": history.get(c.pk, []),
    } for c in courses]


def _deployments(org: Organisation) -> tuple[dict[int, list[dict[str, Any]]],
                                             dict[int, dict[str, int]]]:
    """Per course: the deployment history, oldest first, reasons decrypted; and which
    deployment each channel serves (by id)."""
    from coursewright.delivery.models import Channel, Deployment

    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for d in (Deployment.objects.filter(org=org)
              .select_related("version", "previous__version").order_by("id")):
        history[d.course_id].append({
            "id": d.pk, "channel": d.channel, "action": d.action,
            "version_id": d.version_id, "version_number": d.version.number,
            "from_deployment_id": d.previous_id,
            "from_version_number": d.previous.version.number if d.previous else None,
            "source_deployment_id": d.source_id, "actor": d.actor_label,
            "reason": d.reason or "", "created_at": _iso(d.created_at)})
    channels: dict[int, dict[str, int]] = defaultdict(dict)
    for ch in Channel.objects.filter(org=org).order_by("id"):
        channels[ch.course_id][ch.name] = ch.current_id
    return history, channels


def _generation_jobs(org: Organisation) -> list[dict[str, Any]]:
    from coursewright.ai.models import GenerationJob

    jobs = (GenerationJob.objects.filter(org=org)
            .select_related("requested_by", "requested_by_key").order_by("id"))
    return [{
        "id": j.pk, "document_id": j.document_id, "course_id": j.course_id,
        "title": j.title, "language": j.language, "target_screens": j.target_screens,
        "brief": j.prompt, "provider": j.provider,
        "engine": j.engine, "status": j.status, "progress": j.progress, "stage": j.stage,
        "error": j.error, "requested_by": _email(j.requested_by),
        "requested_by_key": j.requested_by_key.prefix if j.requested_by_key else None,
        "requested_via": j.requested_via, "created_at": _iso(j.created_at),
        "started_at": _iso(j.started_at), "finished_at": _iso(j.finished_at),
    } for j in jobs]


def _write_audit(org: Organisation, archive: zipfile.ZipFile, when: datetime) -> int:
    # The same lines as the audit log's own export (audit.browse), oldest first.
    from coursewright.audit.browse import AuditFilter, events_for, jsonl

    events = events_for(org.pk, AuditFilter(), newest_first=False).iterator(chunk_size=500)
    count = 0
    with archive.open(_entry("audit.jsonl", when), "w") as handle:
        for line in jsonl(events):
            handle.write(line)
            count += 1
    return count

"""The document resources: activity state, activity profiles and agent profiles.

Design note
-----------
- Contents are sealed under the organisation's key, bound to the document's location
  (a digest of kind, license partition, activity, agent, registration and id). The
  ETag is the quoted SHA-1 hex digest of the content, as the specification's examples
  compute it; it is recomputed from the bytes on every write.
- Concurrency (xAPI 1.0.3 §3.1, 2.0 §4.1.4): ``If-Match`` and ``If-None-Match`` are
  honoured on PUT, POST and DELETE (412 when the precondition fails, nothing changed).
  A PUT with neither header to a document that exists is a 409 for activity and agent
  profiles in both versions, and for state under 2.0 (its conformance suite requires
  it); under 1.0.3 the state resource accepts it, as that version explicitly allows.
  A PUT with neither header to a profile that does not exist yet is a 400: a client
  MUST send one of them to the profile resources (1.0.3 §3.1), only the state resource
  "permits" their absence, and the ADL 1.0.3 suite (XAPI-00273) expects the refusal.
  Every check and write happens under a row lock (``SELECT … FOR UPDATE`` on
  PostgreSQL; SQLite serialises writers), so two writers cannot both pass a check.
- POST merges JSON: when a document exists, both it and the new one must be
  ``application/json`` objects (else 400), and the new object's top-level properties
  replace the old ones'. A POST to a document that does not exist stores it as a PUT
  would.
- A license's credential reads and writes only its license's documents; an
  organisation's credential only the organisation-level ones (see
  ``tracking.credentials``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from coursewright.privacy.crypto import seal, unseal
from coursewright.tracking.credentials import Caller
from coursewright.tracking.models import Document, DocumentKind
from coursewright.tracking.statements import iri_digest
from coursewright.tracking.validation import XapiError

MAX_DOCUMENT = 10 * 1024 * 1024


@dataclass
class Target:
    kind: str
    activity: str | None = None  # the activity IRI
    agent: dict[str, Any] | None = None
    registration: str | None = None
    document_id: str | None = None


@dataclass
class Content:
    body: bytes
    content_type: str
    etag: str
    updated: datetime


def _keys(caller: Caller, target: Target) -> tuple[str, str]:
    activity = iri_digest(target.activity) if target.activity is not None else ""
    agent = ""
    if target.agent is not None:
        named = (caller.keys.pseudonymise(target.agent) if caller.pseudonymise
                 else target.agent)
        agent = caller.keys.hash(named)
    return activity, agent


def _location(caller: Caller, target: Target) -> str:
    activity, agent = _keys(caller, target)
    named = [target.kind, caller.license_id, activity, agent,
             (target.registration or "").lower(), target.document_id]
    return hashlib.sha256(json.dumps(named).encode()).hexdigest()


def _where(location: str) -> str:
    return f"tracking_document.content:{location}"


def _scope(caller: Caller, target: Target) -> QuerySet[Document]:
    activity, agent = _keys(caller, target)
    rows = Document.objects.filter(org_id=caller.org_id, kind=target.kind)
    rows = (rows.filter(license_id=caller.license_id) if caller.license_id is not None
            else rows.filter(license__isnull=True))
    if target.activity is not None:
        rows = rows.filter(activity=activity)
    if target.agent is not None:
        rows = rows.filter(agent=agent)
    if target.kind == DocumentKind.STATE:
        rows = rows.filter(registration=target.registration.lower()
                           if target.registration else None)
    return rows


def etag_of(body: bytes) -> str:
    return hashlib.sha1(body, usedforsecurity=False).hexdigest()


def is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "application/json"


def read(caller: Caller, target: Target) -> Content | None:
    row = _scope(caller, target).filter(location=_location(caller, target)).first()
    if row is None:
        return None
    body = unseal(caller.org_key_id, bytes(row.content), where=_where(row.location))
    return Content(body, row.content_type, row.etag, row.updated)


def list_ids(caller: Caller, target: Target, since: datetime | None) -> list[str]:
    rows = _scope(caller, target)
    if since is not None:
        rows = rows.filter(updated__gt=since)
    return list(rows.order_by("updated", "id").values_list("document_id", flat=True))


def _tags(header: str) -> list[str]:
    tags = []
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tags.append(tag.strip('"'))
    return tags


def check_preconditions(row: Document | None, if_match: str | None,
                        if_none_match: str | None) -> None:
    if if_match is not None:
        tags = _tags(if_match)
        if row is None or ("*" not in tags and row.etag not in tags):
            raise XapiError(412, "If-Match does not match the document's current ETag "
                                 "(or the document does not exist); nothing was changed")
    if if_none_match is not None and row is not None:
        tags = _tags(if_none_match)
        if "*" in tags or row.etag in tags:
            raise XapiError(412, "If-None-Match: the document exists (or has that ETag); "
                                 "nothing was changed")


def write(caller: Caller, target: Target, body: bytes, content_type: str, *,
          merge: bool, if_match: str | None, if_none_match: str | None, v2: bool) -> str:
    """Store (PUT) or merge (POST) a document; returns the new ETag."""
    if len(body) > MAX_DOCUMENT:
        raise XapiError(413, f"a document may be at most {MAX_DOCUMENT // (1024 * 1024)} MB")
    content_type = content_type or "application/octet-stream"
    if is_json(content_type):
        try:
            json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise XapiError(400, "the document is declared application/json but is not "
                                 "valid JSON") from None
    location = _location(caller, target)
    activity, agent = _keys(caller, target)
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                row = (Document.objects.select_for_update()
                       .filter(org_id=caller.org_id, location=location).first())
                check_preconditions(row, if_match, if_none_match)
                blind = not merge and if_match is None and if_none_match is None
                if (blind and row is not None
                        and (target.kind != DocumentKind.STATE or v2)):
                    raise XapiError(409, "The document already exists: fetch it, then send "
                                         "PUT with If-Match set to its current ETag (or "
                                         "If-None-Match: * to create it only if absent).")
                if blind and target.kind != DocumentKind.STATE:
                    raise XapiError(400, "A PUT to a profile needs If-Match (the current "
                                         "ETag) or If-None-Match: * (create it only if "
                                         "absent).")
                if row is not None and merge:
                    body, content_type = _merged(caller, row, body, content_type)
                return _save(caller, row, target, location, activity, agent, body,
                             content_type)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _merged(caller: Caller, row: Document, body: bytes,
            content_type: str) -> tuple[bytes, str]:
    if not (is_json(row.content_type) and is_json(content_type)):
        raise XapiError(400, "POST merges JSON documents: both the stored document and "
                             "the new one must be application/json")
    try:
        old = json.loads(unseal(caller.org_key_id, bytes(row.content),
                                where=_where(row.location)))
        new = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise XapiError(400, "POST merges JSON objects: a document is not JSON") from None
    if not isinstance(old, dict) or not isinstance(new, dict):
        raise XapiError(400, "POST merges JSON objects: both documents must be objects")
    merged = {**old, **new}
    return json.dumps(merged, ensure_ascii=False).encode(), row.content_type


def _save(caller: Caller, row: Document | None, target: Target, location: str,
          activity: str, agent: str, body: bytes, content_type: str) -> str:
    etag = etag_of(body)
    sealed = seal(caller.org_key_id, body, where=_where(location))
    now = timezone.now()
    if row is None:
        Document.objects.create(
            org_id=caller.org_id, license_id=caller.license_id, kind=target.kind,
            location=location, activity=activity, agent=agent,
            registration=target.registration.lower() if target.registration else None,
            document_id=target.document_id or "", content_type=content_type[:255],
            etag=etag, content=sealed, updated=now)
    else:
        row.content, row.etag, row.updated = sealed, etag, now
        row.content_type = content_type[:255]
        row.save(update_fields=["content", "etag", "updated", "content_type"])
    return etag


def delete(caller: Caller, target: Target, *, if_match: str | None,
           if_none_match: str | None) -> None:
    with transaction.atomic():
        if target.document_id is not None:
            row = (Document.objects.select_for_update()
                   .filter(org_id=caller.org_id, location=_location(caller, target)).first())
            check_preconditions(row, if_match, if_none_match)
            if row is not None:
                row.delete()
            return
        if if_match is not None or if_none_match is not None:
            raise XapiError(400, "If-Match and If-None-Match apply to one document: name it")
        _scope(caller, target).delete()

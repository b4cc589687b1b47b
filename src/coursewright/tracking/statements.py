"""Storing and retrieving statements.

Design note
-----------
- **Immutability.** A statement is never changed once stored. A statement arriving
  with an id the organisation already holds is compared with the stored one (ignoring
  what the LRS adds or may vary: stored, authority, version, a defaulted timestamp,
  equivalent time zones, single vs array context activities, default objectTypes, UUID
  case): equal is accepted and ignored, different is a 409 and the whole batch is
  refused. Two requests racing with the same id meet at the unique constraint and the
  loser is compared the same way.
- **Batches are atomic.** Validation and attachment checks happen before anything is
  written. On PostgreSQL a request's new statements, with their related-activity and
  related-agent rows, go in as one SQL statement (atomic by itself, one round trip);
  when the organisation already holds one of the ids, the request takes the
  transactional path instead (compare, then insert what is new), so a refused batch
  leaves nothing behind. Attachment files are written to storage just before; a write
  that then fails leaves at most a sealed, unreferenced file (content-addressed, so a
  retry reuses it).
- **Voiding is computed when reading.** A statement is voided exactly when it is not
  itself a voiding statement and the organisation holds a voiding statement whose
  StatementRef targets it — whatever the order they arrived in — which is what xAPI
  defines, so ingestion needs no extra query for it.
- **Queries.** The index columns (see ``tracking.models``) answer every filter; a
  statement whose object is a StatementRef also matches when its target (or the target's
  target) matches the agent/verb/activity/registration filters, as xAPI requires for
  "targeting" statements; since/until/limit apply to the targeting statement itself.
  Paging is by (stored, row id); the ``more`` link carries the original filters and the
  position, signed, so it cannot be altered, and it works only for the credential that
  made the first request.
- **Learner records, not audit rows.** What the LRS stores is learner runtime data,
  governed by the learner-records retention rule, learner export and deletion
  (``tracking.privacy``), not by the audit log.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
import struct
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from coursewright.privacy import crypto
from coursewright.privacy.crypto import seal, unseal
from coursewright.tracking.credentials import Caller, authority_for
from coursewright.tracking.db import pg_cursor
from coursewright.tracking.models import (
    Activity,
    Attachment,
    Scope,
    Statement,
    StatementActivity,
    StatementAgent,
    StatementAttachment,
    XapiCredential,
)
from coursewright.tracking.multipart import verify_signature
from coursewright.tracking.validation import (
    SIGNATURE_USAGE,
    VOIDED,
    XapiError,
    parse_timestamp,
    validate_statement,
)

MAX_PAGE = 500
MAX_BATCH = 1000
LANGUAGE_MAP_KEYS = ("name", "description")


@lru_cache(maxsize=65536)
def iri_digest(iri: str) -> str:
    return hashlib.sha256(iri.encode()).hexdigest()[:32]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> datetime:
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Sealer:
    """``privacy.crypto.seal`` for many values under one key: the data key and the
    cipher are looked up once per request instead of once per statement (the layout is
    crypto's own; tests/tracking check ``unseal`` opens what this seals)."""

    def __init__(self, key_id: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from coursewright.privacy.keys import KeyMissing, data_key

        try:
            key = data_key(key_id)
        except KeyMissing:
            seal(key_id, b"", where="tracking:key")  # creates the organisation's key
            key = data_key(key_id)
        self.key_id = key_id
        self.header = crypto.MAGIC + struct.pack(">H", key.version)
        self.aead = AESGCM(key.key)

    def seal(self, plaintext: bytes, where: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return self.header + nonce + self.aead.encrypt(
            nonce, plaintext, f"{self.key_id}|{where}".encode())


def _where_statement(statement_id: str) -> str:
    return f"tracking_statement.data:{statement_id}"


def _where_activity(org_id: int, digest: str) -> str:
    return f"tracking_activity.data:{org_id}:{digest}"


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def open_statement(org_key_id: str, row: Statement) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(unseal(org_key_id, bytes(row.data),
                                             where=_where_statement(str(row.statement_id))))
    return data


# --- comparing statements -------------------------------------------------------------


def _normalise(value: Any, key: str = "") -> Any:
    """A form of a statement in which allowed variations compare equal."""
    if isinstance(value, dict):
        out = {k: _normalise(v, k) for k, v in value.items()}
        if key in ("actor", "instructor", "agent") and "objectType" not in out:
            out["objectType"] = "Agent"
        if key == "object" and "objectType" not in out:
            out["objectType"] = "Activity"
        if key == "contextActivities":
            out = {k: (v if isinstance(v, list) else [v]) for k, v in out.items()}
            for items in out.values():
                for item in items:
                    if isinstance(item, dict):
                        item.setdefault("objectType", "Activity")
        if key in ("parent", "grouping", "category", "other") and "objectType" not in out:
            out["objectType"] = "Activity"
        if "timestamp" in out and isinstance(out["timestamp"], str):
            moment = parse_timestamp(out["timestamp"])
            out["timestamp"] = iso(moment) if moment else out["timestamp"]
        for uuid_key in ("id", "registration"):
            if isinstance(out.get(uuid_key), str) and len(out[uuid_key]) == 36:
                out[uuid_key] = out[uuid_key].lower()
        return out
    if isinstance(value, list):
        return [_normalise(v, key) for v in value]
    return value


def comparable(statement: dict[str, Any], *, keep_timestamp: bool = True) -> Any:
    stripped = {k: v for k, v in statement.items()
                if k not in ("stored", "authority", "version")}
    if not keep_timestamp:
        stripped.pop("timestamp", None)
    return _normalise(stripped)


def same_statement(stored: dict[str, Any], received: dict[str, Any], *,
                   received_timestamp: bool = True) -> bool:
    """Whether ``received`` is the statement ``stored`` holds (``received_timestamp``:
    whether the client sent the timestamp, or the LRS filled it in)."""
    defaulted = (not received_timestamp or "timestamp" not in received
                 or stored.get("timestamp") == stored.get("stored"))
    return bool(comparable(stored, keep_timestamp=not defaulted) == comparable(
        received, keep_timestamp=not defaulted))


def signed_payload_matches(payload: dict[str, Any], statement: dict[str, Any]) -> bool:
    received = copy.deepcopy(statement)
    received["attachments"] = [a for a in received.get("attachments", [])
                               if a.get("usageType") != SIGNATURE_USAGE]
    if not received["attachments"]:
        del received["attachments"]
    if "id" not in payload:
        received.pop("id", None)
    return bool(comparable(payload) == comparable(received))


# --- ingestion ------------------------------------------------------------------------


# The PostgreSQL INSERTs take a request's rows as one JSON document (and the few values
# the rows share as scalars): the driver then sends one text parameter instead of
# dumping every element of a dozen typed arrays in Python, which measured as half the
# application's CPU per statement in batches. The SQL text is the same for any number of
# rows. Keys: i id, v verb, a activity, r actor, o object agent, g registration,
# t StatementRef target, x voiding, h has attachments, d sealed data (base64).
_INPUT = ("json_to_recordset(%s::json) AS r(i uuid, v varchar, a varchar, r varchar, "
          "o varchar, g uuid, t uuid, x boolean, h boolean, d text)")
_INSERT_ROWS = (
    "INSERT INTO tracking_statement (org_id, statement_id, stored, credential_id, "
    "license_id, verb, activity, actor, object_agent, registration, ref_target, voiding, "
    "has_attachments, data) SELECT %s::bigint, i, %s::timestamptz, %s::bigint, "
    "%s::bigint, v, a, r, o, g, t, x, h, decode(d, 'base64') FROM ")
_RELATED = (
    "a AS (INSERT INTO tracking_statementactivity (statement_id, activity) "
    "SELECT s.id, l.k FROM s JOIN json_to_recordset(%s::json) AS l(i uuid, k varchar) "
    "ON l.i = s.statement_id), "
    "g AS (INSERT INTO tracking_statementagent (statement_id, agent) "
    "SELECT s.id, l.k FROM s JOIN json_to_recordset(%s::json) AS l(i uuid, k varchar) "
    "ON l.i = s.statement_id) ")
# (S608: built from the constants above only, no value is ever interpolated)
INSERT_PG_NEW = (
    "WITH input AS (SELECT * FROM " + _INPUT + "), "  # noqa: S608
    "existing AS (SELECT statement_id FROM tracking_statement WHERE org_id = %s "
    "AND statement_id = ANY(ARRAY(SELECT i FROM input))), "
    "s AS (" + _INSERT_ROWS + "input WHERE NOT EXISTS (SELECT 1 FROM existing) "
    "RETURNING id, statement_id), " + _RELATED +
    "SELECT 'inserted', id, statement_id FROM s UNION ALL "
    "SELECT 'existing', NULL, statement_id FROM existing")
INSERT_PG = (
    "WITH s AS (" + _INSERT_ROWS + _INPUT + " ON CONFLICT (org_id, statement_id) "  # noqa: S608
    "DO NOTHING RETURNING id, statement_id), " + _RELATED +
    "SELECT id, statement_id FROM s")


@dataclass
class Prepared:
    statement: dict[str, Any]
    statement_id: str
    columns: dict[str, Any]
    pk: int | None = None
    sent_timestamp: bool = True
    activities: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    attachments: set[str] = field(default_factory=set)


def _context_activities(statement: dict[str, Any]) -> Iterator[dict[str, Any]]:
    context = statement.get("context")
    if isinstance(context, dict) and isinstance(context.get("contextActivities"), dict):
        for key, value in list(context["contextActivities"].items()):
            items = value if isinstance(value, list) else [value]
            context["contextActivities"][key] = items  # xAPI returns arrays only
            yield from items


def _described_activities(statement: dict[str, Any]) -> Iterator[dict[str, Any]]:
    obj = statement["object"]
    if obj.get("objectType", "Activity") == "Activity":
        yield obj
    elif obj.get("objectType") == "SubStatement":
        yield from _described_activities(obj)
    yield from _context_activities(statement)


def _related(caller: Caller, statement: dict[str, Any], prepared: Prepared, *,
             sub: bool) -> None:
    """Collect the activities and agents a statement relates to beyond its actor and
    object (those are columns), for related_activities / related_agents."""
    keys = caller.keys
    obj = statement["object"]
    if sub:
        prepared.agents.add(keys.hash(statement["actor"]))
        if obj.get("objectType", "Activity") == "Activity":
            prepared.activities.add(iri_digest(obj["id"]))
        elif obj.get("objectType") in ("Agent", "Group"):
            prepared.agents.add(keys.hash(obj))
    for activity in _context_activities(statement):
        prepared.activities.add(iri_digest(activity["id"]))
    context = statement.get("context") or {}
    for key in ("instructor", "team"):
        if isinstance(context.get(key), dict):
            prepared.agents.add(keys.hash(context[key]))
    for entry in context.get("contextAgents") or []:
        prepared.agents.add(keys.hash(entry["agent"]))
    for entry in context.get("contextGroups") or []:
        prepared.agents.add(keys.hash(entry["group"]))
    if obj.get("objectType") == "SubStatement":
        _related(caller, obj, prepared, sub=True)


def _check_attachments(statements: list[dict[str, Any]],
                       attachments: dict[str, tuple[bytes, str]]) -> None:
    declared: set[str] = set()
    for statement in statements:
        for attachment in statement.get("attachments") or []:
            sha2 = attachment["sha2"].lower()
            declared.add(sha2)
            if "fileUrl" not in attachment and sha2 not in attachments:
                raise XapiError(400, f"the attachment {sha2} has no fileUrl and its bytes "
                                     "are not in the request (send multipart/mixed)")
            if attachment["usageType"] == SIGNATURE_USAGE:
                if attachment["contentType"] != "application/octet-stream":
                    raise XapiError(400, "a signature attachment's contentType must be "
                                         "application/octet-stream")
                if sha2 in attachments:
                    verify_signature(attachments[sha2][0], statement,
                                     equivalent=signed_payload_matches)
    extra = set(attachments) - declared
    if extra:
        raise XapiError(400, "the request holds attachment parts no statement declares")


def prepare(caller: Caller, documents: list[Any], *, v2: bool,
            attachments: dict[str, tuple[bytes, str]] | None = None) -> list[Prepared]:
    """Validate and complete statements (nothing written yet)."""
    if len(documents) > MAX_BATCH:
        raise XapiError(413, f"send at most {MAX_BATCH} statements per request")
    statements = [validate_statement(d, v2=v2) for d in documents]
    _check_attachments(statements, attachments or {})
    ids = [s["id"].lower() for s in statements if "id" in s]
    if len(ids) != len(set(ids)):
        raise XapiError(400, "the batch uses the same statement id more than once")
    stored = now_ms()
    stored_text = iso(stored)
    version = "2.0.0" if v2 else "1.0.0"
    prepared: list[Prepared] = []
    keys = caller.keys
    for statement in statements:
        statement_id = statement["id"].lower() if "id" in statement else str(uuid.uuid4())
        statement["id"] = statement_id
        if caller.pseudonymise:
            keys.pseudonymise_statement(statement)
        sent_timestamp = "timestamp" in statement
        statement["stored"] = stored_text
        statement.setdefault("timestamp", stored_text)
        statement["authority"] = caller.authority
        statement.setdefault("version", version)
        obj = statement["object"]
        kind = obj.get("objectType", "Activity")
        context = statement.get("context") or {}
        registration = context.get("registration")
        columns = {
            "org_id": caller.org_id, "statement_id": statement_id, "stored": stored,
            "credential_id": caller.credential_id, "license_id": caller.license_id,
            "verb": iri_digest(statement["verb"]["id"]),
            "activity": iri_digest(obj["id"]) if kind == "Activity" else "",
            "actor": keys.hash(statement["actor"]),
            "object_agent": keys.hash(obj) if kind in ("Agent", "Group") else "",
            "registration": registration.lower() if registration else None,
            "ref_target": obj["id"].lower() if kind == "StatementRef" else None,
            "voiding": statement["verb"]["id"] == VOIDED,
            "has_attachments": bool(statement.get("attachments")), "data": b""}
        item = Prepared(statement=statement, statement_id=statement_id, columns=columns,
                        sent_timestamp=sent_timestamp)
        _related(caller, statement, item, sub=False)
        item.agents.discard("")
        item.attachments = {a["sha2"].lower() for a in statement.get("attachments") or []
                            if a["sha2"].lower() in (attachments or {})}
        prepared.append(item)
    return prepared


def _existing(caller: Caller, ids: list[str]) -> list[tuple[str, bytes]]:
    if connection.vendor == "postgresql":
        # one query text whatever the batch size (see _insert_pg)
        with pg_cursor() as cursor:
            cursor.execute("SELECT statement_id, data FROM tracking_statement "
                           "WHERE org_id = %s AND statement_id = ANY(%s::uuid[])",
                           [caller.org_id, ids])
            return [(str(sid), bytes(data)) for sid, data in cursor.fetchall()]
    return [(str(sid), bytes(data)) for sid, data in Statement.objects.filter(
        org_id=caller.org_id, statement_id__in=ids).values_list("statement_id", "data")]


def _known(caller: Caller, prepared: list[Prepared]) -> set[str]:
    """Ids already stored with the same content (to skip); 409 for any that differ."""
    by_id = {p.statement_id: p for p in prepared}
    skip: set[str] = set()
    for statement_id, data in _existing(caller, list(by_id)):
        stored = json.loads(unseal(caller.org_key_id, data,
                                   where=_where_statement(statement_id)))
        received = by_id[statement_id]
        if not same_statement(stored, received.statement,
                              received_timestamp=received.sent_timestamp):
            raise XapiError(409, f"a different statement with the id {statement_id} is "
                                 "already stored; statements cannot be changed")
        skip.add(statement_id)
    return skip


def store(caller: Caller, prepared: list[Prepared],
          attachments: dict[str, tuple[bytes, str]] | None = None) -> list[str]:
    """Write prepared statements; returns their ids in request order."""
    if not caller.may(Scope.STATEMENTS_WRITE):
        raise XapiError(403, "this credential may not write statements")
    files = _store_files(caller, prepared, attachments or {})
    sealer = Sealer(caller.org_key_id)
    for p in prepared:
        p.columns["data"] = sealer.seal(dumps(p.statement), _where_statement(p.statement_id))
    if (connection.vendor == "postgresql" and not files
            and not connection.in_atomic_block and _insert_pg_new(prepared)):
        if caller.may(Scope.DEFINE):
            pending = pending_definitions(caller, [p.statement for p in prepared])
            if pending:
                with transaction.atomic():
                    update_canonical(caller, pending)
        return [p.statement_id for p in prepared]
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                _write(caller, prepared, files)
            break
        except IntegrityError:
            if attempt == 2:
                raise
            # another request stored one of these ids meanwhile: compare again
    return [p.statement_id for p in prepared]


def _store_files(caller: Caller, prepared: list[Prepared],
                 attachments: dict[str, tuple[bytes, str]]) -> dict[str, str]:
    from coursewright.storage import put_bytes

    wanted = {sha2 for p in prepared for sha2 in p.attachments}
    if not wanted:
        return {}
    org = caller.org
    return {sha2: put_bytes(org, "xapi", attachments[sha2][0], "")[0] for sha2 in wanted}


def _write(caller: Caller, prepared: list[Prepared], files: dict[str, str]) -> None:
    if connection.vendor == "postgresql":
        inserted = _insert_pg(prepared)
        clashes = [p for p in prepared if p.statement_id not in inserted]
        if clashes:
            _known(caller, clashes)  # 409 (and the transaction rolls back) when different
        fresh = [p for p in prepared if p.statement_id in inserted]
    else:
        skip = _known(caller, prepared)
        fresh = [p for p in prepared if p.statement_id not in skip]
        if fresh:
            _insert_orm(fresh)
    if not fresh:
        return
    if files:
        _link_attachments(caller, fresh, files)
    if caller.may(Scope.DEFINE):
        pending = pending_definitions(caller, [p.statement for p in fresh])
        if pending:
            update_canonical(caller, pending)


def _rows_json(prepared: list[Prepared]) -> str:
    return json.dumps([{
        "i": p.statement_id, "v": c["verb"], "a": c["activity"], "r": c["actor"],
        "o": c["object_agent"], "g": c["registration"], "t": c["ref_target"],
        "x": c["voiding"], "h": c["has_attachments"],
        "d": base64.b64encode(c["data"]).decode()} for p in prepared for c in [p.columns]],
        separators=(",", ":"))


def _shared(prepared: list[Prepared]) -> list[Any]:
    first = prepared[0].columns
    return [first["org_id"], first["stored"], first["credential_id"], first["license_id"]]


def _related_json(prepared: list[Prepared]) -> list[str]:
    return [json.dumps([{"i": p.statement_id, "k": k} for p in prepared for k in p.activities]),
            json.dumps([{"i": p.statement_id, "k": k} for p in prepared for k in p.agents])]


def _insert_pg_new(prepared: list[Prepared]) -> bool:
    """The common case on PostgreSQL, in one statement and one round trip (no
    BEGIN/COMMIT: a single statement is atomic by itself): insert everything when the
    organisation holds none of the ids yet. False — nothing written — when it holds one
    (then the transactional path compares them), or when a concurrent request stored one
    meanwhile (the unique constraint stops this statement whole)."""
    try:
        with pg_cursor() as cursor:
            cursor.execute(INSERT_PG_NEW, [_rows_json(prepared), prepared[0].columns["org_id"],
                                           *_shared(prepared), *_related_json(prepared)])
            rows = cursor.fetchall()
    except IntegrityError:
        return False
    if any(kind == "existing" for kind, _, _ in rows):
        return False
    ids = {str(sid): pk for _, pk, sid in rows}
    for p in prepared:
        p.pk = ids[p.statement_id]
    return True


def _insert_pg(prepared: list[Prepared]) -> set[str]:
    """One statement inserting the rows and their related-activity and related-agent
    rows, skipping ids the organisation already holds; returns the ids inserted.

    Its SQL text does not depend on the number of rows (the rows travel as one JSON
    document); a text of thousands of placeholders per batch cost more than the
    database's own work."""
    with pg_cursor() as cursor:
        cursor.execute(INSERT_PG, [*_shared(prepared), _rows_json(prepared),
                                   *_related_json(prepared)])
        ids = {str(sid): pk for pk, sid in cursor.fetchall()}
    for p in prepared:
        p.pk = ids.get(p.statement_id)
    return set(ids)


def _insert_orm(fresh: list[Prepared]) -> None:
    rows = Statement.objects.bulk_create([Statement(**p.columns) for p in fresh])
    for p, row in zip(fresh, rows, strict=True):
        p.pk = row.pk
    if any(p.pk is None for p in fresh):  # a backend that returns no ids
        found = dict(Statement.objects.filter(
            org_id=fresh[0].columns["org_id"],
            statement_id__in=[p.statement_id for p in fresh]).values_list(
            "statement_id", "pk"))
        for p in fresh:
            p.pk = found[uuid.UUID(p.statement_id)]
    StatementActivity.objects.bulk_create(
        [StatementActivity(statement_id=_pk(p), activity=a) for p in fresh
         for a in p.activities])
    StatementAgent.objects.bulk_create(
        [StatementAgent(statement_id=_pk(p), agent=a) for p in fresh for a in p.agents])


def _pk(prepared: Prepared) -> int:
    assert prepared.pk is not None
    return prepared.pk


def _link_attachments(caller: Caller, fresh: list[Prepared], files: dict[str, str]) -> None:
    described: dict[str, tuple[str, int]] = {}
    for p in fresh:
        for attachment in p.statement.get("attachments") or []:
            sha2 = attachment["sha2"].lower()
            if sha2 in files:
                described[sha2] = (attachment["contentType"], attachment["length"])
    Attachment.objects.bulk_create(
        [Attachment(org_id=caller.org_id, sha2=sha2, path=files[sha2],
                    content_type=described[sha2][0][:255], length=described[sha2][1])
         for sha2 in files if sha2 in described], ignore_conflicts=True)
    StatementAttachment.objects.bulk_create(
        [StatementAttachment(statement_id=_pk(p), org_id=caller.org_id, sha2=sha2)
         for p in fresh for sha2 in p.attachments])


# --- canonical activity definitions ----------------------------------------------------


def merge_definition(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The canonical definition after ``new`` arrived: language maps and extensions
    merged (new values win per language or key), every other property replaced."""
    merged = dict(old)
    for key, value in new.items():
        if key in (*LANGUAGE_MAP_KEYS, "extensions") and isinstance(old.get(key), dict):
            merged[key] = {**old[key], **value}
        else:
            merged[key] = value
    return merged


# (organisation key id, activity digest) -> (when, the canonical definition last seen):
# a definition that adds nothing to it needs no database round trip. Keyed by the
# organisation's key id, which is never reused; entries expire after a minute.
_seen_definitions: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
SEEN_SECONDS = 60.0
SEEN_MAX = 20_000


def pending_definitions(caller: Caller, statements: Iterable[dict[str, Any]]
                        ) -> dict[str, tuple[str, dict[str, Any]]]:
    """The activity definitions ``statements`` bring that may change the canonical ones:
    digest -> (activity IRI, merged definition). Definitions this process has already
    merged recently are left out (no database round trip)."""
    incoming: dict[str, tuple[str, dict[str, Any]]] = {}
    for statement in statements:
        for activity in _described_activities(statement):
            definition = activity.get("definition")
            if not isinstance(definition, dict) or not definition:
                continue
            digest = iri_digest(activity["id"])
            known = incoming.get(digest, (activity["id"], {}))[1]
            incoming[digest] = (activity["id"], merge_definition(known, definition))
    moment = time.monotonic()
    key_id = caller.org_key_id
    for digest in list(incoming):
        seen = _seen_definitions.get((key_id, digest))
        if (seen is not None and moment - seen[0] < SEEN_SECONDS
                and merge_definition(seen[1], incoming[digest][1]) == seen[1]):
            del incoming[digest]
    return incoming


def update_canonical(caller: Caller,
                     incoming: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Merge ``pending_definitions`` into the canonical ones (inside a transaction)."""
    key_id, org_id = caller.org_key_id, caller.org_id
    moment = time.monotonic()
    ids = {digest: iri for digest, (iri, _) in incoming.items()}
    now = timezone.now()
    existing = {row.iri: row for row in Activity.objects.select_for_update().filter(
        org_id=org_id, iri__in=list(incoming))}
    create, update = [], []
    result: dict[str, dict[str, Any]] = {}
    for digest, (_, definition) in incoming.items():
        row = existing.get(digest)
        where = _where_activity(org_id, digest)
        if row is None:
            result[digest] = definition
            data = {"id": ids[digest], "definition": definition}
            create.append(Activity(org_id=org_id, iri=digest, updated_at=now,
                                   data=seal(key_id, dumps(data), where=where)))
            continue
        current = json.loads(unseal(key_id, bytes(row.data), where=where))
        merged = merge_definition(current.get("definition", {}), definition)
        result[digest] = merged
        if merged != current.get("definition"):
            row.data = seal(key_id, dumps({"id": ids[digest], "definition": merged}),
                            where=where)
            row.updated_at = now
            update.append(row)
    if create:
        Activity.objects.bulk_create(create, ignore_conflicts=True)
    if update:
        Activity.objects.bulk_update(update, ["data", "updated_at"])
    if len(_seen_definitions) > SEEN_MAX:
        _seen_definitions.clear()
    transaction.on_commit(lambda: _seen_definitions.update(
        {(key_id, d): (moment, definition) for d, definition in result.items()}))


def canonical_activities(caller: Caller, iris: Iterable[str]) -> dict[str, dict[str, Any]]:
    digests = {iri_digest(iri): iri for iri in iris}
    found: dict[str, dict[str, Any]] = {}
    for row in Activity.objects.filter(org_id=caller.org_id, iri__in=list(digests)):
        data = json.loads(unseal(caller.org_key_id, bytes(row.data),
                                 where=_where_activity(caller.org_id, row.iri)))
        found[data["id"]] = data
    return found


# --- reading --------------------------------------------------------------------------


def readable(caller: Caller) -> QuerySet[Statement]:
    """The statements this credential may read (403 when it may read none)."""
    rows = Statement.objects.filter(org_id=caller.org_id)
    if caller.reads_everything:
        pass
    elif caller.may(Scope.STATEMENTS_READ_MINE):
        rows = rows.filter(credential_id=caller.credential_id)
    else:
        raise XapiError(403, "this credential may not read statements")
    if caller.license_id is not None:
        rows = rows.filter(license_id=caller.license_id)
    return rows


def voided_ids(org_id: int) -> QuerySet[Statement, Any]:
    return Statement.objects.filter(org_id=org_id, voiding=True,
                                    ref_target__isnull=False).values("ref_target")


def single(caller: Caller, statement_id: str, *, voided: bool) -> Statement | None:
    try:
        wanted = uuid.UUID(statement_id)
    except ValueError:
        return None
    row = readable(caller).filter(statement_id=wanted).first()
    if row is None:
        return None
    is_voided = (not row.voiding and Statement.objects.filter(
        org_id=caller.org_id, voiding=True, ref_target=wanted).exists())
    return row if is_voided == voided else None


@dataclass
class Query:
    agent: dict[str, Any] | None = None
    verb: str | None = None
    activity: str | None = None
    registration: str | None = None
    related_activities: bool = False
    related_agents: bool = False
    since: datetime | None = None
    until: datetime | None = None
    ascending: bool = False
    limit: int = 0
    after: tuple[datetime, int] | None = None  # the last row of the previous page


def _filters(caller: Caller, query: Query) -> Q | None:
    conditions: list[Q] = []
    if query.agent is not None:
        agent = caller.keys.pseudonymise(query.agent) if caller.pseudonymise else query.agent
        digest = caller.keys.hash(agent)
        match = Q(actor=digest) | Q(object_agent=digest)
        if query.related_agents:
            match |= Q(pk__in=StatementAgent.objects.filter(agent=digest)
                       .values("statement_id"))
            authorities = [c.pk for c in XapiCredential.objects.filter(
                org_id=caller.org_id).only("pk", "name", "key")
                if caller.keys.hash(authority_for(c)) == digest]
            if authorities:
                match |= Q(credential_id__in=authorities)
        conditions.append(match)
    if query.verb is not None:
        conditions.append(Q(verb=iri_digest(query.verb)))
    if query.activity is not None:
        digest = iri_digest(query.activity)
        match = Q(activity=digest)
        if query.related_activities:
            match |= Q(pk__in=StatementActivity.objects.filter(activity=digest)
                       .values("statement_id"))
        conditions.append(match)
    if query.registration is not None:
        conditions.append(Q(registration=uuid.UUID(query.registration)))
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined &= condition
    return combined


def page(caller: Caller, query: Query) -> tuple[list[Statement], bool]:
    """One page of matching statements and whether more follow."""
    rows = readable(caller)
    filters = _filters(caller, query)
    if filters is not None:
        # a statement targeting (by StatementRef) a matching statement matches too
        org_rows = Statement.objects.filter(org_id=caller.org_id)
        direct = org_rows.filter(filters).values("statement_id")
        once = org_rows.filter(ref_target__in=direct).values("statement_id")
        rows = rows.filter(filters | Q(ref_target__in=direct) | Q(ref_target__in=once))
    rows = rows.exclude(Q(voiding=False) & Q(statement_id__in=voided_ids(caller.org_id)))
    if query.since is not None:
        rows = rows.filter(stored__gt=query.since)
    if query.until is not None:
        rows = rows.filter(stored__lte=query.until)
    if query.after is not None:
        stored, pk = query.after
        if query.ascending:
            rows = rows.filter(Q(stored__gt=stored) | Q(stored=stored, pk__gt=pk))
        else:
            rows = rows.filter(Q(stored__lt=stored) | Q(stored=stored, pk__lt=pk))
    rows = rows.order_by(*(("stored", "pk") if query.ascending else ("-stored", "-pk")))
    size = min(query.limit or MAX_PAGE, MAX_PAGE)
    found = list(rows[:size + 1])
    return found[:size], len(found) > size


# --- formats --------------------------------------------------------------------------


def _ids_agent(agent: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: agent[k] for k in ("objectType", "mbox", "mbox_sha1sum",
                                                 "openid", "account") if k in agent}
    if agent.get("objectType") == "Group" and not any(
            k in agent for k in ("mbox", "mbox_sha1sum", "openid", "account")):
        out["member"] = [_ids_agent(m) for m in agent.get("member") or []]
    return out


def _ids_activity(activity: dict[str, Any]) -> dict[str, Any]:
    # the minimum that identifies an activity is its id ("objectType" defaults to it)
    return {"id": activity["id"]}


def format_ids(statement: dict[str, Any]) -> dict[str, Any]:
    """Only identifiers for agents, groups (and an anonymous group's members),
    activities and verbs."""
    out = dict(statement)
    out["actor"] = _ids_agent(statement["actor"])
    out["verb"] = {"id": statement["verb"]["id"]}
    obj = statement["object"]
    kind = obj.get("objectType", "Activity")
    if kind == "Activity":
        out["object"] = _ids_activity(obj)
    elif kind in ("Agent", "Group"):
        out["object"] = _ids_agent(obj)
    elif kind == "SubStatement":
        out["object"] = format_ids(obj)
    if "authority" in statement:
        out["authority"] = _ids_agent(statement["authority"])
    context = statement.get("context")
    if isinstance(context, dict):
        new_context = dict(context)
        for key in ("instructor", "team"):
            if key in context:
                new_context[key] = _ids_agent(context[key])
        if "contextActivities" in context:
            new_context["contextActivities"] = {
                k: [_ids_activity(a) for a in v]
                for k, v in context["contextActivities"].items()}
        if "contextAgents" in context:
            new_context["contextAgents"] = [{**e, "agent": _ids_agent(e["agent"])}
                                            for e in context["contextAgents"]]
        if "contextGroups" in context:
            new_context["contextGroups"] = [{**e, "group": _ids_agent(e["group"])}
                                            for e in context["contextGroups"]]
        out["context"] = new_context
    return out


def accepted_languages(header: str | None) -> list[str]:
    """Accept-Language tags by preference (q=0 left out)."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            choices.append((-quality, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(choices)]


def pick_language(mapping: dict[str, str], languages: list[str]) -> dict[str, str]:
    """One entry of a language map: the best match for the accepted languages, else
    the first."""
    if not mapping:
        return mapping
    lowered = {k.lower(): k for k in mapping}
    for wanted in languages:
        if wanted == "*":
            break
        if wanted in lowered:
            return {lowered[wanted]: mapping[lowered[wanted]]}
        prefix = wanted.split("-")[0]
        for low, original in lowered.items():
            if low == prefix or low.startswith(prefix + "-"):
                return {original: mapping[original]}
    first = next(iter(mapping))
    return {first: mapping[first]}


def _canonical_activity(activity: dict[str, Any], canonical: dict[str, dict[str, Any]],
                        languages: list[str]) -> dict[str, Any]:
    known = canonical.get(activity["id"])
    out = dict(activity)
    if known is not None:
        out["definition"] = copy.deepcopy(known["definition"])
    definition = out.get("definition")
    if isinstance(definition, dict):
        definition = dict(definition)
        for key in LANGUAGE_MAP_KEYS:
            if isinstance(definition.get(key), dict):
                definition[key] = pick_language(definition[key], languages)
        for key in ("choices", "scale", "source", "target", "steps"):
            if isinstance(definition.get(key), list):
                definition[key] = [
                    {**c, "description": pick_language(c["description"], languages)}
                    if isinstance(c.get("description"), dict) else c
                    for c in definition[key]]
        out["definition"] = definition
    return out


def format_canonical(statement: dict[str, Any], canonical: dict[str, dict[str, Any]],
                     languages: list[str]) -> dict[str, Any]:
    out = dict(statement)
    verb = dict(statement["verb"])
    if isinstance(verb.get("display"), dict):
        verb["display"] = pick_language(verb["display"], languages)
    out["verb"] = verb
    obj = statement["object"]
    kind = obj.get("objectType", "Activity")
    if kind == "Activity":
        out["object"] = _canonical_activity(obj, canonical, languages)
    elif kind == "SubStatement":
        out["object"] = format_canonical(obj, canonical, languages)
    context = statement.get("context")
    if isinstance(context, dict) and "contextActivities" in context:
        out["context"] = {**context, "contextActivities": {
            k: [_canonical_activity(a, canonical, languages) for a in v]
            for k, v in context["contextActivities"].items()}}
    if isinstance(statement.get("attachments"), list):
        out["attachments"] = [
            {**a, **{k: pick_language(a[k], languages) for k in ("display", "description")
                     if isinstance(a.get(k), dict)}} for a in statement["attachments"]]
    return out


def activity_iris(statement: dict[str, Any]) -> set[str]:
    iris: set[str] = set()
    obj = statement["object"]
    if obj.get("objectType", "Activity") == "Activity":
        iris.add(obj["id"])
    elif obj.get("objectType") == "SubStatement":
        iris |= activity_iris(obj)
    context = statement.get("context") or {}
    for items in (context.get("contextActivities") or {}).values():
        iris |= {a["id"] for a in items if isinstance(a, dict)}
    return iris


def render(caller: Caller, rows: list[Statement], fmt: str,
           languages: list[str]) -> list[dict[str, Any]]:
    statements = [open_statement(caller.org_key_id, row) for row in rows]
    if fmt == "ids":
        return [format_ids(s) for s in statements]
    if fmt == "canonical":
        canonical = canonical_activities(caller, set().union(*map(activity_iris, statements))
                                         if statements else set())
        return [format_canonical(s, canonical, languages) for s in statements]
    return statements


def attachment_parts(caller: Caller, statements: list[dict[str, Any]]
                     ) -> list[tuple[str, str, bytes]]:
    """(sha2, content type, bytes) of every attachment of ``statements`` the LRS holds."""
    from coursewright.storage import read_bytes

    wanted = {a["sha2"].lower() for s in statements for a in s.get("attachments") or []}
    if not wanted:
        return []
    org = caller.org
    return [(row.sha2, row.content_type, read_bytes(org, row.path))
            for row in Attachment.objects.filter(org_id=caller.org_id, sha2__in=wanted)
            .order_by("sha2")]

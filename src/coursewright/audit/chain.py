"""The audit log is an append-only hash chain.

What is guaranteed, and why this way:

- **Every entry commits to the one before it.** Entry ``seq`` stores ``prev_hash`` (the
  hash of entry ``seq - 1``; 64 zeros for the first) and ``entry_hash``: SHA-256 over a
  canonical JSON encoding of its seq, uid, prev_hash, created_at (UTC ISO), org id,
  actor kind and ids, channel, action, object, key id and the SHA-256 of the *stored
  payload bytes*. Hashing the ciphertext rather than the plaintext means the chain
  verifies without any key, and still verifies after an organisation's key has been
  destroyed. Editing, deleting or reordering an entry breaks the hash or the link at
  that entry, and ``coursewright audit verify`` names it (``audit.verify``).
- **Recomputing the hashes does not help.** Anyone who can write to the database can
  rebuild a consistent chain; what they cannot do is sign. Checkpoints
  (``audit.checkpoints``) are Ed25519 signatures over (seq, entry hash) made with a key
  kept outside the database, so a rewritten chain no longer matches the last checkpoint
  before the change. The newest checkpoint is also written next to the key (the
  "witness"), so emptying the tables, checkpoints included, is caught too.
- **One chain, no forks.** Appends lock the single chain-head row
  (``select_for_update``) inside the caller's transaction: the entry exists exactly when
  the state change it describes commits, and concurrent writers queue instead of both
  taking the same seq (on SQLite the IMMEDIATE transactions already serialise writers).
  The lock is held until the caller commits, so actions record their event last.
- **Append-only in the database too.** On PostgreSQL triggers refuse UPDATE, DELETE and
  TRUNCATE of the log (migration 0005); only retention (``audit.retention``) may delete,
  and only whole spans behind a signed checkpoint.
- **Organisation data is sealed under the organisation's key.** The payload (the
  actor's label and the before/after state) is encrypted with ``privacy.crypto.seal``,
  bound to the entry's uid. Deleting the organisation and destroying its key leaves ids,
  action names and hashes: the chain still verifies, the payload reads as
  ``UNREADABLE_DESTROYED``. Entries without an organisation (sign-in, system events)
  hold no organisation data and keep their payload in clear JSON.

The encoding is versioned (``HASH_FORMAT``) and must never change for existing entries.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from coursewright.audit.models import ActorKind, AuditChainHead, AuditEvent, AuditPrune, Channel

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

HASH_FORMAT = "cw-audit-1"
GENESIS = "0" * 64
UNREADABLE_DESTROYED = "[payload unreadable: organisation's key destroyed]"
UNREADABLE_MISSING = "[payload unreadable: organisation's key is not in this keyring]"
UNREADABLE_DAMAGED = "[payload unreadable: it does not decrypt here (altered or moved)]"


def canonical(values: list[Any]) -> bytes:
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload_bytes(event: AuditEvent) -> bytes:
    return bytes(event.payload)  # PostgreSQL hands back a memoryview


def compute_entry_hash(event: AuditEvent) -> str:
    return sha256_hex(canonical([
        HASH_FORMAT, event.seq, str(event.uid), event.prev_hash, utc_iso(event.created_at),
        event.org_id, event.actor_kind, event.actor_user_id, event.actor_api_key_id,
        event.channel, event.action, event.object_type, event.object_id, event.key_id,
        sha256_hex(payload_bytes(event)),
    ]))


def payload_where(uid: uuid.UUID | str) -> str:
    return f"{AuditEvent._meta.db_table}.payload:{uid}"


def lock_head() -> AuditChainHead:
    """The chain head, locked until the surrounding transaction ends.

    A fresh database has no head and no entries. A head missing over existing entries is
    re-created from the last one, and an ``audit.head_rebuilt`` entry says so: appends
    keep working, and the gap never passes silently (a tail removed with the head is
    still caught by the checkpoints)."""
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    last = AuditEvent.objects.order_by("-seq").only("seq", "entry_hash").first()
    if last is None:
        prune = AuditPrune.objects.order_by("-last_seq").first()
        seq, entry_hash = (prune.last_seq, prune.last_hash) if prune else (0, GENESIS)
    else:
        seq, entry_hash = last.seq, last.entry_hash
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(pk=1, seq=seq, entry_hash=entry_hash)], ignore_conflicts=True)
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    if seq and (head.seq, head.entry_hash) == (seq, entry_hash):
        _append_locked(head, org=None, actor_kind=ActorKind.SYSTEM, actor_user_id=None,
                       actor_api_key_id=None, channel=Channel.JOB, action="audit.head_rebuilt",
                       object_type="audit_chain", object_id="head",
                       payload={"actor": "system", "before": {},
                                "after": {"rebuilt_at_seq": seq}})
    return head


def append(*, org: Organisation | None, actor: Actor, action: str, object_type: str,
           object_id: object, payload: dict[str, Any]) -> AuditEvent:
    with transaction.atomic():
        head = lock_head()
        return _append_locked(
            head, org=org, actor_kind=str(actor.kind),
            actor_user_id=actor.user.pk if actor.user is not None else None,
            actor_api_key_id=actor.api_key.pk if actor.api_key is not None else None,
            channel=str(actor.channel), action=action, object_type=object_type,
            object_id=str(object_id)[:64], payload=payload)


def _append_locked(head: AuditChainHead, *, org: Organisation | None, actor_kind: str,
                   actor_user_id: int | None, actor_api_key_id: int | None, channel: str,
                   action: str, object_type: str, object_id: str,
                   payload: dict[str, Any]) -> AuditEvent:
    from coursewright.privacy.crypto import seal

    uid = uuid.uuid4()
    plain = canonical_payload(payload)
    key_id = str(org.key_id) if org is not None else ""
    blob = seal(key_id, plain, where=payload_where(uid)) if key_id else plain
    event = AuditEvent(
        seq=head.seq + 1, uid=uid, created_at=timezone.now(),
        org_id=org.pk if org is not None else None, key_id=key_id,
        actor_kind=actor_kind, actor_user_id=actor_user_id, actor_api_key_id=actor_api_key_id,
        channel=channel, action=action, object_type=object_type, object_id=object_id,
        payload=blob, prev_hash=head.entry_hash,
    )
    event.entry_hash = compute_entry_hash(event)
    event.save(force_insert=True)
    head.seq, head.entry_hash = event.seq, event.entry_hash
    head.save(update_fields=["seq", "entry_hash"])
    return event


def canonical_payload(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                      default=str).encode()


def read_payload(event: AuditEvent) -> dict[str, Any] | str:
    """The entry's payload ({"actor", "before", "after"}), or a marker saying why it
    cannot be read (the organisation's key was destroyed, or the bytes were altered)."""
    from coursewright.privacy.crypto import DecryptionFailed, unseal
    from coursewright.privacy.keys import KeyDestroyed, KeyMissing, keyring

    blob = payload_bytes(event)
    if event.key_id:
        try:
            blob = unseal(event.key_id, blob, where=payload_where(event.uid))
        except KeyDestroyed:
            return UNREADABLE_DESTROYED
        except KeyMissing:
            return UNREADABLE_MISSING
        except DecryptionFailed:
            destroyed = keyring().is_destroyed(event.key_id)
            return UNREADABLE_DESTROYED if destroyed else UNREADABLE_DAMAGED
    try:
        data = json.loads(blob)
    except ValueError:
        return UNREADABLE_DAMAGED
    return data if isinstance(data, dict) else UNREADABLE_DAMAGED

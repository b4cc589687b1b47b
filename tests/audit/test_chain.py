"""The hash chain: appends link up and verify; any edit, deletion, reordering or
truncation made directly in the database is caught and named, including a chain
rewritten with recomputed hashes (the signed checkpoint catches that one)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.audit.chain import GENESIS, compute_entry_hash
from coursewright.audit.checkpoints import make_checkpoint
from coursewright.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from coursewright.audit.signing import checkpoint_message, fingerprint
from coursewright.audit.verify import ChainBroken, verify_chain
from tests.audit.conftest import raw_sql
from tests.conftest import People


def add_events(people: People, count: int, *, org: Any = None) -> list[AuditEvent]:
    actor = Actor.person(people.alice)
    return [record_event(org=org or people.acme, actor=actor, action="test.happened",
                         object_type="thing", object_id=n, before={"n": n - 1},
                         after={"n": n}) for n in range(count)]


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True)[0]


def test_appends_link_up_and_verify(people: People) -> None:
    # given the people fixture's events and a few more
    add_events(people, 5)

    # then seqs run 1..N without gaps, each entry links to the one before
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.entry_hash
    assert all(compute_entry_hash(e) == e.entry_hash for e in events)
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.entry_hash) == (events[-1].seq, events[-1].entry_hash)
    result = verify_chain()
    assert result.ok, result.summary()
    assert result.summary() == f"OK: {len(events)} entries, 0 checkpoints"


def test_org_payloads_are_sealed_and_read_back(people: People) -> None:
    event = record_event(org=people.acme, actor=Actor.person(people.alice),
                         action="test.sealed", object_type="thing", object_id=1,
                         before={"title": "zebra-quartz"}, after={"title": "new"})
    raw = bytes(AuditEvent.objects.values_list("payload", flat=True).get(pk=event.pk))
    assert b"zebra-quartz" not in raw
    assert b"alice@acme.test" not in raw
    fresh = AuditEvent.objects.get(pk=event.pk)
    assert fresh.key_id == str(people.acme.key_id)
    assert (fresh.actor_label, fresh.before, fresh.after) == (
        "alice@acme.test", {"title": "zebra-quartz"}, {"title": "new"})


def test_rows_without_an_organisation_stay_readable_in_clear(people: People) -> None:
    event = record_event(org=None, actor=Actor.person(people.bob), action="account.test",
                         object_type="user", object_id=people.bob.pk, after={"via": "test"})
    raw = bytes(AuditEvent.objects.values_list("payload", flat=True).get(pk=event.pk))
    assert b"bob@acme.test" in raw
    assert AuditEvent.objects.get(pk=event.pk).after == {"via": "test"}


EDITS: dict[str, Callable[[int, People], dict[str, Any]]] = {
    "action": lambda seq, p: {"action": "version.approved"},
    "object_id": lambda seq, p: {"object_id": "999"},
    "org": lambda seq, p: {"org_id": p.globex.pk},
    "created_at": lambda seq, p: {
        "created_at": AuditEvent.objects.get(seq=seq).created_at - timedelta(days=3)},
    "payload": lambda seq, p: {
        "payload": AuditEvent.objects.exclude(seq=seq).filter(org=p.acme)[0].payload},
}


@pytest.mark.parametrize("field", list(EDITS))
def test_an_edited_entry_is_named(people: People, tamper: None, field: str) -> None:
    # given a chain with a checkpoint after the entry
    target = add_events(people, 4)[1]
    make_checkpoint()

    # when someone with database access edits one entry
    AuditEvent.objects.filter(pk=target.pk).update(**EDITS[field](target.seq, people))

    # then verification fails and names that entry
    result = verify_chain()
    assert not result.ok
    assert result.problem is not None
    assert (result.problem.seq, result.problem.entry_id) == (target.seq, target.pk)
    assert "edited" in result.summary()
    assert f"seq {target.seq} (id {target.pk})" in result.summary()


def test_an_edit_in_raw_sql_is_named(people: People, tamper: None) -> None:
    target = add_events(people, 3)[0]
    raw_sql("UPDATE audit_auditevent SET object_type = 'other' WHERE seq = %s", [target.seq])
    result = verify_chain()
    assert result.problem is not None
    assert result.problem.seq == target.seq


def test_a_deleted_entry_is_named(people: People, tamper: None) -> None:
    events = add_events(people, 4)
    gone = events[1]
    AuditEvent.objects.filter(pk=gone.pk).delete()

    result = verify_chain()
    assert result.problem is not None
    assert result.problem.seq == gone.seq + 1
    assert f"seq {gone.seq} is missing" in result.summary()


def test_swapped_entries_are_caught(people: People, tamper: None) -> None:
    first, second = add_events(people, 3)[:2]
    AuditEvent.objects.filter(pk=first.pk).update(seq=-1)
    AuditEvent.objects.filter(pk=second.pk).update(seq=first.seq)
    AuditEvent.objects.filter(pk=first.pk).update(seq=second.seq)

    result = verify_chain()
    assert result.problem is not None
    assert result.problem.seq == first.seq


def test_a_truncated_tail_is_caught_by_the_head(people: People, tamper: None) -> None:
    events = add_events(people, 4)
    AuditEvent.objects.filter(seq__gte=events[2].seq).delete()

    result = verify_chain()
    assert not result.ok
    assert result.problem is not None
    assert result.problem.seq == events[1].seq
    assert "truncated" in result.summary()
    assert f"chain head records seq {events[-1].seq}" in result.summary()


def test_a_truncated_tail_is_caught_by_a_checkpoint_even_with_the_head_moved_back(
        people: People, tamper: None) -> None:
    # given a signed checkpoint at the end of the chain
    events = add_events(people, 4)
    checkpoint = make_checkpoint()
    assert checkpoint is not None

    # when the tail is removed and the head rewound to look consistent
    keep = events[1]
    AuditEvent.objects.filter(seq__gt=keep.seq).delete()
    AuditChainHead.objects.filter(pk=1).update(seq=keep.seq, entry_hash=keep.entry_hash)

    # then the checkpoint gives it away
    result = verify_chain()
    assert result.problem is not None
    assert result.problem.seq == keep.seq
    assert f"signed seq {checkpoint.seq}" in result.summary()


def _rewrite_from(seq: int) -> None:
    """What an attacker with database access does: edit an entry, then recompute every
    hash after it so the chain is self-consistent again."""
    AuditEvent.objects.filter(seq=seq).update(object_id="forged")
    prev = AuditEvent.objects.get(seq=seq - 1).entry_hash
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        event.prev_hash = prev
        event.entry_hash = compute_entry_hash(event)
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=event.prev_hash,
                                                      entry_hash=event.entry_hash)
        prev = event.entry_hash
    AuditChainHead.objects.filter(pk=1).update(entry_hash=prev)


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(people: People,
                                                              tamper: None) -> None:
    # given entries, a checkpoint, and more entries
    events = add_events(people, 3)
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    add_events(people, 2)

    # when an entry before the checkpoint is edited and all hashes recomputed
    _rewrite_from(events[0].seq)

    # then every hash and link is consistent, but not with the signature
    result = verify_chain()
    assert result.problem is not None
    assert result.problem.seq == checkpoint.seq
    assert "rewritten" in result.summary()


def test_without_a_checkpoint_a_rewrite_is_self_consistent(people: People,
                                                           tamper: None) -> None:
    # this is why checkpoints exist: the hashes alone cannot tell
    events = add_events(people, 3)
    _rewrite_from(events[0].seq)
    assert verify_chain().ok


def test_an_altered_checkpoint_fails_its_signature(people: People, tamper: None) -> None:
    add_events(people, 2)
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(
        created_at=checkpoint.created_at + timedelta(seconds=1))
    result = verify_chain()
    assert result.problem is not None
    assert "signature does not verify" in result.summary()


def test_a_checkpoint_signed_with_an_untrusted_key_is_refused(people: People) -> None:
    # given a chain someone rewrote and "checkpointed" with a key of their own
    add_events(people, 2)
    head = AuditChainHead.objects.get(pk=1)
    forger = Ed25519PrivateKey.generate()
    key_id = fingerprint(forger.public_key())
    checkpoint = AuditCheckpoint(seq=head.seq, entry_hash=head.entry_hash,
                                 created_at=AuditEvent.objects.get(seq=head.seq).created_at,
                                 key_id=key_id)
    checkpoint.signature = forger.sign(checkpoint_message(
        checkpoint.seq, checkpoint.entry_hash, checkpoint.created_at, key_id)).hex()
    checkpoint.save()

    result = verify_chain()
    assert "not a trusted audit key" in result.summary()


def test_emptying_every_table_is_caught_by_the_witness(
        people: People, tamper: None, django_capture_on_commit_callbacks: Any) -> None:
    add_events(people, 2)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = make_checkpoint()
    assert checkpoint is not None

    for table in ("audit_auditevent", "audit_auditcheckpoint", "audit_auditchainhead"):
        raw_sql(f"DELETE FROM {table}")  # noqa: S608

    result = verify_chain()
    assert result.problem is not None
    assert result.problem.seq == checkpoint.seq
    assert "witnessed outside the database" in result.summary()


def test_a_checkpoint_is_refused_over_a_broken_chain(people: People, tamper: None) -> None:
    events = add_events(people, 3)
    AuditEvent.objects.filter(pk=events[1].pk).update(action="forged")
    with pytest.raises(ChainBroken, match=f"seq {events[1].seq}"):
        make_checkpoint()
    assert not AuditCheckpoint.objects.exists()


def test_checkpoints_are_made_only_for_new_entries(people: People) -> None:
    first = make_checkpoint()
    assert first is not None
    assert first.seq == last_seq()
    assert make_checkpoint() is None  # nothing new
    add_events(people, 1)
    second = make_checkpoint()
    assert second is not None
    assert second.seq == first.seq + 1
    assert verify_chain().summary() == f"OK: {last_seq()} entries, 2 checkpoints"


def test_a_missing_head_is_rebuilt_and_says_so(people: People, tamper: None) -> None:
    add_events(people, 2)
    seq = last_seq()
    AuditChainHead.objects.all().delete()

    event = record_event(org=people.acme, actor=Actor.person(people.alice),
                         action="test.after", object_type="thing", object_id=1)

    rebuilt = AuditEvent.objects.get(seq=seq + 1)
    assert rebuilt.action == "audit.head_rebuilt"
    assert rebuilt.after == {"rebuilt_at_seq": seq}
    assert event.seq == seq + 2
    assert verify_chain().ok


def test_sqlite_or_postgresql_sees_the_same_hashes(people: People) -> None:
    # the hash covers values as they come back from the database (time zone, bytes)
    for event in AuditEvent.objects.all():
        assert compute_entry_hash(event) == event.entry_hash, connection.vendor

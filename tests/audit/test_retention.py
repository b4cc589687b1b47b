"""Retention deletes only whole spans up to a signed checkpoint, records the prune, and
the chain keeps verifying; a prune that would cut a span is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.audit.checkpoints import make_checkpoint
from coursewright.audit.models import AuditCheckpoint, AuditEvent, AuditPrune
from coursewright.audit.retention import PruneRefused, prune_before, prune_older_than
from coursewright.audit.verify import verify_chain
from tests.conftest import People


def more(people: People, count: int = 3) -> None:
    for n in range(count):
        record_event(org=people.acme, actor=Actor.person(people.alice), action="test.more",
                     object_type="thing", object_id=n)


def test_prune_behind_a_checkpoint_keeps_verify_passing(people: People) -> None:
    # given two checkpoints with entries between and after them
    first = make_checkpoint()
    more(people)
    second = make_checkpoint()
    more(people)
    assert first is not None
    assert second is not None

    # when the entries up to the first checkpoint are pruned
    prune = prune_before(first)

    # then they are gone, the prune is recorded, and the chain still verifies
    assert (prune.first_seq, prune.last_seq, prune.entries) == (1, first.seq, first.seq)
    assert not AuditEvent.objects.filter(seq__lte=first.seq).exists()
    pruned = AuditEvent.objects.get(action="audit.pruned")
    assert pruned.after["last_seq"] == first.seq
    result = verify_chain()
    assert result.ok, result.summary()
    assert f"({first.seq} older entries pruned behind checkpoints)" in result.summary()

    # and a second prune continues where the first ended
    again = prune_before(second.seq)
    assert (again.first_seq, again.last_seq) == (first.seq + 1, second.seq)
    assert verify_chain().ok
    more(people)
    assert make_checkpoint() is not None
    assert verify_chain().ok


def test_a_prune_that_would_cut_a_span_is_refused(people: People) -> None:
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    more(people)
    count = AuditEvent.objects.count()

    with pytest.raises(PruneRefused, match="not at a signed checkpoint"):
        prune_before(checkpoint.seq + 1)
    with pytest.raises(PruneRefused, match="not at a signed checkpoint"):
        prune_before(checkpoint.seq - 1)
    assert AuditEvent.objects.count() == count
    assert not AuditPrune.objects.exists()

    prune_before(checkpoint)
    with pytest.raises(PruneRefused, match="already pruned"):
        prune_before(checkpoint)


def test_a_tampered_span_is_not_pruned(people: People, tamper: None) -> None:
    more(people)
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    AuditEvent.objects.filter(seq=2).update(action="forged")
    with pytest.raises(PruneRefused, match="does not verify"):
        prune_before(checkpoint)
    assert AuditEvent.objects.filter(seq=1).exists()


def test_a_forged_prune_record_is_caught(people: People, tamper: None) -> None:
    # someone deletes old entries and claims they were pruned
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    AuditEvent.objects.filter(seq__lte=checkpoint.seq).delete()
    AuditPrune.objects.create(first_seq=1, last_seq=checkpoint.seq,
                              last_hash=checkpoint.entry_hash, entries=checkpoint.seq,
                              created_at=timezone.now(), key_id=checkpoint.key_id,
                              signature="00" * 64)
    result = verify_chain()
    assert result.problem is not None
    assert "pruned span" in result.summary()
    assert "signature does not verify" in result.summary()


def test_prune_older_than_picks_the_newest_old_enough_checkpoint(people: People,
                                                                 tamper: None) -> None:
    old = make_checkpoint()
    more(people)
    recent = make_checkpoint()
    assert old is not None
    assert recent is not None
    # the old checkpoint was made 40 days ago (re-signed as if it had been)
    from coursewright.audit.signing import checkpoint_message, signer

    when = timezone.now() - timedelta(days=40)
    AuditCheckpoint.objects.filter(pk=old.pk).update(
        created_at=when, signature=signer().sign(checkpoint_message(
            old.seq, old.entry_hash, when, old.key_id)))

    prune = prune_older_than(30)
    assert prune is not None
    assert prune.last_seq == old.seq
    assert prune_older_than(30) is None  # nothing older left
    assert verify_chain().ok

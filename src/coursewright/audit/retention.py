"""Retention: the only way audit entries are ever deleted.

Entries go only as a whole span, from the oldest remaining entry up to and including a
signed checkpoint, never part of one: the checkpoint vouches for everything before it,
so the remaining chain still starts from a signed hash. Before deleting, the span is
verified (evidence of tampering is never pruned away). The prune is recorded in an
``AuditPrune`` row, signed with the audit key like a checkpoint, and as an
``audit.pruned`` entry in the chain itself; ``verify`` then accepts the missing seqs.

On PostgreSQL the DELETE trigger lets rows go only inside this transaction's
``coursewright.audit_prune`` setting, and only up to a recorded prune.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.audit.chain import GENESIS, lock_head
from coursewright.audit.models import AuditCheckpoint, AuditEvent, AuditPrune, Channel
from coursewright.audit.signing import (
    checkpoint_signature_problem,
    prune_message,
    signer,
    trusted_keys,
)
from coursewright.audit.verify import walk


class PruneRefused(Exception):
    """Nothing was deleted, and this says why."""


def prune_before(checkpoint: AuditCheckpoint | int, *, actor: Actor | None = None) -> AuditPrune:
    """Delete every remaining entry up to and including ``checkpoint``'s seq (a checkpoint,
    or the seq of one)."""
    key = signer()
    actor = actor or Actor.system(Channel.CLI)
    with transaction.atomic():
        lock_head()
        seq = checkpoint if isinstance(checkpoint, int) else checkpoint.seq
        stored = AuditCheckpoint.objects.filter(seq=seq).first()
        if stored is None or (isinstance(checkpoint, AuditCheckpoint)
                              and (stored.pk, stored.entry_hash) != (checkpoint.pk,
                                                                     checkpoint.entry_hash)):
            raise PruneRefused(f"seq {seq} is not at a signed checkpoint: pruning must end at "
                               "one, never cut a span")
        if (why := checkpoint_signature_problem(stored, trusted_keys())) is not None:
            raise PruneRefused(f"checkpoint #{stored.pk} cannot be trusted: {why}")
        previous = AuditPrune.objects.order_by("-last_seq").first()
        first_seq = previous.last_seq + 1 if previous else 1
        start_hash = previous.last_hash if previous else GENESIS
        if seq < first_seq:
            raise PruneRefused(f"entries up to seq {seq} were already pruned")
        state = walk(AuditEvent.objects.filter(seq__lte=seq).order_by("seq")
                     .iterator(chunk_size=2000),
                     start_seq=first_seq, start_hash=start_hash, checkpoints={seq: stored})
        if state.problem is not None:
            raise PruneRefused(f"the span does not verify, nothing was pruned: {state.problem}")
        if state.last_seq != seq:
            raise PruneRefused(f"the span ends at seq {state.last_seq}, not at the "
                               f"checkpoint's seq {seq}")
        prune = AuditPrune(first_seq=first_seq, last_seq=seq, last_hash=stored.entry_hash,
                           entries=state.count, created_at=timezone.now(), key_id=key.key_id)
        prune.signature = key.sign(prune_message(prune.first_seq, prune.last_seq,
                                                 prune.last_hash, prune.entries,
                                                 prune.created_at, prune.key_id))
        prune.save(force_insert=True)
        _delete_span(first_seq, seq)
        record_event(org=None, actor=actor, action="audit.pruned", object_type="audit_prune",
                     object_id=prune.pk, after={"first_seq": first_seq, "last_seq": seq,
                                                "entries": state.count,
                                                "checkpoint": stored.pk})
    return prune


def prune_older_than(days: int, *, actor: Actor | None = None) -> AuditPrune | None:
    """Prune up to the newest checkpoint made more than ``days`` ago (everything it
    covers is older still); None when there is no such checkpoint or nothing to prune."""
    cutoff = timezone.now() - timedelta(days=days)
    checkpoint = AuditCheckpoint.objects.filter(created_at__lt=cutoff).order_by("-seq").first()
    previous = AuditPrune.objects.order_by("-last_seq").first()
    if checkpoint is None or (previous is not None and checkpoint.seq <= previous.last_seq):
        return None
    return prune_before(checkpoint, actor=actor)


def _delete_span(first_seq: int, last_seq: int) -> None:
    rows = AuditEvent.objects.filter(seq__gte=first_seq, seq__lte=last_seq)
    if connection.vendor != "postgresql":
        rows.delete()
        return
    # transaction-local, and switched off again at once; if the delete fails, rolling
    # back (to the savepoint) restores the setting as well
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('coursewright.audit_prune', 'on', true)")
        rows.delete()
        cursor.execute("SELECT set_config('coursewright.audit_prune', 'off', true)")

"""Signed checkpoints of the audit chain (see ``audit.chain`` for why they exist).

A checkpoint signs the chain head as it is at that moment. Before signing, the entries
since the previous checkpoint are verified, so a checkpoint never vouches for a chain
that was already tampered with. The head stays locked while it signs: no entry can slip
in between the check and the signature.
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

from coursewright.audit.chain import GENESIS, lock_head
from coursewright.audit.models import AuditCheckpoint, AuditEvent, AuditPrune
from coursewright.audit.signing import checkpoint_message, signer, write_witness
from coursewright.audit.verify import ChainBroken, Problem, walk

logger = logging.getLogger(__name__)


def make_checkpoint() -> AuditCheckpoint | None:
    """Sign the current chain head; None when nothing was appended since the last
    checkpoint (or the log is empty). Raises ChainBroken instead of signing a chain
    that does not verify since the previous checkpoint."""
    key = signer()
    with transaction.atomic():
        head = lock_head()
        latest = AuditCheckpoint.objects.order_by("-seq").first()
        if head.seq == 0 or (latest is not None and latest.seq >= head.seq):
            return None
        prune = AuditPrune.objects.order_by("-last_seq").first()
        start_seq, start_hash = 1, GENESIS
        if latest is not None and (prune is None or latest.seq >= prune.last_seq):
            start_seq, start_hash = latest.seq + 1, latest.entry_hash
        elif prune is not None:
            start_seq, start_hash = prune.last_seq + 1, prune.last_hash
        state = walk(AuditEvent.objects.filter(seq__gte=start_seq, seq__lte=head.seq)
                     .order_by("seq").iterator(chunk_size=2000),
                     start_seq=start_seq, start_hash=start_hash, checkpoints={})
        if state.problem is not None:
            raise ChainBroken(state.problem)
        if state.last_seq != head.seq or state.last_hash != head.entry_hash:
            raise ChainBroken(Problem(state.last_seq or None, state.last_id,
                                      f"the chain head (seq {head.seq}) does not match the "
                                      "last entry"))
        checkpoint = AuditCheckpoint(seq=head.seq, entry_hash=head.entry_hash,
                                     created_at=timezone.now(), key_id=key.key_id)
        checkpoint.signature = key.sign(checkpoint_message(
            checkpoint.seq, checkpoint.entry_hash, checkpoint.created_at, checkpoint.key_id))
        checkpoint.save(force_insert=True)
        transaction.on_commit(partial(write_witness, checkpoint))
    logger.info("audit checkpoint at seq %s signed by %s", checkpoint.seq, checkpoint.key_id)
    return checkpoint

"""Verify the audit chain: every hash, every link, every signature, nothing missing.

In seq order, each entry must follow the previous one without a gap (a gap is a deleted
entry, unless it lies in a span pruned behind a signed checkpoint), hash to its
``entry_hash``, and link to the previous entry's hash. Every checkpoint's signature must
verify with a trusted key and the entry at its seq must carry its hash; that is what
catches a chain rewritten with recomputed hashes. The chain must reach the newest
checkpoint, the chain head and the checkpoint witnessed outside the database;
otherwise its tail was truncated. The report names the first broken entry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from coursewright.audit.chain import GENESIS, compute_entry_hash
from coursewright.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditPrune
from coursewright.audit.signing import (
    checkpoint_signature_problem,
    prune_signature_problem,
    read_witness,
    trusted_keys,
)


@dataclass(frozen=True)
class Problem:
    seq: int | None
    entry_id: int | None
    message: str

    def __str__(self) -> str:
        if self.seq is None:
            return self.message
        where = f"seq {self.seq}" + (f" (id {self.entry_id})" if self.entry_id else "")
        return f"{where}: {self.message}"


class ChainBroken(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class Verification:
    entries: int = 0
    checkpoints: int = 0
    pruned: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem(self) -> Problem | None:
        """The first break in seq order."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: math.inf if p.seq is None else p.seq)

    def summary(self) -> str:
        if self.problem is not None:
            return f"BROKEN at {self.problem}"
        pruned = f" ({self.pruned} older entries pruned behind checkpoints)" if self.pruned else ""
        return f"OK: {self.entries} entries, {self.checkpoints} checkpoints{pruned}"


@dataclass
class _Walk:
    count: int = 0
    last_seq: int = 0
    last_id: int | None = None
    last_hash: str = GENESIS
    problem: Problem | None = None


def walk(events: Iterable[AuditEvent], *, start_seq: int, start_hash: str,
         checkpoints: dict[int, AuditCheckpoint]) -> _Walk:
    """Check entries in seq order from ``start_seq``; stops at the first break."""
    state = _Walk(last_seq=start_seq - 1, last_hash=start_hash)
    for event in events:
        expected = state.last_seq + 1
        problem = None
        if event.seq < expected:
            problem = "it lies inside a span already pruned or repeats a seq"
        elif event.seq > expected:
            missing = (f"seq {expected} is" if event.seq == expected + 1
                       else f"seqs {expected}–{event.seq - 1} are")
            problem = f"{missing} missing before it (deleted)"
        elif compute_entry_hash(event) != event.entry_hash:
            problem = "its contents do not match its hash (the entry was edited)"
        elif event.prev_hash != state.last_hash:
            problem = ("it does not link to the entry before it (prev_hash differs; "
                       "entries were reordered or replaced)")
        elif (cp := checkpoints.get(event.seq)) is not None and cp.entry_hash != event.entry_hash:
            problem = (f"its hash differs from the one signed in checkpoint #{cp.pk} "
                       "(the chain up to here was rewritten)")
        if problem is not None:
            state.problem = Problem(event.seq, event.pk, problem)
            return state
        state.count += 1
        state.last_seq, state.last_id, state.last_hash = event.seq, event.pk, event.entry_hash
    return state


def verify_chain() -> Verification:
    keys = trusted_keys()
    prunes = list(AuditPrune.objects.order_by("last_seq"))
    checkpoints = list(AuditCheckpoint.objects.order_by("seq"))
    by_seq = {cp.seq: cp for cp in checkpoints}
    result = Verification(checkpoints=len(checkpoints))
    problems = result.problems

    for cp in checkpoints:
        if (why := checkpoint_signature_problem(cp, keys)) is not None:
            problems.append(Problem(cp.seq, None, f"checkpoint #{cp.pk}: {why}"))

    start_seq, start_hash = 1, GENESIS
    for prune in prunes:
        span = f"pruned span {prune.first_seq}–{prune.last_seq}"
        end_cp = by_seq.get(prune.last_seq)
        if (why := prune_signature_problem(prune, keys)) is not None:
            problems.append(Problem(prune.first_seq, None, f"{span}: {why}"))
        elif prune.first_seq != start_seq:
            problems.append(Problem(start_seq, None,
                                    f"{span} does not start where the chain continues"))
        elif end_cp is None or end_cp.entry_hash != prune.last_hash:
            problems.append(Problem(prune.last_seq, None,
                                    f"{span} does not end at a signed checkpoint"))
        result.pruned += prune.entries
        start_seq, start_hash = prune.last_seq + 1, prune.last_hash

    state = walk(AuditEvent.objects.order_by("seq").iterator(chunk_size=2000),
                 start_seq=start_seq, start_hash=start_hash, checkpoints=by_seq)
    result.entries = state.count
    if state.problem is not None:
        problems.append(state.problem)
        return result

    end = (Problem(state.last_seq, state.last_id, "the log ends here") if state.last_id
           else Problem(None, None, "the log is empty"))
    if checkpoints and checkpoints[-1].seq > state.last_seq:
        problems.append(Problem(end.seq, end.entry_id,
                                f"{end.message}, but checkpoint #{checkpoints[-1].pk} signed "
                                f"seq {checkpoints[-1].seq}: the entries after it were "
                                "removed (truncated)"))
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if state.last_seq:
            problems.append(Problem(end.seq, end.entry_id,
                                    f"{end.message}, and the chain head is missing"))
    elif head.seq > state.last_seq:
        problems.append(Problem(end.seq, end.entry_id,
                                f"{end.message}, but the chain head records seq {head.seq}: "
                                "the entries after it were removed (truncated)"))
    elif head.seq < state.last_seq:
        problems.append(Problem(head.seq + 1, None,
                                f"entries after the chain head (seq {head.seq}) were added "
                                "without going through the chain"))
    elif head.entry_hash != state.last_hash:
        problems.append(Problem(end.seq, end.entry_id,
                                "the last entry's hash differs from the chain head's"))

    witness = read_witness()
    if witness is not None:
        seq = int(witness.get("seq", 0))
        known = by_seq.get(seq)
        if witness.get("invalid"):
            problems.append(Problem(None, None, "the checkpoint witness file is unreadable"))
        elif (known is None or known.entry_hash != witness.get("entry_hash")
              or known.signature != witness.get("signature")):
            problems.append(Problem(seq, None,
                                    f"the newest checkpoint witnessed outside the database "
                                    f"(seq {seq}, {witness.get('created_at')}) is missing: "
                                    "the log was truncated or restored from an older backup"))
    return result

"""The audit log from the command line: verify the chain, sign a checkpoint, prune."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditPrune, Channel


class Command(BaseCommand):
    help = "Verify the audit log's hash chain, sign a checkpoint now, or prune old entries."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        verbs.add_parser(
            "verify", help="recompute every hash and check every link, checkpoint and "
                           "signature; exit 1 naming the first broken entry")
        verbs.add_parser("checkpoint", help="sign a checkpoint of the chain as it is now")
        prune = verbs.add_parser(
            "prune", help="delete the oldest entries, up to a signed checkpoint (whole "
                          "spans only)")
        which = prune.add_mutually_exclusive_group(required=True)
        which.add_argument("--through-seq", type=int, metavar="SEQ",
                           help="prune up to and including the checkpoint at this seq")
        which.add_argument("--older-than-days", type=int, metavar="DAYS",
                           help="prune up to the newest checkpoint older than DAYS days")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['verb']}")(options)

    def _verify(self, options: dict[str, Any]) -> None:
        from coursewright.audit.verify import verify_chain

        result = verify_chain()
        if not result.ok:
            self.stderr.write(result.summary())
            raise SystemExit(1)
        self.stdout.write(result.summary())

    def _checkpoint(self, options: dict[str, Any]) -> None:
        from coursewright.audit.checkpoints import make_checkpoint
        from coursewright.audit.verify import ChainBroken

        try:
            checkpoint = make_checkpoint()
        except ChainBroken as exc:
            raise CommandError(f"not signed, the chain does not verify: {exc}") from None
        if checkpoint is None:
            self.stdout.write("Nothing new since the last checkpoint.")
            return
        self.stdout.write(f"Checkpoint at seq {checkpoint.seq} signed by {checkpoint.key_id}.")

    def _prune(self, options: dict[str, Any]) -> None:
        from coursewright.audit.retention import PruneRefused, prune_before, prune_older_than

        actor = Actor.system(Channel.CLI)
        prune: AuditPrune | None
        try:
            if options["through_seq"] is not None:
                prune = prune_before(options["through_seq"], actor=actor)
            else:
                if options["older_than_days"] < 1:
                    raise CommandError("--older-than-days must be at least 1")
                prune = prune_older_than(options["older_than_days"], actor=actor)
        except PruneRefused as exc:
            raise CommandError(f"nothing pruned: {exc}") from None
        if prune is None:
            self.stdout.write("Nothing to prune: no checkpoint that old beyond the last prune.")
            return
        self.stdout.write(f"Pruned {prune.entries} entries (seq {prune.first_seq}–"
                          f"{prune.last_seq}), behind the checkpoint at seq {prune.last_seq}.")

"""Export an organisation's data (JSON, audit log and files) to a zip, or one anonymous
learner's records (JSON) by the id the client LMS uses."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.errors import DomainError
from coursewright.orgs.models import Organisation


class Command(BaseCommand):
    help = ("Export an organisation's data (organisation.json, audit.jsonl and its files), "
            "or one learner's records.")

    def add_arguments(self, parser: CommandParser) -> None:
        kinds = parser.add_subparsers(dest="kind", required=True)
        org = kinds.add_parser("org", help="everything an organisation holds, decrypted")
        org.add_argument("slug")
        org.add_argument("-o", "--output", required=True, help="where to write the .zip")
        org.add_argument("--force", action="store_true", help="overwrite an existing file")
        learner = kinds.add_parser("learner", help="one learner's records, as JSON")
        learner.add_argument("learner_id", help="the id the client LMS uses for the learner")
        learner.add_argument("--org", required=True, help="the organisation slug")
        learner.add_argument("-o", "--output", default="-", help="file (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        from coursewright.privacy.export import write_organisation_export

        if options["kind"] == "learner":
            self._learner(options)
            return

        output = Path(options["output"])
        org = Organisation.objects.filter(slug=options["slug"]).first()
        if org is None:
            raise CommandError(f"no organisation with the slug {options['slug']!r}")
        if not output.parent.is_dir():
            raise CommandError(f"the output folder does not exist: {output.parent}")
        if output.exists() and not options["force"]:
            raise CommandError(f"{output} exists; add --force to overwrite it")
        # Written beside the target (mode 0600: it holds the organisation's data in clear)
        # and moved into place only when complete, so a failure leaves no partial archive.
        try:
            fd, partial = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.",
                                           suffix=".partial")
        except OSError as exc:
            raise CommandError(f"cannot write in {output.parent}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                counts = write_organisation_export(org, handle,
                                                   actor=Actor.system(Channel.CLI))
            if output.exists() and not options["force"]:
                raise CommandError(f"{output} appeared meanwhile; add --force to overwrite it")
            os.replace(partial, output)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}") from None
        finally:
            Path(partial).unlink(missing_ok=True)
        self.stdout.write(
            f"Wrote {output} ({counts['archive_bytes']:,} bytes): {counts['courses']} courses, "
            f"{counts['versions']} versions, {counts['documents']} documents, "
            f"{counts['files']} files, {counts['audit_entries']} audit entries. "
            "It holds the organisation's data unencrypted: keep it safe.")

    def _learner(self, options: dict[str, Any]) -> None:
        import json

        from coursewright.privacy.learners import export_learner

        org = Organisation.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"no organisation with the slug {options['org']!r}")
        try:
            data = export_learner(org, options["learner_id"], actor=Actor.system(Channel.CLI))
        except DomainError as exc:
            raise CommandError(exc.message) from None
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if options["output"] == "-":
            self.stdout.write(text, ending="")
        else:
            output = Path(options["output"])
            if not output.parent.is_dir():
                raise CommandError(f"the output folder does not exist: {output.parent}")
            output.write_text(text, encoding="utf-8")
            output.chmod(0o600)
            self.stdout.write(f"Wrote {output}: {len(data['launch_events'])} launch events, "
                              f"{len(data['launch_sessions'])} launch sessions.")

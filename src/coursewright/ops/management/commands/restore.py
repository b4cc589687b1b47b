"""Restore a backup over the configured database and storage, then verify it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.ops.management.commands.backup import human_size
from coursewright.privacy.backup import BackupError, RestoreReport, restore_backup


class Command(BaseCommand):
    help = ("Restore a backup made by `coursewright backup` (replacing the database and the "
            "stored files) and verify every table and file against its manifest. Stop the "
            "server and the job consumer first.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the .cwbackup file")
        parser.add_argument("--yes", action="store_true",
                            help="replace existing data (required when the database or the "
                                 "storage is not empty)")
        parser.add_argument("--check", action="store_true",
                            help="only decrypt the archive and check it against its manifest; "
                                 "change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = restore_backup(Path(options["path"]), overwrite=options["yes"],
                                    check_only=options["check"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self._print(Path(options["path"]), report)
        if report.problems:
            raise CommandError(f"verification failed: {len(report.problems)} difference(s) "
                               "from the backup, listed above")

    def _print(self, path: Path, report: RestoreReport) -> None:
        manifest = report.manifest
        database = manifest["database"]
        taken = (f"taken {manifest['created_at']} by coursewright "
                 f"{manifest['coursewright_version']}, {database['vendor']}")
        if not report.restored:
            self.stdout.write(f"{path} is intact ({taken}); nothing was changed.")
        else:
            self.stdout.write(f"Restored {path} ({taken}) in {report.seconds:.2f} s.")
        verdict = "all match" if not report.problems else "DIFFERENCES"
        label = "Contents" if not report.restored else "Verified against the manifest"
        self.stdout.write(f"{label}:")
        self.stdout.write(f"  database: {report.tables} tables, {report.rows:,} rows"
                          + (f": {verdict}" if report.restored else ""))
        self.stdout.write(f"  storage:  {report.files:,} files, "
                          f"{human_size(report.file_bytes)}"
                          + (f": {verdict}" if report.restored else ""))
        for problem in report.problems:
            self.stdout.write(f"  MISMATCH {problem}")
        if report.restored and not report.problems:
            self.stdout.write("If this coursewright is newer than the backup, run "
                              "`coursewright migrate` next.")

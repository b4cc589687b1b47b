"""Write an encrypted backup of the database and the stored files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.privacy.backup import BackupError, create_backup


def human_size(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class Command(BaseCommand):
    help = ("Write an encrypted, verified backup of the database and the stored files "
            "(not the keys: see `coursewright keys backup`).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-o", "--output", default=None,
                            help="the file to write, or a folder to write it in (default: "
                                 "<VAR_DIR>/backups/coursewright-<UTC time>.cwbackup); an "
                                 "existing file is never overwritten")

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"]) if options["output"] else None
        try:
            result = create_backup(output)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Backup written to {result.path} ({human_size(result.size)}, "
                          f"mode 0600) in {result.seconds:.2f} s.")
        self.stdout.write(f"  database: {result.vendor}, {result.tables} tables, "
                          f"{result.rows:,} rows")
        self.stdout.write(f"  storage:  {result.files:,} files, "
                          f"{human_size(result.file_bytes)}")
        self.stdout.write(f"  encrypted for master key {result.master_id!r}: keep that key, "
                          "and a keyring copy (`coursewright keys backup`), apart from "
                          "the archive.")

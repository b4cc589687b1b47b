"""Manage encryption keys: copy the keyring, rotate the master key.

    coursewright keys backup -o PATH     a copy of the keyring (wrapped data keys and the
                                         list of destroyed keys); never overwrites
    coursewright keys rotate-master      add a new master key and re-wrap every data key
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.privacy.backup import keep_days
from coursewright.privacy.keys import (
    LocalMasterKeys,
    forget_cached,
    keyring,
    keys_dir,
    load_master_keys,
    new_master_key_line,
)


def _write_new_file(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CommandError(f"{path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _replace_file(path: Path, text: str) -> None:
    """Atomically replace ``path`` (temporary file, fsync, rename), keeping mode 0600."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _new_key_line(existing: list[str]) -> str:
    base = datetime.now(UTC).strftime("mk-%Y%m%d%H%M%S")
    key_id, number = base, 2
    while key_id in existing:  # two rotations within a second
        key_id, number = f"{base}-{number}", number + 1
    return new_master_key_line(key_id)


def _key_ids(text: str) -> list[str]:
    return [line.strip().partition(":")[0] for line in text.replace(",", "\n").splitlines()
            if line.strip() and not line.strip().startswith("#")]


class Command(BaseCommand):
    help = "Encryption keys: `keys backup -o PATH` copies the keyring; `keys rotate-master`."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True,
                                        metavar="{backup,rotate-master}")
        backup = actions.add_parser(
            "backup", help="write a copy of the keyring (wrapped data keys, destroyed list)",
            description="Write a copy of the keyring: every organisation's data keys, wrapped "
                        "by the master key, and the list of destroyed keys. It is useless "
                        "without the master key; keep the two apart.")
        backup.add_argument("-o", "--output", required=True,
                            help="where to write the copy (an existing file is never replaced)")
        actions.add_parser(
            "rotate-master", help="add a new master key and re-wrap every data key under it",
            description="Add a new master key (appended to the master key file, or printed "
                        "when the keys come from COURSEWRIGHT_MASTER_KEY) and re-wrap every "
                        "data key under it. No data is re-encrypted. Old key lines stay "
                        "until you remove them.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "backup":
            self._backup(Path(options["output"]))
        else:
            self._rotate_master()

    def _backup(self, output: Path) -> None:
        ring = keyring()
        data = ring.export_bytes() or json.dumps(
            {"format": 1, "keys": {}, "destroyed": {}}, indent=1, sort_keys=True).encode()
        content = json.loads(data)
        if not output.parent.is_dir():
            raise CommandError(f"the output folder does not exist: {output.parent}")
        _write_new_file(output, data)
        entries = [entry for versions in content["keys"].values() for entry in versions]
        masters = sorted({entry["master"] for entry in entries})
        self.stdout.write(
            f"Keyring copied to {output} (mode 0600): {len(content['keys'])} key ids, "
            f"{len(entries)} data keys, {len(content['destroyed'])} destroyed.")
        if masters:
            self.stdout.write(f"  wrapped by master key(s) {', '.join(masters)}: it opens only "
                              "with them; keep them apart from this copy.")
        self.stdout.write("  A copy made before a key is destroyed still holds that key: "
                          "replace older copies after every destruction.")

    def _rotate_master(self) -> None:
        env_keys = os.environ.get("COURSEWRIGHT_MASTER_KEY")
        current = load_master_keys()  # makes the default key file if there is none yet
        old_id = current.current_id
        if env_keys:
            existing = _key_ids(env_keys)
            line = _new_key_line(existing)
            self.stdout.write("New master key. Add it as the LAST entry of "
                              "COURSEWRIGHT_MASTER_KEY (lines or commas), keeping the old "
                              "entries, before the next start:")
            self.stdout.write(f"  {line}")
            lines = env_keys.replace(",", "\n")
            new_master = LocalMasterKeys.parse(f"{lines}\n{line}",
                                               source="COURSEWRIGHT_MASTER_KEY + new key")
        else:
            file_name = os.environ.get("COURSEWRIGHT_MASTER_KEY_FILE")
            path = Path(file_name) if file_name else keys_dir() / "master.keys"
            text = path.read_text(encoding="utf-8")
            existing = _key_ids(text)
            line = _new_key_line(existing)
            separator = "" if not text or text.endswith("\n") else "\n"
            try:
                _replace_file(path, f"{text}{separator}{line}\n")
            except OSError as exc:
                raise CommandError(f"cannot update the master key file {path}: "
                                   f"{exc.strerror}") from None
            self.stdout.write(f"New master key {line.partition(':')[0]!r} appended to {path}.")
            new_master = load_master_keys()
        count = keyring().rewrap_all(new_master)
        forget_cached()
        self.stdout.write(f"Re-wrapped {count} data keys under master key "
                          f"{new_master.current_id!r}.")
        self.stdout.write(
            "Restart `coursewright serve` and every job consumer so they load the new key.")
        self.stdout.write(
            f"Backups made before now are encrypted with {old_id!r}: keep the old line(s) "
            f"({', '.join(existing)}) until those backups have expired ({keep_days()} days "
            "for the daily ones) and no older keyring copy is needed, then remove them.")

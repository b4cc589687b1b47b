"""Manage encryption and signing keys.

    coursewright keys backup -o PATH     a copy of the keyring (wrapped data keys and the
                                         list of destroyed keys); never overwrites
    coursewright keys rotate-master      add a new master key and re-wrap every data key
                                         (and the token-signing keys' private parts)
    coursewright keys list-signing       the token-signing keys and their states
    coursewright keys rotate-signing     a new active token-signing key; the old one keeps
                                         verifying the tokens it signed (the LTI tool's
                                         RSA key rotates with it; the old one stays
                                         published until retired)
    coursewright keys retire-signing -- KID remove a verifying key: its tokens stop working
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.delivery import signing
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
    help = ("Keys: `keys backup -o PATH` copies the keyring; `keys rotate-master`; "
            "token-signing keys: `keys list-signing`, `keys rotate-signing`, "
            "`keys retire-signing -- KID`.")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(
            dest="action", required=True,
            metavar="{backup,rotate-master,list-signing,rotate-signing,retire-signing}")
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
        actions.add_parser(
            "list-signing", help="list the token-signing keys (kid, state, created)",
            description="List the Ed25519 keys that sign license tokens: the active one "
                        "(signs new tokens) and the verifying ones (still accept the tokens "
                        "they signed). The public keys are published at "
                        "/.well-known/jwks.json.")
        actions.add_parser(
            "rotate-signing", help="make a new active token-signing key",
            description="Make a new Ed25519 signing key the active one. The previous "
                        "active key becomes a verifying key: tokens it signed keep working "
                        "until you retire it. New and re-minted tokens use the new key.")
        retire = actions.add_parser(
            "retire-signing", help="remove a verifying token-signing key",
            description="Remove a verifying signing key. Every token it signed is refused "
                        "from the next launch on (mint new tokens first). The active key "
                        "cannot be retired: rotate first.")
        # A kid is a base64url thumbprint and may begin with "-": after "--" argparse
        # takes it as the value, not as an option.
        retire.add_argument("kid", help="the key's id, as `keys list-signing` shows it; "
                            "write `--` before it (a kid may begin with '-')")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "backup":
            self._backup(Path(options["output"]))
        elif action == "rotate-master":
            self._rotate_master()
        elif action == "list-signing":
            self._list_signing()
        elif action == "rotate-signing":
            self._rotate_signing()
        else:
            self._retire_signing(options["kid"])

    def _list_signing(self) -> None:
        from coursewright.lti import keys as lti_keys

        for lti_key in lti_keys.list_keys():
            self.stdout.write(f"{lti_key.kid}  {lti_key.state:<9}  created "
                              f"{lti_key.created_at}  (LTI, RS256)")
        keys = signing.list_keys()
        if not keys:
            self.stdout.write("No token-signing key yet: the first is made when the first "
                              "license token is signed (or with `keys rotate-signing`).")
        for info in keys:
            self.stdout.write(f"{info.kid}  {info.state:<9}  created {info.created_at}")
        retired = signing.retired_kids()
        if retired:
            self.stdout.write(f"Retired: {', '.join(retired)}")

    def _rotate_signing(self) -> None:
        from coursewright.lti import keys as lti_keys

        new, old = signing.rotate_signing_key(actor=Actor.system(Channel.CLI))
        lti_new, lti_old = lti_keys.rotate_key(actor=Actor.system(Channel.CLI))
        self.stdout.write(f"New active LTI key {lti_new} (published at /lti/jwks.json"
                          + (f"; {lti_old} stays published until you retire it)."
                             if lti_old else ")."))
        self.stdout.write(f"New active token-signing key {new}.")
        if old:
            self.stdout.write(
                f"The previous key {old} now only verifies: tokens it signed keep working. "
                "Mint new tokens for the licenses that use it (POST /api/v1/licenses/{id}/"
                f"token), then retire it with `coursewright keys retire-signing -- {old}`.")

    def _retire_signing(self, kid: str) -> None:
        from coursewright.lti import keys as lti_keys

        if lti_keys.has_key(kid):
            try:
                lti_keys.retire_key(kid, actor=Actor.system(Channel.CLI))
            except lti_keys.LtiKeyError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Retired LTI key {kid}: it is no longer published.")
            return
        try:
            signing.retire_signing_key(kid, actor=Actor.system(Channel.CLI))
        except signing.SigningKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Retired token-signing key {kid}: tokens it signed are refused "
                          "from now on.")

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
        from coursewright.lti import keys as lti_keys

        signing_count = signing.rewrap(new_master) + lti_keys.rewrap(new_master)
        self.stdout.write(f"Re-wrapped {count} data keys under master key "
                          f"{new_master.current_id!r}.")
        if signing_count:
            self.stdout.write(f"Re-sealed {signing_count} token-signing keys under it.")
        self.stdout.write(
            "Restart `coursewright serve` and every job consumer so they load the new key.")
        self.stdout.write(
            f"Backups made before now are encrypted with {old_id!r}: keep the old line(s) "
            f"({', '.join(existing)}) until those backups have expired ({keep_days()} days "
            "for the daily ones) and no older keyring copy is needed, then remove them.")

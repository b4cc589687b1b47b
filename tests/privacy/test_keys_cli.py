"""`coursewright keys`: a copy of the keyring that never overwrites, and master key rotation
after which every data key opens with the new master key alone and old ciphertext still
decrypts."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from coursewright.privacy import keys
from coursewright.privacy.crypto import seal, unseal
from coursewright.privacy.keys import FileKeyring, LocalMasterKeys, new_master_key_line


@pytest.fixture
def keys_dir(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A keys directory of this test's own, with the master key in its default file."""
    settings.KEYS_DIR = tmp_path / "keys"
    monkeypatch.delenv("COURSEWRIGHT_MASTER_KEY", raising=False)
    monkeypatch.delenv("COURSEWRIGHT_MASTER_KEY_FILE", raising=False)
    monkeypatch.setattr(keys, "_keyring", None)
    keys.forget_cached()
    yield settings.KEYS_DIR
    keys.forget_cached()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("keys", *args, stdout=out)
    return out.getvalue()


def fresh_keyring(directory: Path, master_text: str) -> FileKeyring:
    return FileKeyring(directory / "keyring.json",
                       LocalMasterKeys.parse(master_text, source="test"))


def test_backup_copies_the_keyring_with_its_destroyed_list(keys_dir: Path,
                                                           tmp_path: Path) -> None:
    ring = keys.keyring()
    ring.create("acme")
    ring.create("globex")
    ring.rotate_data_key("acme")
    ring.create("initech")
    ring.destroy("initech", reason="erasure request")
    out = run("backup", "-o", str(tmp_path / "keyring-copy.json"))

    copy = tmp_path / "keyring-copy.json"
    assert copy.read_bytes() == (keys_dir / "keyring.json").read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o600
    content = json.loads(copy.read_bytes())
    assert sorted(content["keys"]) == ["acme", "globex"]
    assert list(content["destroyed"]) == ["initech"]
    assert "2 key ids, 3 data keys, 1 destroyed" in out
    assert "master key(s) mk-1" in out


def test_backup_refuses_to_overwrite(keys_dir: Path, tmp_path: Path) -> None:
    keys.keyring().create("acme")
    target = tmp_path / "existing.json"
    target.write_text("keep me")
    with pytest.raises(CommandError, match="already exists; refusing to overwrite"):
        run("backup", "-o", str(target))
    assert target.read_text() == "keep me"


def test_backup_of_an_empty_keyring(keys_dir: Path, tmp_path: Path) -> None:
    run("backup", "-o", str(tmp_path / "copy.json"))
    assert json.loads((tmp_path / "copy.json").read_text()) == {
        "format": 1, "keys": {}, "destroyed": {}}


def test_backup_needs_a_target(keys_dir: Path) -> None:
    with pytest.raises(CommandError):
        run("backup")
    with pytest.raises(CommandError):
        run()


def test_rotate_master_rewraps_every_data_key_and_old_data_stays_readable(
        keys_dir: Path) -> None:
    # given: keys for two organisations (one rotated once), one destroyed, and ciphertext
    ring = keys.keyring()
    ring.create("acme")
    ring.create("globex")
    old_acme = seal("acme", b"acme v1", where="t")
    ring.rotate_data_key("acme")
    keys.forget_cached()
    new_acme = seal("acme", b"acme v2", where="t")
    globex = seal("globex", b"globex", where="t")
    ring.create("initech")
    ring.destroy("initech", reason="erasure request")
    master_file = keys_dir / "master.keys"
    old_line = master_file.read_text().strip()

    # when
    out = run("rotate-master")

    # then: a second key line, every data key wrapped by it
    lines = master_file.read_text().splitlines()
    assert lines[0] == old_line
    assert len(lines) == 2
    new_id = lines[1].partition(":")[0]
    assert master_file.stat().st_mode & 0o777 == 0o600
    assert "Re-wrapped 3 data keys" in out
    content = json.loads((keys_dir / "keyring.json").read_text())
    assert {e["master"] for entries in content["keys"].values() for e in entries} == {new_id}
    assert list(content["destroyed"]) == ["initech"]

    # and with the old line removed, everything still opens
    master_file.write_text(lines[1] + "\n")
    keys._keyring = None
    keys.forget_cached()
    assert unseal("acme", old_acme, where="t") == b"acme v1"
    assert unseal("acme", new_acme, where="t") == b"acme v2"
    assert unseal("globex", globex, where="t") == b"globex"
    assert keys.keyring().is_destroyed("initech")
    assert fresh_keyring(keys_dir, lines[1]).get("acme", 1).key == keys.data_key("acme", 1).key


def test_rotate_master_twice_keeps_ids_unique(keys_dir: Path) -> None:
    keys.keyring().create("acme")
    run("rotate-master")
    run("rotate-master")
    ids = [line.partition(":")[0] for line in (keys_dir / "master.keys").read_text().split()]
    assert len(ids) == len(set(ids)) == 3


def test_rotate_master_with_keys_from_the_environment_prints_the_new_key(
        keys_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_line = new_master_key_line("env-1")
    monkeypatch.setenv("COURSEWRIGHT_MASTER_KEY", old_line)
    ring = keys.keyring()
    ring.create("acme")
    sealed = seal("acme", b"secret", where="t")

    out = run("rotate-master")

    printed = [line.strip() for line in out.splitlines() if line.startswith("  mk-")]
    assert len(printed) == 1
    new_line = printed[0]
    assert "Re-wrapped 1 data keys" in out
    assert not (keys_dir / "master.keys").exists()  # nothing written for the env case
    alone = fresh_keyring(keys_dir, new_line)  # the new key alone opens every data key
    assert alone.get("acme").key == keys.data_key("acme").key
    monkeypatch.setenv("COURSEWRIGHT_MASTER_KEY", f"{old_line},{new_line}")
    keys._keyring = None
    keys.forget_cached()
    assert unseal("acme", sealed, where="t") == b"secret"


def test_rotate_master_appends_to_the_configured_key_file(
        keys_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "elsewhere.keys"
    key_file.write_text(new_master_key_line("file-1"))  # no trailing newline
    key_file.chmod(0o600)
    monkeypatch.setenv("COURSEWRIGHT_MASTER_KEY_FILE", str(key_file))
    keys.keyring().create("acme")

    run("rotate-master")

    lines = key_file.read_text().splitlines()
    assert lines[0].startswith("file-1:")
    assert len(lines) == 2
    assert not (keys_dir / "master.keys").exists()
    assert fresh_keyring(keys_dir, lines[1]).get("acme").version == 1

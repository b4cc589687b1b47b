"""Backups: backup -> wipe -> restore gives back every row and file (compared by hash); the
archive is ciphertext without the keys; a damaged archive, a wrong key or an unsafe tar
entry fails in one line and changes nothing; retention deletes only our old archives.

The SQLite path runs the real `coursewright` command in a subprocess against a file
database in a temporary state directory (under pytest-django the test database is in
memory). The PostgreSQL path runs in-process against the test database, committed
(``transaction=True``) so ``pg_dump`` sees it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from coursewright.privacy import keys
from coursewright.privacy.backup import (
    BackupError,
    keep_days,
    prune_backups,
    restore_backup,
)
from coursewright.privacy.backup_archive import (
    CHUNK_SIZE,
    TAG_BYTES,
    EncryptedReader,
    EncryptedWriter,
)
from coursewright.privacy.keys import FileKeyring, LocalMasterKeys

MARKER = "quokka-saffron-4417"
STAMP = "%Y%m%dT%H%M%SZ"


# --- helpers ------------------------------------------------------------------------------

def cli(var: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("COURSEWRIGHT_") and k != "DATABASE_URL"}
    clean.update({"DJANGO_SETTINGS_MODULE": "coursewright.settings",
                  "COURSEWRIGHT_VAR_DIR": str(var), **env})
    return subprocess.run([sys.executable, "-m", "coursewright.cli", *args], env=clean,
                          cwd=var.parent, capture_output=True, text=True, timeout=300,
                          check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: ")
    return lines[0]


def fingerprint(var: Path) -> dict[str, Any]:
    """Every row (SQLite's own dump) and every stored file, by hash: independent of the
    code under test."""
    db = sqlite3.connect(var / "coursewright.sqlite3")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    storage = var / "storage"
    files = {str(p.relative_to(storage)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(storage.rglob("*")) if p.is_file()}
    return {"rows": hashlib.sha256(dump.encode()).hexdigest(), "files": files}


def add_row_and_file(var: Path, name: str) -> None:
    db = sqlite3.connect(var / "coursewright.sqlite3")
    with db:
        db.execute("INSERT INTO auth_group (name) VALUES (?)", [name])
    db.close()
    (var / "storage" / f"{name}.txt").write_text(name)


def master_of(var: Path) -> LocalMasterKeys:
    path = var / "keys" / "master.keys"
    return LocalMasterKeys.parse(path.read_text(), source=str(path))


def decrypt(archive: Path, master: LocalMasterKeys) -> bytes:
    with open(archive, "rb") as raw:
        reader = EncryptedReader(raw, master)
        data = reader.read()
        reader.finish()
    return data


def no_leftovers(var: Path) -> None:
    assert not [p.name for p in var.iterdir() if p.name.startswith((".restore-", ".backup-"))]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory with the demo organisation, a marker row and marker files (one
    large enough for several archive chunks, one empty)."""
    var = tmp_path_factory.mktemp("seeded") / "var"
    ok(cli(var, "migrate", "--noinput", "-v0"))
    ok(cli(var, "demo"))
    add_row_and_file(var, MARKER)
    uploads = var / "storage" / "eu" / "org-1" / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "marker.txt").write_text(f"a stored file about {MARKER}\n")
    (uploads / "large.bin").write_bytes(secrets.token_bytes(2 * CHUNK_SIZE + 12345))
    (uploads / "empty.txt").write_bytes(b"")
    return var


@pytest.fixture(scope="module")
def archive(seeded: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("archives") / "seeded.cwbackup"
    ok(cli(seeded, "backup", "-o", str(path)))
    return path


@pytest.fixture
def var(seeded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "var"
    shutil.copytree(seeded, copy)
    return copy


# --- SQLite, end to end --------------------------------------------------------------------

def test_backup_wipe_restore_reproduces_every_row_and_file(var: Path) -> None:
    before = fingerprint(var)
    out = ok(cli(var, "backup"))
    [archive] = (var / "backups").glob("coursewright-*.cwbackup")
    assert datetime.strptime(archive.name[13:29], STAMP).replace(tzinfo=UTC) <= datetime.now(UTC)
    assert archive.stat().st_mode & 0o777 == 0o600
    assert f"Backup written to {archive}" in out
    assert "4 files" in out
    no_leftovers(var)

    # wipe: the database with its WAL files, and every stored file
    for name in ("coursewright.sqlite3", "coursewright.sqlite3-wal", "coursewright.sqlite3-shm"):
        (var / name).unlink(missing_ok=True)
    shutil.rmtree(var / "storage")

    out = ok(cli(var, "restore", str(archive)))
    assert out.count(": all match") == 2
    assert fingerprint(var) == before
    no_leftovers(var)


def test_archive_holds_neither_plaintext_nor_keys(var: Path, tmp_path: Path) -> None:
    ring = FileKeyring(var / "keys" / "keyring.json", master_of(var))
    ring.create("backup-test-org")
    keyring_data = json.loads(ring.export_bytes())
    wrapped = [e["wrapped"] for entries in keyring_data["keys"].values() for e in entries]
    master_line = (var / "keys" / "master.keys").read_text().strip()
    secret_key = (var / "secret_key").read_text().strip()
    path = tmp_path / "out.cwbackup"
    ok(cli(var, "backup", "-o", str(path)))

    sealed = path.read_bytes()
    assert MARKER.encode() not in sealed
    assert b"SQLite format 3" not in sealed
    plain = decrypt(path, master_of(var))
    assert MARKER.encode() in plain  # the marker is in there, but only encrypted
    for value in [*wrapped, master_line.partition(":")[2]]:  # base64 of key material
        assert value.encode() not in plain
        assert base64.b64decode(value) not in plain
    assert secret_key.encode() not in plain
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert {n.split("/")[0] for n in names} == {"manifest.json", "database", "storage"}
    assert not [n for n in names if any(word in n for word in
                                        ("keyring", "master", "secret_key", "huey", "keys/"))]
    assert manifest["format"] == 1
    assert manifest["database"]["vendor"] == "sqlite"
    assert manifest["database"]["tables"]["auth_group"]["rows"] >= 1
    marker = (var / "storage" / "eu" / "org-1" / "uploads" / "marker.txt").read_bytes()
    assert manifest["storage"]["files"]["eu/org-1/uploads/marker.txt"] == {
        "size": len(marker), "sha256": hashlib.sha256(marker).hexdigest()}


def test_backup_never_overwrites(var: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.cwbackup"
    target.write_bytes(b"precious")
    error = one_line_error(cli(var, "backup", "-o", str(target)))
    assert "already exists" in error
    assert target.read_bytes() == b"precious"


def test_backup_into_a_folder_takes_the_default_name(var: Path, tmp_path: Path) -> None:
    ok(cli(var, "backup", "-o", str(tmp_path)))
    [archive] = tmp_path.glob("coursewright-*.cwbackup")
    assert archive.stat().st_mode & 0o777 == 0o600


def _header_length(path: Path) -> int:
    with open(path, "rb") as raw:
        raw.seek(9)
        return 13 + int.from_bytes(raw.read(4), "big")


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _damage(kind: str, path: Path) -> None:
    header = _header_length(path)
    data = path.read_bytes()
    if kind == "flipped byte":
        _flip(path, header + CHUNK_SIZE + 777)
    elif kind == "altered header":
        path.write_bytes(data.replace(b'"created_at": "2', b'"created_at": "1', 1))
    elif kind == "truncated at a chunk boundary":
        path.write_bytes(data[:header + 2 * (CHUNK_SIZE + TAG_BYTES)])
    elif kind == "truncated":
        path.write_bytes(data[:-100])
    elif kind == "bytes appended":
        path.write_bytes(data + b"\x00")
    elif kind == "not a backup":
        path.write_bytes(b"PK\x03\x04" + data[4:])


@pytest.mark.parametrize(("kind", "message"), [
    ("flipped byte", "the backup is corrupt or was altered (chunk 1 of the archive fails"),
    ("altered header", "the backup is corrupt or was altered (chunk 0"),
    ("truncated at a chunk boundary",
     "the backup is truncated: it ends after chunk 1 of the archive without its final chunk"),
    ("truncated", "the backup is corrupt or truncated"),
    ("bytes appended", "the backup is corrupt or truncated"),
    ("not a backup", "not a coursewright backup"),
])
def test_damaged_archive_fails_in_one_line_and_changes_nothing(
        kind: str, message: str, var: Path, archive: Path, tmp_path: Path) -> None:
    add_row_and_file(var, "added-after-the-backup")
    before = fingerprint(var)
    damaged = tmp_path / "damaged.cwbackup"
    shutil.copy(archive, damaged)
    _damage(kind, damaged)

    error = one_line_error(cli(var, "restore", "--yes", str(damaged)))

    assert message in error
    assert fingerprint(var) == before
    no_leftovers(var)


@pytest.mark.parametrize(("master", "message"), [
    (f"mk-1:{base64.b64encode(b'x' * 32).decode()}",
     "wrong master key: the configured key 'mk-1' does not open this backup"),
    (f"mk-7:{base64.b64encode(b'x' * 32).decode()}",
     "this backup was encrypted with master key 'mk-1', which is not configured"),
])
def test_wrong_master_key_fails_in_one_line_and_changes_nothing(
        master: str, message: str, var: Path, archive: Path) -> None:
    add_row_and_file(var, "added-after-the-backup")
    before = fingerprint(var)
    error = one_line_error(cli(var, "restore", "--yes", str(archive),
                               COURSEWRIGHT_MASTER_KEY=master))
    assert message in error
    assert fingerprint(var) == before


def test_restore_without_a_master_key_makes_none(var: Path, archive: Path) -> None:
    (var / "keys" / "master.keys").unlink()
    error = one_line_error(cli(var, "restore", "--yes", str(archive)))
    assert "no master key is configured" in error
    assert not (var / "keys" / "master.keys").exists()


def test_restore_refuses_without_yes_when_data_exists(var: Path, archive: Path) -> None:
    backed_up = fingerprint(var)
    add_row_and_file(var, "added-after-the-backup")
    changed = fingerprint(var)

    error = one_line_error(cli(var, "restore", str(archive)))
    assert "pass --yes" in error
    assert fingerprint(var) == changed

    out = ok(cli(var, "restore", "--yes", str(archive)))
    assert out.count(": all match") == 2
    assert fingerprint(var) == backed_up  # the later row and file are gone


def test_restore_check_reads_the_archive_and_changes_nothing(var: Path, archive: Path) -> None:
    add_row_and_file(var, "added-after-the-backup")
    before = fingerprint(var)
    out = ok(cli(var, "restore", "--check", str(archive)))
    assert "is intact" in out
    assert "4 files" in out
    assert fingerprint(var) == before


def test_a_destroyed_key_stays_destroyed_after_restoring_an_older_backup(
        var: Path, tmp_path: Path, settings: Any) -> None:
    # given: content sealed under an organisation key, in a row and in a stored file
    from coursewright.privacy.crypto import seal, unseal

    settings.KEYS_DIR = var / "keys"
    keys.forget_cached()
    keys.keyring().create("org-to-forget")
    secret = f"confidential {MARKER}".encode()
    blob = seal("org-to-forget", secret, where="test")
    add_row_and_file(var, blob.hex())
    (var / "storage" / "sealed.bin").write_bytes(blob)
    archive = tmp_path / "before-deletion.cwbackup"
    ok(cli(var, "backup", "-o", str(archive)))

    # when: the key is destroyed, then the older backup is restored
    keys.keyring().destroy("org-to-forget", reason="erasure request")
    keys.forget_cached()
    ok(cli(var, "restore", "--yes", str(archive)))

    # then: the ciphertext is back, the key is not, and nothing reads it
    assert (var / "storage" / "sealed.bin").read_bytes() == blob
    assert keys.keyring().is_destroyed("org-to-forget")
    with pytest.raises(keys.KeyDestroyed):
        unseal("org-to-forget", blob, where="test")
    assert secret not in archive.read_bytes()
    keys.forget_cached()


def test_an_archive_needs_the_master_key_it_was_made_with(var: Path, archive: Path) -> None:
    ok(cli(var, "keys", "rotate-master"))
    ok(cli(var, "restore", "--check", str(archive)))  # old line still there: fine
    master_file = var / "keys" / "master.keys"
    master_file.write_text(master_file.read_text().splitlines()[-1] + "\n")
    error = one_line_error(cli(var, "restore", "--check", str(archive)))
    assert "encrypted with master key 'mk-1', which is not configured" in error


# --- unsafe tar entries --------------------------------------------------------------------

def _crafted(path: Path, master: LocalMasterKeys, member: tarfile.TarInfo,
             data: bytes = b"evil") -> None:
    with open(path, "wb") as raw:
        writer = EncryptedWriter(raw, master)
        with tarfile.open(fileobj=writer, mode="w|") as tar:
            member.size = len(data) if member.isreg() else 0
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
        writer.close()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


UNSAFE = [
    _member("storage/../../evil.txt"),
    _member("database/../../../evil.txt"),
    _member("/tmp/coursewright-evil.txt"),
    _member("storage/./evil.txt"),
    _member("storage/link", tarfile.SYMTYPE, "/etc/passwd"),
    _member("storage/hard", tarfile.LNKTYPE, "../../evil.txt"),
    _member("storage/dir", tarfile.DIRTYPE),
    _member("keys/keyring.json"),
]


@pytest.mark.parametrize("member", UNSAFE, ids=[m.name for m in UNSAFE])
def test_unsafe_tar_entries_are_refused(member: tarfile.TarInfo, tmp_path: Path,
                                        settings: Any) -> None:
    settings.KEYS_DIR = tmp_path / "keys"
    crafted = tmp_path / "crafted.cwbackup"
    _crafted(crafted, keys.load_master_keys(), member)
    with pytest.raises(BackupError, match=r"unsafe|unexpected entry"):
        restore_backup(crafted, check_only=True)
    assert not list(tmp_path.rglob("evil.txt"))
    assert not Path("/tmp/coursewright-evil.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".restore-")]


def test_path_traversal_fails_end_to_end_and_changes_nothing(var: Path, tmp_path: Path) -> None:
    before = fingerprint(var)
    crafted = tmp_path / "crafted.cwbackup"
    _crafted(crafted, master_of(var), _member("storage/../../evil.txt"))
    error = one_line_error(cli(var, "restore", "--yes", str(crafted)))
    assert "unsafe path in the archive: 'storage/../../evil.txt'" in error
    assert not list(tmp_path.rglob("evil.txt"))
    assert fingerprint(var) == before


# --- retention and the daily job -----------------------------------------------------------

def test_retention_deletes_only_our_old_archives(tmp_path: Path) -> None:
    now = datetime(2025, 6, 30, 3, 0, tzinfo=UTC)
    backups = tmp_path / "backups"
    backups.mkdir()

    def stamp(days: float) -> str:
        return (now - timedelta(days=days)).strftime(STAMP)

    names = {
        f"coursewright-{stamp(20)}.cwbackup": False,
        f"coursewright-{stamp(14.01)}.cwbackup": False,
        f"coursewright-{stamp(13.99)}.cwbackup": True,
        f"coursewright-{stamp(0)}.cwbackup": True,
        f".coursewright-{stamp(2)}.cwbackup.partial": False,  # an interrupted backup
        f".coursewright-{stamp(0.1)}.cwbackup.partial": True,  # maybe one being written
        f"coursewright-{stamp(30)}.cwbackup.txt": True,
        f"mine-{stamp(30)}.cwbackup": True,
        f"coursewright-{stamp(30)}.tar": True,
        "coursewright-20251399T000000Z.cwbackup": True,  # not a date
        "coursewright-latest.cwbackup": True,
        "notes.txt": True,
    }
    for name in names:
        (backups / name).write_text("x")
    (backups / f"coursewright-{stamp(40)}.cwbackup.d").mkdir()

    deleted = prune_backups(backups, keep_days=14, now=now)

    assert sorted(p.name for p in deleted) == sorted(n for n, keep in names.items() if not keep)
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        [n for n, keep in names.items() if keep] + [f"coursewright-{stamp(40)}.cwbackup.d"])


def test_keep_days_comes_from_settings(settings: Any) -> None:
    assert keep_days() == 14
    settings.BACKUP_KEEP_DAYS = 30
    assert keep_days() == 30


def test_daily_job_runs_at_three_utc() -> None:
    from coursewright.privacy.tasks import daily_backup

    task = daily_backup.task_class()
    assert task.validate_datetime(datetime(2025, 1, 1, 3, 0))  # noqa: DTZ001 - huey: naive UTC
    assert not task.validate_datetime(datetime(2025, 1, 1, 4, 0))  # noqa: DTZ001


def test_daily_job_backs_up_and_prunes(var: Path) -> None:
    backups = var / "backups"
    backups.mkdir(exist_ok=True)
    now = datetime.now(UTC)
    old = backups / f"coursewright-{(now - timedelta(days=15)).strftime(STAMP)}.cwbackup"
    recent = backups / f"coursewright-{(now - timedelta(days=2)).strftime(STAMP)}.cwbackup"
    other = backups / "keep-me.cwbackup"
    for path in (old, recent, other):
        path.write_text("x")
    job = ("import django; django.setup(); "
           "from coursewright.privacy.tasks import daily_backup; daily_backup.call_local()")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("COURSEWRIGHT_") and k != "DATABASE_URL"}
    result = subprocess.run([sys.executable, "-c", job], cwd=var.parent, timeout=300,
                            capture_output=True, text=True, check=False,
                            env={**clean, "DJANGO_SETTINGS_MODULE": "coursewright.settings",
                                 "COURSEWRIGHT_VAR_DIR": str(var)})
    assert result.returncode == 0, result.stderr
    assert not old.exists()
    assert recent.exists()
    assert other.exists()
    made = [p for p in backups.glob("coursewright-*.cwbackup") if p not in (old, recent)]
    assert len(made) == 1
    ok(cli(var, "restore", "--check", str(made[0])))


@pytest.mark.parametrize("verb", ["backup", "restore", "keys"])
def test_verbs_have_help(verb: str, tmp_path: Path) -> None:
    out = ok(cli(tmp_path / "var", verb, "--help"))
    assert "usage:" in out


# --- PostgreSQL, in-process ----------------------------------------------------------------

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql",
                                   reason="needs DATABASE_URL pointing at PostgreSQL")


def _pg_fingerprint(storage: Path) -> dict[str, Any]:
    """Every table's rows (sorted, as the driver returns them) and every file, by hash."""
    tables = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows = sorted(repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
                          for row in cursor.fetchall())
            tables[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    files = {str(p.relative_to(storage)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(storage.rglob("*")) if p.is_file()}
    return {"tables": tables, "files": files}


def _pg_seed(people: Any, storage: Path) -> None:
    from django.contrib.auth.models import Group

    Group.objects.create(name=MARKER)
    (storage / "eu" / "org-1").mkdir(parents=True, exist_ok=True)
    (storage / "eu" / "org-1" / "marker.txt").write_text(MARKER)
    (storage / "large.bin").write_bytes(secrets.token_bytes(CHUNK_SIZE + 5))


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_backup_wipe_restore_reproduces_every_row_and_file(
        people: Any, settings: Any, tmp_path: Path) -> None:
    storage = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    _pg_seed(people, storage)
    before = _pg_fingerprint(storage)
    archive = tmp_path / "pg.cwbackup"
    out = io.StringIO()
    call_command("backup", "-o", str(archive), stdout=out)
    assert "database: postgresql" in out.getvalue()
    assert MARKER.encode() not in archive.read_bytes()

    # wipe: every table, every file
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        cursor.execute(f"DROP TABLE {', '.join(quote(t) for t in tables)} CASCADE")
    shutil.rmtree(storage)
    storage.mkdir()

    out = io.StringIO()
    call_command("restore", str(archive), stdout=out)
    assert out.getvalue().count(": all match") == 2
    assert _pg_fingerprint(storage) == before


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_restore_refuses_without_yes(people: Any, settings: Any,
                                              tmp_path: Path) -> None:
    archive = tmp_path / "pg.cwbackup"
    call_command("backup", "-o", str(archive), stdout=io.StringIO())
    with pytest.raises(CommandError, match="pass --yes"):
        call_command("restore", str(archive))


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_restore_gives_up_on_held_locks_and_changes_nothing(
        people: Any, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    from coursewright.privacy import backup_db

    storage = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    archive = tmp_path / "pg.cwbackup"
    call_command("backup", "-o", str(archive), stdout=io.StringIO())
    _pg_seed(people, storage)
    before = _pg_fingerprint(storage)
    monkeypatch.setattr(backup_db, "LOCK_WAIT_SECONDS", 1.0)
    config = connection.settings_dict
    with psycopg.connect(dbname=config["NAME"], user=config["USER"], host=config["HOST"],
                         port=config["PORT"] or 5432, password=config["PASSWORD"] or None,
                         application_name="a-running-server") as holder:
        holder.execute("SELECT count(*) FROM auth_group")  # holds a lock until rollback
        with pytest.raises(CommandError, match=r"locks held by other connections "
                                               r"\(a-running-server\)"):
            call_command("restore", "--yes", str(archive), stdout=io.StringIO())
        holder.rollback()
    assert _pg_fingerprint(storage) == before

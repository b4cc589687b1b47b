"""Backups: one encrypted archive of the database and the stored files, verified on restore.

What is guaranteed, and why this way:

- **Consistent.** The database is snapshotted with its own tools inside one transaction
  (SQLite's online backup API; PostgreSQL's exported snapshot shared by our table digests
  and ``pg_dump --snapshot``), see ``backup_db``. Stored files are content-addressed and
  never rewritten, and are read right after the snapshot: a file added meanwhile is a
  harmless extra; one deleted in that window is missing from the archive (and ``restore``
  says so when it verifies).
- **Encrypted.** The tar stream is sealed in 1 MiB AES-256-GCM chunks under a fresh key per
  archive, wrapped by the master key (``backup_archive``). The plaintext archive never
  touches the disk; only the database snapshot does, in a 0700 directory that is removed
  afterwards. The file is written as ``.<name>.partial`` (mode 0600), read back and
  authenticated, and only then published under its name, never over an existing file.
- **Verified.** ``manifest.json`` records each table's row count and row hash and each
  file's SHA-256. A restore first decrypts the whole archive into a 0700 staging
  directory, so a wrong key, a flipped byte or a truncated file fails before anything is
  touched; then it replaces the database (all or nothing) and the storage, and measures
  the result with the same functions the backup used. Any difference fails the restore.
- **Excluded, on purpose.** ``<VAR_DIR>/keys`` (the keyring of wrapped data keys and the
  default master key file): an organisation whose key was destroyed must stay unreadable
  when an older backup is restored, which only holds if the keys are not in the backup.
  Opening an archive needs the master key, never the keyring; the keyring has its own
  copy (``coursewright keys backup``). Also left out: ``secret_key`` (sessions and reset
  links are not worth carrying, and a new host may set ``COURSEWRIGHT_SECRET_KEY``), the
  huey queue (in-flight jobs), collected static files, and the backups themselves.
- **Retention** deletes only files whose names match our own pattern, by the timestamp in
  the name, and only after a new backup has succeeded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from coursewright.privacy.backup_archive import (
    BackupError,
    EncryptedReader,
    EncryptedWriter,
)
from coursewright.privacy.backup_db import (
    POSTGRES_MEMBER,
    SQLITE_MEMBER,
    member_for,
    restore_database,
    snapshot_database,
)
from coursewright.privacy.backup_state import (
    StorageRoot,
    check_roots_exclude,
    data_in_target,
    database_digests,
    iter_storage_files,
    storage_digests,
    storage_roots,
)
from coursewright.privacy.keys import MasterKeyProvider, keys_dir, load_master_keys

__all__ = ["BackupError", "BackupResult", "RestoreReport", "create_backup", "prune_backups",
           "restore_backup", "run_scheduled_backup"]

MANIFEST_FORMAT = 1
MANIFEST = "manifest.json"
SUFFIX = ".cwbackup"
STAMP = "%Y%m%dT%H%M%SZ"
ARCHIVE_NAME = re.compile(r"^coursewright-(\d{8}T\d{6}Z)\.cwbackup$")
PARTIAL_NAME = re.compile(r"^\.coursewright-(\d{8}T\d{6}Z)\.cwbackup\.partial$")
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_BLOCK = 1024 * 1024


def backups_dir() -> Path:
    path = Path(settings.VAR_DIR) / "backups"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def archive_name(now: datetime) -> str:
    return f"coursewright-{now.astimezone(UTC).strftime(STAMP)}{SUFFIX}"


def keep_days() -> int:
    return max(1, int(getattr(settings, "BACKUP_KEEP_DAYS", 14)))


# --- backup ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    vendor: str
    tables: int
    rows: int
    files: int
    file_bytes: int
    master_id: str
    seconds: float


class _Hashing:
    """Hands a file to tarfile while hashing exactly the bytes that went into the archive."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.digest.update(data)
        return data


def _add_file(tar: tarfile.TarFile, name: str, path: Path, *, mode: int | None = None
              ) -> dict[str, Any]:
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        info = tarfile.TarInfo(name)
        info.size = stat.st_size
        info.mtime = int(stat.st_mtime)
        info.mode = mode if mode is not None else stat.st_mode & 0o644
        hashing = _Hashing(handle)
        try:
            tar.addfile(info, hashing)
        except OSError as exc:  # stored files are never rewritten; this one was
            raise BackupError(f"{path} changed while it was being read ({exc}); "
                              "run the backup again") from None
    return {"size": info.size, "sha256": hashing.digest.hexdigest()}


def create_backup(output: Path | None = None, *, now: datetime | None = None) -> BackupResult:
    started = time.monotonic()
    now = now or datetime.now(UTC)
    if output is None:
        output = backups_dir() / archive_name(now)
    elif output.is_dir():
        output = output / archive_name(now)
    target = output.absolute()
    roots = storage_roots()
    check_roots_exclude(roots, keys_dir())
    for root in roots:
        if root.directory in target.parents:
            raise BackupError(f"write the backup outside the storage directory {root.directory}")
    if target.exists():
        raise BackupError(f"{target} already exists; refusing to overwrite it")
    if not target.parent.is_dir():
        raise BackupError(f"the output folder does not exist: {target.parent}")
    master = load_master_keys()
    partial = target.with_name(f".{target.name}.partial")
    workdir = Path(tempfile.mkdtemp(prefix=".backup-", dir=settings.VAR_DIR))  # mode 0700
    try:
        snapshot = snapshot_database(connection, workdir)
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise BackupError(f"{partial} exists: another backup is being written there, or "
                              "an interrupted one left it behind (then delete it)") from None
        try:
            with os.fdopen(fd, "wb") as raw:
                writer = EncryptedWriter(raw, master)
                with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    database = _add_file(tar, snapshot.member, snapshot.path, mode=0o600)
                    snapshot.path.unlink()
                    files: dict[str, dict[str, Any]] = {}
                    for name, path in iter_storage_files(roots):
                        with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                            files[name] = _add_file(tar, f"storage/{name}", path)
                    manifest = _manifest(now, snapshot.vendor, snapshot.member, database,
                                         snapshot.details, snapshot.tables, files)
                    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
                    tar.addfile(info, io.BytesIO(data))
                writer.close()
                raw.flush()
                os.fsync(raw.fileno())
            _check_reads_back(partial, master, writer)
            _publish(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return BackupResult(
        path=target, size=target.stat().st_size, vendor=snapshot.vendor,
        tables=len(snapshot.tables), rows=sum(t.rows for t in snapshot.tables.values()),
        files=len(files), file_bytes=sum(f["size"] for f in files.values()),
        master_id=writer.master_id, seconds=time.monotonic() - started)


def _manifest(now: datetime, vendor: str, member: str, database: dict[str, Any],
              details: dict[str, str], tables: dict[str, Any],
              files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    try:
        version = metadata.version("coursewright")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "format": MANIFEST_FORMAT,
        "created_at": now.astimezone(UTC).isoformat(),
        "coursewright_version": version,
        "database": {
            "vendor": vendor, "member": member, **database, **details,
            "tables": {name: {"rows": t.rows, "sha256": t.sha256}
                       for name, t in sorted(tables.items())},
        },
        "storage": {"files": dict(sorted(files.items()))},
        "not_included": ["keys directory (keyring and default master key file)",
                         "secret_key", "job queue", "static files", "backups"],
    }


def _check_reads_back(path: Path, master: MasterKeyProvider, writer: EncryptedWriter) -> None:
    with open(path, "rb") as raw:
        reader = EncryptedReader(raw, master)
        while reader.read(_BLOCK):
            pass
        reader.finish()
    if (reader.plaintext.digest() != writer.plaintext.digest()
            or reader.plaintext_size != writer.plaintext_size):
        raise BackupError(f"{path} does not read back as written; the disk may be failing")


def _publish(partial: Path, target: Path) -> None:
    try:
        os.link(partial, target)  # fails instead of replacing an existing file
    except FileExistsError:
        raise BackupError(f"{target} already exists; refusing to overwrite it") from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise BackupError(f"{target} already exists; refusing to overwrite it") from None
        os.rename(partial, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# --- retention ---------------------------------------------------------------------------

def prune_backups(directory: Path, *, keep_days: int, now: datetime) -> list[Path]:
    """Delete our own archives older than ``keep_days`` (and interrupted ones older than
    a day), judged by the UTC timestamp in their names. Anything else is left alone."""
    deleted = []
    for entry in sorted(directory.iterdir()):
        match = ARCHIVE_NAME.match(entry.name)
        limit = timedelta(days=keep_days)
        if match is None:
            match = PARTIAL_NAME.match(entry.name)
            limit = timedelta(days=1)
        if match is None or entry.is_symlink() or not entry.is_file():
            continue
        try:
            taken = datetime.strptime(match[1], STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue
        if taken < now - limit:
            entry.unlink(missing_ok=True)
            deleted.append(entry)
    return deleted


def run_scheduled_backup(now: datetime | None = None) -> tuple[BackupResult, list[Path]]:
    """The daily job: a new backup, then (only if it succeeded) retention."""
    now = now or datetime.now(UTC)
    result = create_backup(None, now=now)
    return result, prune_backups(backups_dir(), keep_days=keep_days(), now=now)


# --- restore -----------------------------------------------------------------------------

@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    restored: bool
    tables: int = 0
    rows: int = 0
    files: int = 0
    file_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _master_keys_for_restore() -> MasterKeyProvider:
    """The configured master keys. Unlike a backup, a restore never makes a new master
    key: a fresh random key would only fail to open the archive, and would then linger."""
    if not (os.environ.get("COURSEWRIGHT_MASTER_KEY")
            or os.environ.get("COURSEWRIGHT_MASTER_KEY_FILE")
            or (keys_dir() / "master.keys").exists()):
        raise BackupError(f"no master key is configured: put the master key file back at "
                          f"{keys_dir() / 'master.keys'} or set COURSEWRIGHT_MASTER_KEY "
                          "before restoring")
    try:
        return load_master_keys()
    except ImproperlyConfigured as exc:
        raise BackupError(str(exc)) from None


def restore_backup(path: Path, *, overwrite: bool = False,
                   check_only: bool = False) -> RestoreReport:
    """Restore ``path`` over the configured database and storage, then verify. With
    ``check_only``, decrypt and check the archive against its manifest and stop there."""
    started = time.monotonic()
    master = _master_keys_for_restore()
    roots = storage_roots()
    check_roots_exclude(roots, keys_dir())
    if not path.is_file():
        raise BackupError(f"no such file: {path}")
    base = roots[0].directory
    base.mkdir(parents=True, exist_ok=True)
    with open(path, "rb") as raw:
        reader = EncryptedReader(raw, master)
        existing = [] if check_only or overwrite else data_in_target(connection, roots)
        if existing:
            shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
            raise BackupError(f"the target already holds data ({shown}); pass --yes to "
                              "replace all of it with the backup")
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=base.parent))  # mode 0700
        try:
            manifest, member = _extract(reader, staging)
            if check_only:
                report = RestoreReport(manifest, restored=False)
                _count(report, manifest)
                report.seconds = time.monotonic() - started
                return report
            if manifest["database"]["vendor"] != connection.vendor:
                raise BackupError(f"this is a backup of a {manifest['database']['vendor']} "
                                  f"database; the configured database is {connection.vendor}")
            restore_database(connection, staging / member)
            _replace_storage(roots, staging / "storage")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    report = verify(manifest, roots)
    report.seconds = time.monotonic() - started
    return report


def _count(report: RestoreReport, manifest: dict[str, Any]) -> None:
    tables = manifest["database"]["tables"]
    files = manifest["storage"]["files"]
    report.tables, report.rows = len(tables), sum(t["rows"] for t in tables.values())
    report.files, report.file_bytes = len(files), sum(f["size"] for f in files.values())


def _member_path(member: tarfile.TarInfo) -> PurePosixPath:
    name = member.name
    parts = name.split("/")
    if (name.startswith("/") or "\x00" in name
            or any(part in {"", ".", ".."} for part in parts)):
        raise BackupError(f"unsafe path in the archive: {name!r}; nothing was changed")
    if not member.isreg():
        raise BackupError(f"unsafe entry in the archive: {name!r} is not a regular file; "
                          "nothing was changed")
    if name not in {MANIFEST, SQLITE_MEMBER, POSTGRES_MEMBER} and (
            parts[0] != "storage" or len(parts) < 2):
        raise BackupError(f"unexpected entry in the archive: {name!r}; nothing was changed")
    return PurePosixPath(name)


def _extract(reader: EncryptedReader, staging: Path) -> tuple[dict[str, Any], str]:
    """Decrypt the whole archive into ``staging`` and check it against its manifest.
    Returns the manifest and the database member's name."""
    found: dict[str, dict[str, Any]] = {}
    manifest_data = b""
    root = staging.resolve()
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for member in tar:
                name = _member_path(member)
                if str(name) in found or (str(name) == MANIFEST and manifest_data):
                    raise BackupError(f"the archive holds {str(name)!r} twice")
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                if str(name) == MANIFEST:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise BackupError("the archive's manifest is impossibly large")
                    manifest_data = source.read()
                    continue
                destination = root.joinpath(*name.parts)
                destination.parent.mkdir(mode=0o755, parents=True, exist_ok=True)  # inside 0700
                if root not in destination.resolve().parents:
                    raise BackupError(f"unsafe path in the archive: {member.name!r}")
                found[str(name)] = _write_member(source, destination, member)
        reader.finish()
    except tarfile.TarError as exc:
        raise BackupError(f"the archive's contents are damaged ({exc})") from None
    except OSError as exc:
        raise BackupError(f"could not unpack the archive: {exc}; nothing was changed") from None
    try:
        manifest: dict[str, Any] = json.loads(manifest_data)
        vendor, member_name = manifest["database"]["vendor"], manifest["database"]["member"]
        tables, files = manifest["database"]["tables"], manifest["storage"]["files"]
    except (ValueError, KeyError, TypeError):
        raise BackupError("the archive has no readable manifest") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"manifest format {manifest.get('format')} is not supported")
    if not isinstance(tables, dict) or member_name != member_for(vendor):
        raise BackupError("the archive's manifest is damaged")
    expected = {f"storage/{name}": entry for name, entry in files.items()}
    expected[member_name] = {"size": manifest["database"]["size"],
                             "sha256": manifest["database"]["sha256"]}
    if found != expected:
        missing = sorted(set(expected) - set(found))
        odd = sorted(name for name in found if found[name] != expected.get(name))
        raise BackupError(f"the archive does not match its manifest "
                          f"({(missing + odd)[0]!r}); nothing was changed")
    return manifest, member_name


def _write_member(source: IO[bytes], destination: Path, member: tarfile.TarInfo
                  ) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while block := source.read(_BLOCK):
            digest.update(block)
            size += len(block)
            out.write(block)
    os.chmod(destination, member.mode & 0o644 | 0o600)
    os.utime(destination, (member.mtime, member.mtime))
    return {"size": size, "sha256": digest.hexdigest()}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _replace_storage(roots: list[StorageRoot], staged: Path) -> None:
    """Empty every storage directory (keeping the directories themselves, which may be
    mount points), then move the staged files in."""
    directories = {root.directory for root in roots}
    for root in roots:
        root.directory.mkdir(parents=True, exist_ok=True)
        for entry in root.directory.iterdir():
            resolved = entry.resolve()
            if entry.name in root.skip or any(
                    d == resolved or resolved in d.parents for d in directories):
                continue  # another storage directory lives there
            _remove(entry)
    if not staged.is_dir():
        return
    moved = {root.prefix.rstrip("/"): root.directory for root in roots[1:]}
    for entry in sorted(staged.iterdir()):
        if entry.name in moved:
            for child in sorted(entry.iterdir()):
                shutil.move(child, moved[entry.name] / child.name)
        else:
            shutil.move(entry, roots[0].directory / entry.name)


def verify(manifest: dict[str, Any], roots: list[StorageRoot]) -> RestoreReport:
    """Measure the live database and storage and compare them with ``manifest``."""
    report = RestoreReport(manifest, restored=True)
    _count(report, manifest)
    problems = report.problems
    expected_tables: dict[str, dict[str, Any]] = manifest["database"]["tables"]
    live_tables = database_digests(connection)
    for name, want in expected_tables.items():
        got = live_tables.get(name)
        if got is None:
            problems.append(f"table {name}: missing")
        elif got.rows != want["rows"]:
            problems.append(f"table {name}: {want['rows']} rows in the backup, {got.rows} now")
        elif got.sha256 != want["sha256"]:
            problems.append(f"table {name}: rows differ from the backup")
    problems += [f"table {name}: not in the backup" for name in sorted(live_tables)
                 if name not in expected_tables]
    expected_files: dict[str, dict[str, Any]] = manifest["storage"]["files"]
    live_files = storage_digests(roots)
    for name, want in expected_files.items():
        have = live_files.get(name)
        if have is None:
            problems.append(f"file {name}: missing")
        elif have["sha256"] != want["sha256"]:
            problems.append(f"file {name}: content differs from the backup")
    problems += [f"file {name}: not in the backup" for name in sorted(live_files)
                 if name not in expected_files]
    return report

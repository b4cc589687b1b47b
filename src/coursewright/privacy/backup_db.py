"""Database snapshots and restores, per vendor, with the standard tools.

- **SQLite**: the online backup API copies the live database (committed WAL frames
  included) page by page under one read transaction, so the copy is consistent while
  the server keeps writing. Restoring uses the same API in the other direction: SQLite
  rewrites the live file inside a write transaction, keeping its own WAL and shared
  memory files coherent, instead of us swapping files under a possibly open database.
- **PostgreSQL**: a REPEATABLE READ transaction exports its snapshot; the table digests
  are computed inside it and ``pg_dump --snapshot`` dumps exactly the same state.
  Restoring is ``pg_restore --clean --if-exists --no-owner --single-transaction``: all
  or nothing; if another connection (a server still running) holds locks for 30 s, the
  restore is cancelled rather than left hanging.
  Connection details come from Django's settings and reach the tools through libpq's
  environment variables (the password never appears on a command line).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.module_loading import import_string

from coursewright.privacy.backup_archive import BackupError
from coursewright.privacy.backup_state import TableDigest, database_digests

SQLITE_MEMBER = "database/coursewright.sqlite3"
POSTGRES_MEMBER = "database/coursewright.pgdump"
LOCK_WAIT_SECONDS = 30.0
_LIBPQ_OPTIONS = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
                  "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "passfile": "PGPASSFILE",
                  "service": "PGSERVICE", "connect_timeout": "PGCONNECT_TIMEOUT"}


@dataclass(frozen=True)
class Snapshot:
    vendor: str
    member: str  # its name in the archive
    path: Path
    tables: dict[str, TableDigest]
    details: dict[str, str]


def snapshot_database(connection: BaseDatabaseWrapper, workdir: Path) -> Snapshot:
    if connection.vendor == "sqlite":
        return _snapshot_sqlite(connection, workdir)
    if connection.vendor == "postgresql":
        return _snapshot_postgres(connection, workdir)
    raise BackupError(f"backups support SQLite and PostgreSQL, not {connection.vendor}")


def restore_database(connection: BaseDatabaseWrapper, snapshot: Path) -> None:
    """Replace the whole database with ``snapshot``. All or nothing."""
    connections.close_all()
    if connection.vendor == "sqlite":
        _restore_sqlite(connection, snapshot)
    elif connection.vendor == "postgresql":
        _restore_postgres(connection, snapshot)
    else:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {connection.vendor}")


def member_for(vendor: str) -> str:
    return SQLITE_MEMBER if vendor == "sqlite" else POSTGRES_MEMBER


@contextlib.contextmanager
def _private_connection(connection: BaseDatabaseWrapper, **changes: Any
                        ) -> Iterator[BaseDatabaseWrapper]:
    """A connection of our own with the same settings (registered under its own alias, as
    Django's feature checks expect), so the caller's connection and transactions are left
    alone."""
    alias = f"coursewright-backup-{threading.get_ident()}"
    backend = import_string(f"{connection.settings_dict['ENGINE']}.base.DatabaseWrapper")
    wrapper: BaseDatabaseWrapper = backend({**connection.settings_dict, **changes}, alias=alias)
    connections[alias] = wrapper
    try:
        yield wrapper
    finally:
        wrapper.close()
        del connections[alias]


def _sqlite_file(connection: BaseDatabaseWrapper) -> Path:
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        raise BackupError(f"the SQLite database {name!r} is not a plain file; nothing to back up")
    return Path(name)


def _snapshot_sqlite(connection: BaseDatabaseWrapper, workdir: Path) -> Snapshot:
    live = _sqlite_file(connection)
    if not live.exists():
        raise BackupError(f"no database at {live} (run `coursewright migrate` first)")
    target = workdir / "coursewright.sqlite3"
    source = sqlite3.connect(live, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # pages=-1: one step, one read transaction
        finally:
            copy.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the SQLite online backup failed: {exc}") from None
    finally:
        source.close()
    with _private_connection(connection, NAME=str(target), OPTIONS={}) as reader:
        tables = database_digests(reader)
    return Snapshot("sqlite", SQLITE_MEMBER, target, tables,
                    {"sqlite_version": sqlite3.sqlite_version})


def _restore_sqlite(connection: BaseDatabaseWrapper, snapshot: Path) -> None:
    live = _sqlite_file(connection)
    source = sqlite3.connect(snapshot)
    try:
        target = sqlite3.connect(live, timeout=30)
        try:
            if _page_size(source) != _page_size(target):
                # A database in WAL mode cannot change its page size; leaving WAL needs
                # every other connection closed (the copy brings WAL mode back).
                mode = target.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
                if str(mode).lower() != "delete":
                    raise BackupError(f"{live} is in use; stop the server and the job "
                                      "consumer, then restore again. Nothing was changed")
            source.backup(target)  # one step, inside one write transaction
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise BackupError(f"restoring the SQLite database failed: {exc}") from None
    finally:
        source.close()


def _page_size(database: sqlite3.Connection) -> int:
    return int(database.execute("PRAGMA page_size").fetchone()[0])


def _libpq_env(connection: BaseDatabaseWrapper) -> dict[str, str]:
    config = connection.settings_dict
    env = dict(os.environ)
    for key, variable in (("NAME", "PGDATABASE"), ("USER", "PGUSER"),
                          ("PASSWORD", "PGPASSWORD"), ("HOST", "PGHOST"), ("PORT", "PGPORT")):
        if config.get(key):
            env[variable] = str(config[key])
    for option, variable in _LIBPQ_OPTIONS.items():
        value = (config.get("OPTIONS") or {}).get(option)
        if value:
            env[variable] = str(value)
    env["PGAPPNAME"] = "coursewright-backup"
    return env


def _tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} is not installed; install the PostgreSQL client tools "
                          "(Debian/Ubuntu: apt-get install postgresql-client) matching the "
                          "server's major version")
    return tool


def _failure(name: str, returncode: int, stderr: str) -> BackupError:
    lines = [line for line in stderr.splitlines() if line.strip()]
    detail = lines[0] if lines else f"exit status {returncode}"
    return BackupError(f"{name} failed: {detail.removeprefix(name + ': ')}")


def _snapshot_postgres(connection: BaseDatabaseWrapper, workdir: Path) -> Snapshot:
    target = workdir / "coursewright.pgdump"
    with _private_connection(connection) as reader:
        reader.set_autocommit(False)
        with reader.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot_id, server_version = cursor.fetchone()
        tables = database_digests(reader)
        # The exporting transaction stays open until pg_dump has run: same snapshot.
        result = subprocess.run(
            [_tool("pg_dump"), "--format=custom", "--no-password",
             f"--snapshot={snapshot_id}", f"--file={target}"],
            env=_libpq_env(connection), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise _failure("pg_dump", result.returncode, result.stderr)
        reader.rollback()
    return Snapshot("postgresql", POSTGRES_MEMBER, target, tables,
                    {"server_version": str(server_version)})


def _restore_postgres(connection: BaseDatabaseWrapper, snapshot: Path) -> None:
    env = _libpq_env(connection)
    application = env["PGAPPNAME"] = f"coursewright-restore-{os.getpid()}"
    argv = [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
            "--single-transaction", "--exit-on-error", "--no-password",
            f"--dbname={env['PGDATABASE']}", str(snapshot)]
    with _private_connection(connection) as watcher, tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        holders = _watch_locks(process, watcher, application)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if holders is not None:
        raise BackupError(f"pg_restore waited {LOCK_WAIT_SECONDS:g} s for locks held by other "
                          f"connections ({holders}); stop the server and the job consumers "
                          "and try again. Nothing was changed")
    if process.returncode != 0:
        raise _failure("pg_restore", process.returncode, stderr)


def _watch_locks(process: subprocess.Popen[bytes], watcher: BaseDatabaseWrapper,
                 application: str) -> str | None:
    """Wait for ``process``. pg_restore's script turns ``lock_timeout`` off, so a server
    still holding locks would make it wait forever: when it has waited for a lock for
    ``LOCK_WAIT_SECONDS``, cancel it (its single transaction rolls back) and return who
    held the locks."""
    blocked_since: float | None = None
    while True:
        try:
            process.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            pass
        else:
            return None
        with watcher.cursor() as cursor:
            cursor.execute("SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity "
                           "WHERE application_name = %s AND wait_event_type = 'Lock'",
                           [application])
            waiting = cursor.fetchone()
            if waiting is None:
                blocked_since = None
                continue
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since < LOCK_WAIT_SECONDS:
                continue
            cursor.execute(
                "SELECT string_agg(DISTINCT coalesce(nullif(application_name, ''), "
                "'pid ' || pid), ', ') FROM pg_stat_activity WHERE pid = ANY(%s)",
                [waiting[1]])
            holders = str(cursor.fetchone()[0] or "unknown")
            cursor.execute("SELECT pg_cancel_backend(%s)", [waiting[0]])
        process.wait()
        return holders

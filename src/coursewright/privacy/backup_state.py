"""What a backup captures, measured the same way on both sides of a restore.

``database_digests`` gives each table's row count and a SHA-256 of its rows in primary-key
order. It knows nothing of our models: tables come from the connection's introspection,
and each row is rendered to text *by the database* (SQLite ``quote()``, PostgreSQL's row
output in UTC), so a snapshot, a dump restored into another server, and the live
database are all measured by the one function and compare equal exactly when every row
is the same. Text keys are ordered byte-wise (``COLLATE "C"``), never by the server's
locale, which may differ between the machine that backed up and the one that restores.

Storage is one or more directories: the default storage location and any region moved
elsewhere (``REGION_STORAGE_DIRS``). Files are named as the application names them
(``<region>/org-<id>/...``), so a restore puts each one where the current configuration
says its region lives.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

from coursewright.privacy.backup_archive import BackupError

# Tables `migrate` fills on an empty database: rows there do not make a target "in use".
BOOKKEEPING_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})
_NATIVE_ORDER = frozenset({"AutoField", "BigAutoField", "SmallAutoField", "IntegerField",
                           "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
                           "PositiveBigIntegerField", "PositiveSmallIntegerField", "UUIDField"})
_FETCH = 2000


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str


def database_digests(connection: BaseDatabaseWrapper) -> dict[str, TableDigest]:
    if connection.vendor not in {"sqlite", "postgresql"}:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {connection.vendor}")
    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        queries = {table: _row_query(connection, cursor, table) for table in tables}
    return {table: _digest(connection, *queries[table]) for table in tables}


def _row_query(connection: BaseDatabaseWrapper, cursor: Any, table: str) -> tuple[str, bool]:
    """The SQL giving one text per row, and whether it is already in a stable order."""
    quote = connection.ops.quote_name
    description = connection.introspection.get_table_description(cursor, table)
    primary_key = connection.introspection.get_primary_key_columns(cursor, table) or []
    if connection.vendor == "sqlite":
        row = " || ',' || ".join(f"quote({quote(column.name)})" for column in description)
        order = ", ".join(quote(column) for column in primary_key)
        sql = f"SELECT {row} FROM {quote(table)}"  # noqa: S608 - quoted identifiers
    else:
        types = {column.name: connection.introspection.get_field_type(column.type_code, column)
                 for column in description}
        order = ", ".join(
            quote(column) if types.get(column) in _NATIVE_ORDER
            else f'{quote(column)}::text COLLATE "C"' for column in primary_key)
        sql = f"SELECT ROW(cw_row.*)::text FROM {quote(table)} AS cw_row"  # noqa: S608
    if order:
        return f"{sql} ORDER BY {order}", True
    return sql, False


def _digest(connection: BaseDatabaseWrapper, sql: str, ordered: bool) -> TableDigest:
    digest = hashlib.sha256()
    count = 0
    unordered: list[bytes] = []
    cursor = connection.chunked_cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(_FETCH):
            for (text,) in batch:
                data = b"\x00" if text is None else b"\x01" + str(text).encode()
                count += 1
                if ordered:
                    digest.update(len(data).to_bytes(8, "big") + data)
                else:
                    unordered.append(data)
    finally:
        cursor.close()
    for data in sorted(unordered):  # a table without a primary key: order by content
        digest.update(len(data).to_bytes(8, "big") + data)
    return TableDigest(count, digest.hexdigest())


def data_in_target(connection: BaseDatabaseWrapper, roots: list[StorageRoot]) -> list[str]:
    """What a restore here would overwrite: tables with rows (beyond those `migrate` fills)
    and stored files. Empty when there is nothing to lose."""
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table in BOOKKEEPING_TABLES:
                continue
            cursor.execute(f"SELECT 1 FROM {quote(table)} LIMIT 1")  # noqa: S608
            if cursor.fetchone() is not None:
                found.append(f"table {table}")
    files = sum(1 for _ in iter_storage_files(roots))
    if files:
        found.append(f"{files} stored files")
    return found


@dataclass(frozen=True)
class StorageRoot:
    directory: Path
    prefix: str  # "" for the default location, "<region>/" for a region kept elsewhere
    skip: frozenset[str] = frozenset()  # top-level names served by another root


def storage_roots() -> list[StorageRoot]:
    default = settings.STORAGES["default"]
    if not default["BACKEND"].endswith("FileSystemStorage"):
        raise BackupError("the default storage is not a local directory; back it up with "
                          "the tools of that storage")
    base = Path(default.get("OPTIONS", {}).get("location", settings.STORAGE_DIR)).resolve()
    regions: dict[str, Path] = {
        region: Path(path).resolve()
        for region, path in getattr(settings, "REGION_STORAGE_DIRS", {}).items()}
    moved = frozenset(region for region, path in regions.items() if path != base / region)
    roots = [StorageRoot(base, "", moved)]
    roots += [StorageRoot(regions[region], f"{region}/") for region in sorted(moved)]
    return roots


def check_roots_exclude(roots: list[StorageRoot], *private: Path) -> None:
    """Refuse to run when a private directory (the keys) lies inside the storage."""
    for root in roots:
        for path in private:
            resolved = path.resolve()
            if resolved == root.directory or root.directory in resolved.parents:
                raise BackupError(f"{resolved} is inside the storage directory "
                                  f"{root.directory}; a backup would carry it. Move it out.")


def iter_storage_files(roots: list[StorageRoot]) -> Iterator[tuple[str, Path]]:
    """(name, path) of every regular file, in a stable order. Symbolic links are not
    followed: the application never makes them."""
    for root in roots:
        if not root.directory.is_dir():
            continue
        for current, dirs, files in os.walk(root.directory):
            here = Path(current)
            relative = here.relative_to(root.directory)
            if relative == Path("."):
                dirs[:] = [d for d in dirs if d not in root.skip]
            dirs.sort()
            for name in sorted(files):
                path = here / name
                if path.is_symlink() or not path.is_file():
                    continue
                yield root.prefix + (relative / name).as_posix(), path


def storage_path(roots: list[StorageRoot], name: str) -> Path:
    """Where the file called ``name`` lives under the current configuration."""
    parts = PurePosixPath(name).parts
    for root in roots[1:]:
        if parts and f"{parts[0]}/" == root.prefix:
            return root.directory.joinpath(*parts[1:])
    return roots[0].directory.joinpath(*parts)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def storage_digests(roots: list[StorageRoot]) -> dict[str, dict[str, Any]]:
    return {name: {"size": path.stat().st_size, "sha256": file_sha256(path)}
            for name, path in iter_storage_files(roots)}

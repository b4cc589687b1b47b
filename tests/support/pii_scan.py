"""Look for a learner's name or e-mail anywhere the platform stores data.

Two passes, because a leak can hide in either:

- **Raw.** Every column of every table in the database, as the database holds it (text
  compared case-insensitively; binary columns searched as bytes, both as UTF-8 and as the
  JSON ``\\uXXXX``-free form a serialiser would write). A sealed value cannot match
  here, which is why the second pass exists.
- **Decrypted.** The organisation's full export (``privacy.export``): every row of the
  organisation opened with its key, LRS statements and documents included, as one
  portable JSON archive. A name sealed under the org key would show up there.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from django.db import connection


def _raw_hits(needles: list[str]) -> list[str]:
    hits: list[str] = []
    wanted = [n.lower() for n in needles]
    wanted_bytes = [n.encode() for n in wanted]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            columns = [c.name for c in
                       connection.introspection.get_table_description(cursor, table)]
            cursor.execute(f"SELECT {', '.join(quote(c) for c in columns)} "  # noqa: S608
                           f"FROM {quote(table)}")
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, memoryview | bytes | bytearray):
                        blob = bytes(value).lower()
                        found = any(n in blob for n in wanted_bytes)
                    else:
                        text = str(value).lower()
                        found = any(n in text for n in wanted)
                    if found:
                        hits.append(f"{table}.{column}: {str(value)[:120]!r}")
    return hits


def _export_hits(org: Any, needles: list[str]) -> list[str]:
    from coursewright.audit.actor import Actor
    from coursewright.privacy.export import export_organisation

    archive = zipfile.ZipFile(io.BytesIO(export_organisation(org, actor=Actor.system())))
    hits: list[str] = []
    for name in archive.namelist():
        data = archive.read(name).lower()
        hits += [f"export {name}: {n!r}" for n in needles if n.lower().encode() in data]
    return hits


def learner_pii_hits(org: Any, needles: list[str]) -> list[str]:
    """Where any of ``needles`` (a learner's name, e-mail, LMS id) is stored; [] if
    nowhere. Run it after the launch under test has fully landed."""
    assert all(len(n) >= 4 for n in needles), "needles this short would match by chance"
    return _raw_hits(needles) + _export_hits(org, needles)

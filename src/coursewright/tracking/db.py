"""Direct PostgreSQL access for the LRS's hot paths (the statement INSERT and the
credential lookup run on every request).

A psycopg cursor with server-side parameter binding on Django's own connection (so in
the same transaction): typed arrays travel as they are instead of being spelled out as
SQL literals by Django's client-side binding. The credential lookup, whose plan never
changes, is also prepared once per connection. Django leaves psycopg's automatic
preparation off (``prepare_threshold = None``, which also refuses an explicit
``prepare=True``); its own cursors bind on the client and never prepare, so raising the
threshold affects only what runs here with ``prepare=True``. The INSERTs are not
prepared: with a generic plan PostgreSQL stopped using the unique index for the "ids
already stored" check once the table grew, and a batch took a hundred times longer.
Behind a proxy that pools by transaction and cannot keep prepared statements, set
``PREPARE = False``.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

PREPARE = True


def pg_cursor() -> Any:
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    if PREPARE and raw.prepare_threshold is None:
        raw.prepare_threshold = 1_000_000  # only what asks for it with prepare=True
    return psycopg.Cursor(raw)

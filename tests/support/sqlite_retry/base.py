"""SQLite for the tests: waits out shared-cache table locks instead of failing.

pytest-django's SQLite test database lives in memory with a shared cache, so the live
server's threads and the test's own thread are connections to one shared cache. There a
conflicting table lock is ``SQLITE_LOCKED`` ("database table is locked"), which SQLite's
busy timeout does not cover: it fails at once. A browser test that changes a row right
after closing a page (while the server still answers that page's last report) then
fails by chance. Outside the tests the database is a file in WAL mode with a busy
timeout, where this cannot happen, so only the test settings use this engine.

A statement refused for a shared-cache lock had no effect, so running it again is safe
(the transaction it belongs to is still open). It is retried for up to ten seconds.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from django.db.backends.sqlite3 import base

_PATIENCE = 10.0


def _locked(error: sqlite3.OperationalError) -> bool:
    return str(error).startswith(("database table is locked", "database schema is locked"))


class SQLiteCursorWrapper(base.SQLiteCursorWrapper):
    def _retrying(self, run: Any) -> Any:
        deadline = time.monotonic() + _PATIENCE
        pause = 0.005
        while True:
            try:
                return run()
            except sqlite3.OperationalError as error:
                if not _locked(error) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def execute(self, query: str, params: Any = None) -> Any:
        return self._retrying(lambda: super(SQLiteCursorWrapper, self).execute(query, params))

    def executemany(self, query: str, param_list: Any) -> Any:
        rows = list(param_list)
        return self._retrying(
            lambda: super(SQLiteCursorWrapper, self).executemany(query, rows))


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name: Any = None) -> Any:
        return self.connection.cursor(factory=SQLiteCursorWrapper)

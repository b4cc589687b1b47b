"""Audit test helpers: tampering with the log as someone with database access would,
and letting transactional tests' clean-up empty the (append-only) tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel

AUDIT_TABLES = ("audit_auditevent", "audit_auditcheckpoint", "audit_auditprune",
                "audit_auditchainhead")
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql",
                                   reason="the append-only triggers exist on PostgreSQL only")


def disable_triggers() -> None:
    """What the table owner can do on PostgreSQL (inside the test's transaction, so it
    is undone afterwards): the chain must catch what follows anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in AUDIT_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")


@pytest.fixture
def tamper() -> None:
    disable_triggers()


def _allow_truncate() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET coursewright.audit_allow_truncate = 'on'")


@pytest.fixture
def committing_db(transactional_db: None) -> Iterator[None]:
    """A transactional test on PostgreSQL ends with pytest-django emptying every table
    by TRUNCATE, which the audit triggers refuse unless the session allows it."""
    _allow_truncate()
    yield
    _allow_truncate()  # the connection may have been replaced meanwhile


@pytest.fixture
def cli() -> Actor:
    return Actor.system(Channel.CLI)


def raw_sql(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])

"""Rows written before the audit log was a hash chain are chained by the migration,
their content sealed under their organisation's key, nothing lost; and appends after
that continue the chain. Also: concurrent writers never fork it (PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.audit.verify import verify_chain

BEFORE = [("audit", "0001_initial")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.usefixtures("committing_db")
def test_existing_rows_are_chained_and_sealed() -> None:
    latest = [key for key in MigrationExecutor(connection).loader.graph.leaf_nodes()
              if key[0] == "audit"]
    old_apps = _migrate(BEFORE)
    try:
        # given rows as the old audit log stored them
        Organisation = old_apps.get_model("orgs", "Organisation")
        OldEvent = old_apps.get_model("audit", "AuditEvent")
        org = Organisation.objects.create(name="Old Co", slug="old-co", key_id=uuid.uuid4())
        rows = [
            OldEvent.objects.create(org=org, actor_kind="user", actor_label="ann@old.test",
                                    channel="web", action="course.created",
                                    object_type="course", object_id="1",
                                    before={}, after={"title": "zebra-quartz"}),
            OldEvent.objects.create(org=None, actor_kind="system", actor_label="system",
                                    channel="cli", action="account.created",
                                    object_type="user", object_id="2",
                                    before={"a": 1}, after={"b": 2}),
            OldEvent.objects.create(org=org, actor_kind="user", actor_label="ann@old.test",
                                    channel="api", action="course.renamed",
                                    object_type="course", object_id="1",
                                    before={"title": "zebra-quartz"}, after={"title": "x"}),
        ]
    finally:
        _migrate(latest)

    # then every row has its place in the chain, in the order it was written
    events = list(AuditEvent.objects.order_by("seq"))
    assert [(e.pk, e.seq) for e in events] == [(r.pk, n) for n, r in enumerate(rows, 1)]
    assert [(e.actor_label, e.before, e.after) for e in events] == [
        ("ann@old.test", {}, {"title": "zebra-quartz"}),
        ("system", {"a": 1}, {"b": 2}),
        ("ann@old.test", {"title": "zebra-quartz"}, {"title": "x"}),
    ]
    assert b"zebra-quartz" not in bytes(events[0].payload)
    assert events[0].key_id == str(org.key_id)
    assert events[1].key_id == ""
    assert verify_chain().ok, verify_chain().summary()

    # and new entries continue the chain
    event = record_event(org=None, actor=Actor.system(), action="test.after",
                         object_type="x", object_id=1)
    assert event.seq == 4
    assert event.prev_hash == events[-1].entry_hash
    assert verify_chain().ok


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="needs a database server (SQLite's test database is in memory)")
@pytest.mark.usefixtures("committing_db")
def test_concurrent_writers_never_fork_the_chain() -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                record_event(org=None, actor=Actor.system(), action="test.concurrent",
                             object_type="writer", object_id=f"{n}-{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, 41))
    assert verify_chain().ok, verify_chain().summary()

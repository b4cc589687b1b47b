"""On PostgreSQL the database refuses UPDATE, DELETE and TRUNCATE of the audit log;
only a prune behind a signed checkpoint may delete, inside its own transaction."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from coursewright.audit.checkpoints import make_checkpoint
from coursewright.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditPrune
from coursewright.audit.retention import prune_before
from coursewright.audit.verify import verify_chain
from tests.audit.conftest import on_postgresql, raw_sql
from tests.conftest import People

pytestmark = on_postgresql


@pytest.mark.parametrize("statement", [
    "UPDATE audit_auditevent SET action = 'forged' WHERE seq = 1",
    "DELETE FROM audit_auditevent WHERE seq = 1",
    "TRUNCATE audit_auditevent CASCADE",
    "UPDATE audit_auditcheckpoint SET entry_hash = 'x'",
    "DELETE FROM audit_auditcheckpoint",
    "TRUNCATE audit_auditcheckpoint CASCADE",
    "DELETE FROM audit_auditchainhead",
    "TRUNCATE audit_auditchainhead",
])
def test_raw_changes_are_refused(people: People, statement: str) -> None:
    make_checkpoint()
    with transaction.atomic():
        # test connections may allow TRUNCATE (for clean-up between tests): not here
        raw_sql("SET LOCAL coursewright.audit_allow_truncate = 'off'")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            raw_sql(statement)
    assert AuditEvent.objects.filter(seq=1).exclude(action="forged").exists()
    assert AuditCheckpoint.objects.exists()
    assert AuditChainHead.objects.exists()


def test_the_orm_is_refused_too(people: People) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(object_id="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).delete()


def test_the_prune_setting_alone_does_not_open_the_table(people: People) -> None:
    # a DELETE beyond every recorded prune is refused even with the setting on
    with transaction.atomic():
        raw_sql("SET LOCAL coursewright.audit_prune = 'on'")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            raw_sql("DELETE FROM audit_auditevent WHERE seq = 1")


def test_pruning_works_through_the_triggers_and_closes_behind_itself(people: People) -> None:
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    prune = prune_before(checkpoint)
    assert not AuditEvent.objects.filter(seq__lte=prune.last_seq).exists()
    assert verify_chain().ok
    # the setting was switched off again in this same transaction
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=prune.last_seq + 1).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditPrune.objects.all().delete()

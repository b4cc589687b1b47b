"""Learners' LRS records under the privacy rules: pseudonymisation on ingestion,
what is sealed at rest, one learner's export and deletion, and the retention purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.tracking import privacy
from coursewright.tracking.agents import learner_account
from coursewright.tracking.credentials import set_pseudonymise
from coursewright.tracking.models import Document, Statement, StatementActivity
from tests.conftest import People
from tests.tracking.conftest import Lrs, statement

pytestmark = pytest.mark.django_db

ANN = {"objectType": "Agent", "name": "Ann Example", "mbox": "mailto:ann@example.com"}


def test_pseudonymisation_replaces_direct_identifiers_and_queries_still_match(
        lrs: Lrs, people: People) -> None:
    # given Acme pseudonymises, and a third party sends Ann by mbox and name
    set_pseudonymise(people.acme, True, actor=Actor.person(people.alice))
    teacher = {"mbox": "mailto:teacher@example.com", "name": "T. Eacher"}
    statement_id = lrs.store(statement(actor=ANN, context={"instructor": teacher}))[0]
    # then what is stored names neither
    got = lrs.get("statements", {"statementId": statement_id}).json()
    assert "mbox" not in got["actor"]
    assert "name" not in got["actor"]
    assert got["actor"]["account"]["homePage"].endswith("/xapi/pseudonyms")
    assert b"ann@example.com" not in lrs.get("statements").content
    assert "name" not in got["context"]["instructor"]
    # and a query by the original mbox still finds the statement
    found = lrs.get("statements", {"agent": {"mbox": "mailto:ann@example.com"}}).json()
    assert [s["id"] for s in found["statements"]] == [statement_id]
    found = lrs.get("statements", {"agent": {"mbox": "mailto:teacher@example.com"},
                                   "related_agents": True}).json()
    assert [s["id"] for s in found["statements"]] == [statement_id]
    # and so does a document addressed by it
    where = {"activityId": "http://x.example/a", "agent": ANN, "stateId": "s"}
    lrs.put("activities/state", {"x": 1}, where)
    assert lrs.get("activities/state", where).json() == {"x": 1}


def test_without_pseudonymisation_the_statement_is_kept_as_sent(lrs: Lrs) -> None:
    statement_id = lrs.store(statement(actor=ANN))[0]
    assert lrs.get("statements", {"statementId": statement_id}).json()["actor"] == ANN


def test_statements_and_documents_are_sealed_at_rest(lrs: Lrs) -> None:
    from django.db import connection

    lrs.store(statement(actor=ANN))
    lrs.put("activities/state", {"diary": "very personal"},
            {"activityId": "http://x.example/a", "agent": ANN, "stateId": "s"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM tracking_statement")
        blobs = [bytes(row[0]) for row in cursor.fetchall()]
        cursor.execute("SELECT content FROM tracking_document")
        blobs += [bytes(row[0]) for row in cursor.fetchall()]
        cursor.execute("SELECT actor FROM tracking_statement")
        actors = [row[0] for row in cursor.fetchall()]
    assert blobs
    assert all(b"ann@example.com" not in b and b"very personal" not in b
                         for b in blobs)
    assert all(len(a) == 32 and "ann" not in a for a in actors)


def test_the_same_agent_hashes_differently_in_another_organisation(
        lrs: Lrs, globex_lrs: Lrs) -> None:
    lrs.store(statement(actor=ANN))
    globex_lrs.store(statement(actor=ANN))
    hashes = set(Statement.objects.values_list("actor", flat=True))
    assert len(hashes) == 2


def _learner_statement(pseudonym: str, **extra: Any) -> dict[str, Any]:
    return statement(actor=learner_account(pseudonym), **extra)


def test_export_and_delete_one_learner(lrs: Lrs, people: People) -> None:
    # given two learners launched through our packages (account actors named by their
    # per-license pseudonym), with statements and state
    mine, other = "a" * 64, "b" * 64
    kept = lrs.store(_learner_statement(other))[0]
    ids = lrs.store(_learner_statement(mine), _learner_statement(mine, context={
        "contextActivities": {"parent": {"id": "http://x.example/course"}}}))
    instructed = lrs.store(statement(context={"instructor": learner_account(mine)}))[0]
    lrs.put("activities/state", {"bookmark": 3}, {
        "activityId": "http://x.example/a", "agent": learner_account(mine), "stateId": "s"})
    # when the learner's records are exported
    exported = privacy.learner_export(people.acme, [mine])
    assert {row["statement"]["id"] for row in exported["xapi_statements"]} == {
        *ids, instructed}
    assert exported["xapi_documents"][0]["content"] == '{"bookmark": 3}'
    # and deleted
    counts = privacy.delete_learner_records(people.acme, [mine])
    assert counts["xapi_statements"] == 3
    assert counts["xapi_documents"] == 1
    assert str(Statement.objects.get(org=people.acme).statement_id) == kept
    assert not StatementActivity.objects.exists()
    assert not Document.objects.filter(org=people.acme).exists()


def test_retention_purges_old_statements_documents_and_attachments(
        lrs: Lrs, people: People) -> None:
    old = lrs.store(statement())[0]
    lrs.put("activities/state", {"a": 1}, {"activityId": "http://x.example/a",
                                           "agent": ANN, "stateId": "old"})
    long_ago = timezone.now() - timedelta(days=400)
    Statement.objects.filter(statement_id=old).update(stored=long_ago)
    Document.objects.update(updated=long_ago)
    new = lrs.store(statement())[0]
    purged = privacy.purge_learner_records(people.acme, timezone.now() - timedelta(days=365))
    assert purged == 2
    remaining = {str(s) for s in Statement.objects.values_list("statement_id", flat=True)}
    assert remaining == {new}


def test_org_export_holds_statements_documents_and_no_secrets(lrs: Lrs,
                                                              people: People) -> None:
    lrs.store(statement(actor=ANN))
    data = privacy.org_export(people.acme)
    assert data["xapi_statements"][0]["statement"]["actor"] == ANN
    assert data["xapi_activities"][0]["id"].startswith("http://example.adlnet.gov")
    assert "secret_hash" not in data["xapi_credentials"][0]
    assert privacy.org_export(people.globex)["xapi_statements"] == []


def test_the_batch_sealer_writes_what_privacy_crypto_opens(people: People) -> None:
    from coursewright.privacy.crypto import DecryptionFailed, unseal
    from coursewright.tracking.statements import Sealer

    key_id = str(people.acme.key_id)
    sealed = Sealer(key_id).seal(b"learner record", "tracking_statement.data:x")
    assert unseal(key_id, sealed, where="tracking_statement.data:x") == b"learner record"
    with pytest.raises(DecryptionFailed):
        unseal(key_id, sealed, where="tracking_statement.data:y")
    with pytest.raises(DecryptionFailed):
        unseal(str(people.globex.key_id), sealed, where="tracking_statement.data:x")


def test_delete_org_records_removes_every_lrs_row_of_one_organisation(
        lrs: Lrs, globex_lrs: Lrs, people: People) -> None:
    from coursewright.tracking.models import Activity, StatementAgent

    lrs.store(statement(context={"instructor": {"mbox": "mailto:t@example.com"},
                                 "contextActivities": {"parent": {"id": "http://x.example/p"}}}))
    lrs.put("activities/state", {"a": 1}, {"activityId": "http://x.example/a",
                                           "agent": ANN, "stateId": "s"})
    kept = globex_lrs.store(statement())[0]
    counts = privacy.delete_org_records(people.acme)
    assert counts["xapi_statements"] == 1
    assert counts["xapi_statement_activities"] == 1
    assert counts["xapi_statement_agents"] == 1
    assert counts["xapi_documents"] == 1
    assert not Statement.objects.filter(org=people.acme).exists()
    assert not StatementAgent.objects.exists()
    assert not Activity.objects.filter(org=people.acme).exists()
    assert globex_lrs.get("statements", {"statementId": kept}).status_code == 200

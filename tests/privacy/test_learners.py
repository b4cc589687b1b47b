"""Deleting and exporting one anonymous learner's records, found by the id the client LMS
uses (we hold only per-license pseudonyms of it)."""

from __future__ import annotations

import io
import json
from typing import Any

from django.core.management import call_command

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.delivery import gatekeeper
from coursewright.delivery.models import (
    LaunchEvent,
    LaunchProgress,
    LaunchSession,
    LicenseLearner,
    PlayerError,
)
from coursewright.delivery.reports import record_player_error, record_progress
from coursewright.privacy.learners import delete_learner, export_learner
from tests.conftest import People, client_for
from tests.delivery.test_licenses_fixtures import deployed_course, issue
from tests.tracking.conftest import credential_for, lrs  # noqa: F401 - fixtures


def _launch(token: str, live: Any, learner: str) -> None:
    decision = gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id=learner,
                                 origin="")
    assert decision.allowed, decision
    session = gatekeeper.live_session(decision.session)
    assert session is not None
    record_progress(session, "scorm12", {"cmi.core.lesson_status": "passed",
                                         "cmi.core.score.raw": "80"})
    record_player_error(session, "lms", "LMSCommit was refused", "error code 301")


def _setup(people: People) -> dict[str, Any]:
    live = deployed_course(people.acme, people.bob)
    _first, token_a = issue(people, [live.course], name="LMS A")
    _second, token_b = issue(people, [live.course], name="LMS B")
    for token in (token_a, token_b):
        _launch(token, live, "lms-77")
        _launch(token, live, "lms-77")
    _launch(token_a, live, "lms-other")
    theirs = deployed_course(people.globex, people.mallory)
    _g, token_g = issue(people, [theirs.course], name="Globex LMS")
    _launch(token_g, theirs, "lms-77")
    return {"live": live}


def test_delete_removes_only_that_learners_rows_and_leaves_a_receipt(people: People) -> None:
    _setup(people)
    acme_events = LaunchEvent.objects.filter(org=people.acme).count()
    receipt = delete_learner(people.acme, "lms-77", actor=Actor.person(people.alice),
                             reason="GDPR request 12")
    assert receipt.counts == {"launch_events": 4, "launch_progress": 4, "player_errors": 4,
                              "launch_sessions": 4, "license_learners": 2,
                              # the LRS was checked too (tests/tracking cover its rows)
                              "xapi_statements": 0, "xapi_documents": 0,
                              "xapi_attachments": 0, "cmi5_registrations": 0}
    assert LaunchProgress.objects.filter(org=people.acme).count() == 1  # lms-other
    assert PlayerError.objects.filter(org=people.acme).count() == 1
    assert LaunchEvent.objects.filter(org=people.acme).count() == acme_events - 4
    assert LaunchEvent.objects.filter(org=people.acme).count() == 1  # lms-other
    assert LaunchSession.objects.filter(org=people.acme).count() == 1
    assert LicenseLearner.objects.filter(license__org=people.acme).count() == 1
    # Globex's learner with the same LMS id is another organisation's business.
    assert LaunchEvent.objects.filter(org=people.globex).count() == 1
    event = AuditEvent.objects.get(action="deletion.learner")
    assert event.org_id == people.acme.pk
    assert "lms-77" not in json.dumps(event.after)  # the receipt never names the learner
    assert event.after["counts"]["launch_events"] == 4


def test_export_lists_the_learners_rows(people: People) -> None:
    _setup(people)
    data = export_learner(people.acme, "lms-77", actor=Actor.person(people.alice))
    assert len(data["launch_events"]) == 4
    assert len(data["launch_sessions"]) == 4
    assert [p["completion"] for p in data["launch_progress"]] == ["completed"] * 4
    assert {p["score"] for p in data["launch_progress"]} == {0.8}
    assert [e["message"] for e in data["player_errors"]] == ["LMSCommit was refused"] * 4
    assert len(data["pseudonyms"]) == 2
    assert "lms-77" not in json.dumps(data)
    assert AuditEvent.objects.filter(action="learner.read", org=people.acme).exists()


def test_api_and_cli(people: People) -> None:
    _setup(people)
    url = "/api/v1/organisations/acme/learners/{}"
    body = json.dumps({"learner_id": "lms-77"})
    bob = client_for(people.bob).post(url.format("export"), body,
                                      content_type="application/json")
    assert bob.status_code == 403
    mallory = client_for(people.mallory).post(url.format("delete"), body,
                                              content_type="application/json")
    assert mallory.status_code == 404
    bad = client_for(people.alice).post(url.format("delete"), json.dumps({"learner_id": " "}),
                                        content_type="application/json")
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "bad_learner_id"
    exported = client_for(people.alice).post(url.format("export"), body,
                                             content_type="application/json")
    assert exported.status_code == 200
    assert len(exported.json()["launch_events"]) == 4

    out = io.StringIO()
    call_command("export", "learner", "lms-77", "--org", "acme", stdout=out)
    assert len(json.loads(out.getvalue())["launch_sessions"]) == 4
    out = io.StringIO()
    call_command("delete", "learner", "lms-77", "--org", "acme", stdout=out)
    assert json.loads(out.getvalue())["counts"]["launch_events"] == 4
    assert LaunchEvent.objects.filter(org=people.acme).count() == 1


def test_the_learners_xapi_statements_are_exported_and_deleted_by_lms_id(
        people: People, lrs: Any) -> None:  # noqa: F811 - the fixture
    from coursewright.delivery.licenses import hash_learner
    from coursewright.delivery.models import License
    from coursewright.tracking.agents import learner_account
    from coursewright.tracking.models import Statement
    from tests.tracking.conftest import statement

    _setup(people)
    accounts = [learner_account(hash_learner(lic, "lms-77"))
                for lic in License.objects.filter(org=people.acme)]
    mine = lrs.store(*[statement(actor=a) for a in accounts])
    other = lrs.store(statement(actor=learner_account(
        hash_learner(License.objects.filter(org=people.acme).first(), "lms-other"))))
    data = export_learner(people.acme, "lms-77", actor=Actor.person(people.alice))
    assert {row["statement"]["id"] for row in data["xapi_statements"]} == set(mine)
    receipt = delete_learner(people.acme, "lms-77", actor=Actor.person(people.alice))
    assert receipt.counts["xapi_statements"] == 2
    assert [str(s) for s in Statement.objects.values_list("statement_id", flat=True)] == other

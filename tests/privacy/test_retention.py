"""Retention rules per organisation and data category, applied by the purge job."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.courses import actions
from coursewright.courses.models import Course, CourseVersion
from coursewright.ingest.actions import ingest_document
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.privacy.retention import policy, purge_org, set_retention
from tests.api.test_flow import HANDBOOK
from tests.conftest import People, client_for
from tests.courses.test_actions import ai_content

LATER = timedelta(days=31)


def test_owners_set_rules_through_the_api(people: People, acme_api: Client) -> None:
    alice = client_for(people.alice)
    response = alice.put("/api/v1/organisations/acme/retention",
                         {"rules": {"drafts": 30, "uploads": 90}},
                         content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["rules"]["drafts"] == 30
    assert acme_api.get("/api/v1/organisations/acme/retention").json()["rules"]["uploads"] == 90
    assert AuditEvent.objects.filter(action="retention.changed").count() == 1


@pytest.mark.parametrize("who", ["bob", "api_key"])
def test_authors_and_keys_cannot_change_rules(people: People, who: str) -> None:
    client = client_for(people.bob) if who == "bob" else Client(
        headers={"Authorization": f"Bearer {people.acme_key}"})
    response = client.put("/api/v1/organisations/acme/retention", {"rules": {"drafts": 1}},
                          content_type="application/json")
    assert response.status_code == 403
    assert policy(people.acme)["drafts"] is None


@pytest.mark.parametrize(("rules", "code"), [({"everything": 3}, "unknown_category"),
                                             ({"drafts": 0}, "bad_days"),
                                             ({"drafts": 100000}, "bad_days")])
def test_bad_rules_are_refused(people: People, rules: dict[str, int], code: str) -> None:
    response = client_for(people.alice).put("/api/v1/organisations/acme/retention",
                                            {"rules": rules}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


@pytest.fixture
def old_data(people: People) -> dict[str, Any]:
    bob = Actor.person(people.bob)
    document = ingest_document(people.acme, filename="h.md", data=HANDBOOK, actor=bob)
    draft = actions.create_course(people.acme, content=ai_content(), actor=bob)
    approved = actions.create_course(people.acme, content=ai_content(), actor=bob)
    approved = actions.submit_for_review(approved, actor=bob)
    approved = actions.approve_version(approved, actor=Actor.person(people.rita),
                                       confirm_unsupported=True)
    return {"document": document, "draft": draft, "approved": approved}


def test_drafts_past_their_time_are_purged_and_nothing_else(people: People,
                                                            old_data: dict[str, Any]) -> None:
    set_retention(people.acme, {"drafts": 30}, actor=Actor.person(people.alice))
    assert purge_org(people.acme)["drafts"] == 0  # nothing is old enough yet

    report = purge_org(people.acme, now=timezone.now() + LATER)

    assert report["drafts"] == 1
    assert not Course.objects.filter(pk=old_data["draft"].course_id).exists()
    assert CourseVersion.objects.filter(pk=old_data["approved"].pk).exists()
    assert AuditEvent.objects.get(action="retention.purged").after["purged"] == 1


def test_uploads_and_extracted_text_are_purged(people: People, old_data: dict[str, Any],
                                               settings: Any, django_capture_on_commit_callbacks:
                                               Any) -> None:
    document = old_data["document"]
    stored = (Path(settings.STORAGES["default"]["OPTIONS"]["location"])
              / document.storage_path)
    assert stored.exists()
    set_retention(people.acme, {"uploads": 30, "extracted_text": 60},
                  actor=Actor.person(people.alice))

    with django_capture_on_commit_callbacks(execute=True):
        report = purge_org(people.acme, now=timezone.now() + LATER)

    assert report == {"extracted_text": 0, "uploads": 1}
    assert not stored.exists()
    assert Document.objects.get(pk=document.pk).storage_path == ""
    assert DocumentChunk.objects.filter(document=document).exists()  # text kept 60 days

    report = purge_org(people.acme, now=timezone.now() + timedelta(days=61))
    assert report["extracted_text"] == 1
    fresh = Document.objects.get(pk=document.pk)
    assert (fresh.markdown, fresh.outline, fresh.text_purged) == ("", [], True)
    assert not DocumentChunk.objects.filter(document=document).exists()


def test_every_category_is_purged_or_says_why_not(people: People) -> None:
    from coursewright.privacy.models import Category
    from coursewright.privacy.retention import NOT_APPLIED, PURGERS

    # a rule never silently does nothing: each category has a purge or a stated reason
    assert set(PURGERS) | set(NOT_APPLIED) == set(Category.values)
    set_retention(people.acme, {"audit_log": 365, "launch_logs": 30},
                  actor=Actor.person(people.alice))
    report = purge_org(people.acme)
    assert report["launch_logs"] == 0
    assert "hash chain" in str(report["audit_log"])


def test_launch_logs_purge_old_events_and_ended_sessions(people: People) -> None:
    from coursewright.delivery.models import LaunchEvent

    old = LaunchEvent.objects.create(org=people.acme, outcome="blocked", reason="revoked")
    LaunchEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=40))
    LaunchEvent.objects.create(org=people.acme, outcome="blocked", reason="revoked")
    theirs = LaunchEvent.objects.create(org=people.globex, outcome="blocked", reason="x")
    LaunchEvent.objects.filter(pk=theirs.pk).update(
        created_at=timezone.now() - timedelta(days=40))
    set_retention(people.acme, {"launch_logs": 30}, actor=Actor.person(people.alice))
    assert purge_org(people.acme)["launch_logs"] == 1
    assert LaunchEvent.objects.filter(org=people.acme).count() == 1
    assert LaunchEvent.objects.filter(org=people.globex).count() == 1


def test_other_organisations_are_untouched(people: People, old_data: dict[str, Any]) -> None:
    mallory = Actor.person(people.mallory)
    globex_draft = actions.create_course(people.globex, content=ai_content(), actor=mallory)
    set_retention(people.acme, {"drafts": 1}, actor=Actor.person(people.alice))
    purge_org(people.acme, now=timezone.now() + LATER)
    assert CourseVersion.objects.filter(pk=globex_draft.pk).exists()


def test_an_audit_log_rule_says_how_the_log_is_pruned(people: People) -> None:
    set_retention(people.acme, {"audit_log": 365}, actor=Actor.person(people.alice))
    assert "audit prune --older-than-days" in str(purge_org(people.acme)["audit_log"])


def test_runtime_reports_follow_their_categories(people: People) -> None:
    """Player errors are launch logs; launched attempts' progress is a learner record."""
    from coursewright.delivery import gatekeeper
    from coursewright.delivery.models import LaunchProgress, PlayerError
    from coursewright.delivery.reports import record_player_error, record_progress
    from tests.delivery.test_licenses_fixtures import deployed_course, issue

    live = deployed_course(people.acme, people.bob)
    _, token = issue(people, [live.course])
    sessions = []
    for learner in ("old", "new"):
        decision = gatekeeper.launch(token, course_uid=str(live.course.uid),
                                     learner_id=learner, origin="")
        session = gatekeeper.live_session(decision.session)
        assert session is not None
        record_progress(session, "scorm12", {"cmi.core.lesson_status": "incomplete"})
        record_player_error(session, "script", "boom")
        sessions.append(session)
    long_ago = timezone.now() - timedelta(days=40)
    LaunchProgress.objects.filter(session=sessions[0]).update(updated_at=long_ago)
    PlayerError.objects.filter(session=sessions[0]).update(created_at=long_ago)
    set_retention(people.acme, {"launch_logs": 30, "learner_records": 30},
                  actor=Actor.person(people.alice))
    report = purge_org(people.acme)
    assert report["learner_records"] == 1
    assert list(LaunchProgress.objects.values_list("session", flat=True)) == [sessions[1].pk]
    assert list(PlayerError.objects.values_list("session", flat=True)) == [sessions[1].pk]

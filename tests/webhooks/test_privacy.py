"""Webhooks under the privacy rules: a learner's export and deletion find the deliveries
about them (by the hashed id, under each license); the organisation export lists
endpoints without secrets and deliveries without payloads; deleting the organisation
removes both (and the receipt counts them); deliveries expire after 30 days, or sooner
under a shorter launch-log retention rule."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.delivery import gatekeeper
from coursewright.delivery.reports import record_progress
from coursewright.privacy.deletion import delete_organisation
from coursewright.privacy.export import export_organisation
from coursewright.privacy.learners import delete_learner, export_learner
from coursewright.privacy.retention import purge_org, set_retention
from coursewright.webhooks import delivery
from coursewright.webhooks.events import emit
from coursewright.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from coursewright.webhooks.privacy import KEEP_DAYS, expire_deliveries
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import Live, deployed_course, issue
from tests.webhooks.conftest import ALL_EVENTS, Partner, add_endpoint

pytestmark = pytest.mark.django_db

DATA = {"course": {"id": 3, "uid": "00000000-0000-4000-8000-000000000003"}}


def _complete(token: str, live: Live, learner: str) -> None:
    decision = gatekeeper.launch(token, course_uid=str(live.course.uid),
                                 learner_id=learner, origin="")
    assert decision.allowed, decision
    session = gatekeeper.live_session(decision.session)
    assert session is not None
    record_progress(session, "scorm12", {"cmi.core.lesson_status": "passed"})


def test_a_learners_deliveries_are_exported_and_deleted_by_their_lms_id(
        people: People) -> None:
    # given two licenses (two pseudonyms of the same LMS id) and another learner
    add_endpoint(people, "https://93.184.215.14/hooks")
    live = deployed_course(people.acme, people.bob)
    _, token_a = issue(people, [live.course], name="LMS A")
    _, token_b = issue(people, [live.course], name="LMS B")
    for token in (token_a, token_b):
        _complete(token, live, "lms-77")
    _complete(token_a, live, "lms-other")
    theirs = WebhookDelivery.objects.exclude(learner="").count()
    assert theirs == 6  # commenced + completed, three attempts
    # the export lists theirs, with what was sent
    data = export_learner(people.acme, "lms-77", actor=Actor.person(people.alice))
    rows = data["webhook_deliveries"]
    assert sorted(r["event"] for r in rows) == ["course.commenced", "course.commenced",
                                                "course.completed", "course.completed"]
    pseudonyms = {p["learner"] for p in data["pseudonyms"]}
    assert {r["payload"]["data"]["learner"] for r in rows} == pseudonyms
    assert "lms-77" not in json.dumps(rows)
    # the deletion removes exactly those (with their attempts), and counts them
    receipt = delete_learner(people.acme, "lms-77", actor=Actor.person(people.alice))
    assert receipt.counts["webhook_deliveries"] == 4
    left = WebhookDelivery.objects.exclude(learner="")
    assert left.count() == 2
    assert not left.filter(learner__in=pseudonyms).exists()
    # a learner with no deliveries: nothing counted (older receipts' shape)
    other = delete_learner(people.acme, "lms-nobody", actor=Actor.person(people.alice))
    assert "webhook_deliveries" not in other.counts


def test_the_organisation_export_holds_no_secret_and_no_payload(
        people: People, partner: Partner) -> None:
    _, secret = add_endpoint(people, partner.url, description="Prod")
    (sent,) = emit(people.acme, "course.completed", DATA, learner="cd" * 32)
    delivery.deliver(sent.pk)
    archive = zipfile.ZipFile(io.BytesIO(
        export_organisation(people.acme, actor=Actor.person(people.alice))))
    organisation = json.loads(archive.read("organisation.json"))
    hooks = organisation["webhooks"]
    assert [(e["url"], e["description"], e["events"], e["active"])
            for e in hooks["webhook_endpoints"]] == [(partner.url, "Prod", ALL_EVENTS, True)]
    (row,) = hooks["webhook_deliveries"]
    assert (row["event"], row["state"], row["attempts"], row["last_status"]) == (
        "course.completed", "delivered", 1, 200)
    assert "payload" not in row
    assert organisation["counts"]["webhook_endpoints"] == 1
    assert organisation["counts"]["webhook_deliveries"] == 1
    everything = b"".join(archive.read(n) for n in archive.namelist()).decode(
        errors="replace")
    assert secret not in everything
    assert "cd" * 32 not in everything  # the payload's learner hash is not in it


def test_deleting_the_organisation_removes_its_webhooks(people: People,
                                                        partner: Partner) -> None:
    add_endpoint(people, partner.url)
    (sent,) = emit(people.acme, "course.created", DATA)
    delivery.deliver(sent.pk)
    actions_globex = WebhookEndpoint.objects.create(
        org=people.globex, url="https://93.184.215.14/g", events=ALL_EVENTS,
        secret="whsec_globex")
    receipt = delete_organisation(people.acme, actor=Actor.person(people.alice),
                                  confirm="acme")
    assert (receipt.counts["webhook_endpoints"], receipt.counts["webhook_deliveries"]) == (
        1, 1)
    assert list(WebhookEndpoint.objects.all()) == [actions_globex]
    assert not WebhookDelivery.objects.exists()
    assert not WebhookAttempt.objects.exists()


def _age(days: int) -> None:
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(days=days))


def test_deliveries_expire_after_30_days(people: People) -> None:
    add_endpoint(people, "https://93.184.215.14/hooks")
    old = emit(people.acme, "course.created", DATA)[0]
    WebhookAttempt.objects.create(org=people.acme, delivery=old, number=1,
                                  signed_at=timezone.now(), status=500)
    _age(KEEP_DAYS + 1)
    recent = emit(people.acme, "course.created", DATA)[0]
    assert expire_deliveries() == {"acme": 1}
    assert list(WebhookDelivery.objects.all()) == [recent]
    assert not WebhookAttempt.objects.exists()
    (receipt,) = AuditEvent.objects.filter(action="webhook.deliveries_expired")
    assert isinstance(receipt.payload_data, dict)
    assert receipt.payload_data["after"] == {"keep_days": KEEP_DAYS, "deliveries": 1}
    assert expire_deliveries() == {}


def test_a_shorter_launch_log_rule_applies_to_deliveries(people: People) -> None:
    add_endpoint(people, "https://93.184.215.14/hooks")
    emit(people.acme, "course.created", DATA)
    _age(8)
    emit(people.acme, "course.created", DATA)
    set_retention(people.acme, {"launch_logs": 7}, actor=Actor.person(people.alice))
    report: dict[str, Any] = purge_org(people.acme)
    assert report["launch_logs"] == 1
    assert WebhookDelivery.objects.count() == 1

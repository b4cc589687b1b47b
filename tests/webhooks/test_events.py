"""Each course event is recorded once, by the action that makes it happen, with a
payload of ids only: course.created and course.published from the course actions,
course.commenced and course.completed from a launched course's progress reports. An
organisation without an endpoint pays one indexed query; nothing is recorded for a
change that rolled back, an endpoint that is off or does not subscribe, or another
organisation's endpoint."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from coursewright.audit.actor import Actor
from coursewright.courses import actions as course_actions
from coursewright.delivery.models import LaunchProgress, License
from coursewright.errors import Conflict
from coursewright.orgs.actions import create_api_key
from coursewright.webhooks import actions
from coursewright.webhooks.events import emit
from coursewright.webhooks.models import DeliveryState, WebhookDelivery
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import Live, content, deployed_course, issue
from tests.delivery.test_reports import launch, report
from tests.webhooks.conftest import ALL_EVENTS, Partner, add_endpoint, signed_by

pytestmark = pytest.mark.django_db

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
LMS_LEARNER = "lms-user-42"


def payloads(event: str) -> list[dict[str, Any]]:
    return [json.loads(d.payload) for d in
            WebhookDelivery.objects.filter(event=event).order_by("pk")]


def check_envelope(payload: dict[str, Any], event: str) -> None:
    assert set(payload) == {"id", "type", "created", "org", "data"}
    assert payload["type"] == event
    assert payload["org"] == "acme"
    assert ISO.fullmatch(payload["created"])
    uuid.UUID(payload["id"])


def no_personal_data(payload: dict[str, Any]) -> None:
    text = json.dumps(payload)
    for leak in ("@", "Alice", "Bob", "Rita", LMS_LEARNER, "Fire safety", "exits"):
        assert leak not in text, leak


# --- course.created and course.published --------------------------------------------------


def test_a_new_course_is_announced_once_with_ids_only(people: People) -> None:
    # given an endpoint that takes every event
    add_endpoint(people, "https://93.184.215.14/hooks")
    # when Bob creates a course
    version = course_actions.create_course(people.acme, content=content(),
                                           actor=Actor.person(people.bob))
    # then one delivery holds the course's and the version's ids, and who: "a member"
    (payload,) = payloads("course.created")
    check_envelope(payload, "course.created")
    assert payload["data"] == {
        "course": {"id": version.course_id, "uid": str(version.course.uid)},
        "version": {"id": version.pk, "uid": str(version.uid), "number": 1},
        "by": {"type": "member"}}
    no_personal_data(payload)
    assert WebhookDelivery.objects.get().learner == ""


def test_a_partner_user_is_named_by_the_partners_own_id(people: People) -> None:
    add_endpoint(people, "https://93.184.215.14/hooks", events=["course.created"])
    key, _ = create_api_key(people.acme, name="partner", actor=Actor.person(people.alice))
    course_actions.create_course(people.acme, content=content(),
                                 actor=Actor.embed(key, "partner-user-7", "author"))
    course_actions.create_course(people.acme, content=content(), actor=Actor.key(key))
    assert [p["data"]["by"] for p in payloads("course.created")] == [
        {"type": "embed_user", "id": "partner-user-7"}, {"type": "api_key"}]


def test_publishing_is_announced_once(people: People) -> None:
    add_endpoint(people, "https://93.184.215.14/hooks")
    version = course_actions.create_course(people.acme, content=content(),
                                           actor=Actor.person(people.bob))
    course_actions.submit_for_review(version, actor=Actor.person(people.bob))
    course_actions.approve_version(version, actor=Actor.person(people.rita),
                                   confirm_unsupported=True)
    # nothing for submitting or approving
    assert not payloads("course.published")
    published = course_actions.publish_version(version, actor=Actor.person(people.alice))
    (payload,) = payloads("course.published")
    check_envelope(payload, "course.published")
    assert payload["data"] == {
        "course": {"id": published.course_id, "uid": str(published.course.uid)},
        "version": {"id": published.pk, "uid": str(published.uid), "number": 1},
        "by": {"type": "member"}}
    # publishing again is refused, and announces nothing
    with pytest.raises(Conflict):
        course_actions.publish_version(published, actor=Actor.person(people.alice))
    assert len(payloads("course.published")) == 1


def test_a_change_that_rolls_back_announces_nothing(people: People) -> None:
    add_endpoint(people, "https://93.184.215.14/hooks")

    def create_then_fail() -> None:
        with transaction.atomic():
            course_actions.create_course(people.acme, content=content(),
                                         actor=Actor.person(people.bob))
            raise RuntimeError("the caller fails after the action")

    with pytest.raises(RuntimeError, match="fails after"):
        create_then_fail()
    assert not WebhookDelivery.objects.exists()


def test_only_active_subscribed_endpoints_of_the_organisation_get_it(people: People) -> None:
    wants, _ = add_endpoint(people, "https://93.184.215.14/a", events=["course.created"])
    add_endpoint(people, "https://93.184.215.14/b", events=["course.published"])
    off, _ = add_endpoint(people, "https://93.184.215.14/c", events=ALL_EVENTS)
    actions.update_endpoint(off, actor=Actor.person(people.alice), active=False)
    actions.create_endpoint(people.globex, url="https://93.184.215.14/globex",
                            events=ALL_EVENTS, actor=Actor.person(people.mallory))
    course_actions.create_course(people.acme, content=content(),
                                 actor=Actor.person(people.bob))
    assert list(WebhookDelivery.objects.values_list("endpoint_id", "org_id")) == [
        (wants.pk, people.acme.pk)]
    # one event, several endpoints: the same event id and body, a delivery each
    also, _ = add_endpoint(people, "https://93.184.215.14/d", events=["course.created"])
    course_actions.create_course(people.acme, content=content(),
                                 actor=Actor.person(people.bob))
    first, second = WebhookDelivery.objects.filter(endpoint__in=[wants, also]).order_by(
        "-pk")[:2]
    assert (first.event_id, first.payload) == (second.event_id, second.payload)
    assert first.uid != second.uid


def test_an_organisation_without_endpoints_pays_one_query(people: People) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert emit(people.acme, "course.created", lambda: pytest.fail("data built")) == []
    assert len(queries) == 1
    assert "webhooks_webhookendpoint" in queries[0]["sql"]
    with pytest.raises(ValueError, match="unknown webhook event"):
        emit(people.acme, "course.deleted", {})


def test_the_event_is_sent_when_the_change_commits(people: People, partner: Partner,
                                                   run_jobs: None) -> None:
    _, secret = add_endpoint(people, partner.url, events=["course.created"])
    course_actions.create_course(people.acme, content=content(),
                                 actor=Actor.person(people.bob))
    (hit,) = partner.hits
    assert signed_by(secret, hit)
    assert json.loads(hit.body) == payloads("course.created")[0]
    assert WebhookDelivery.objects.get().state == DeliveryState.DELIVERED


# --- course.commenced and course.completed ------------------------------------------------


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


@pytest.fixture
def licensed(people: People, live: Live) -> tuple[License, str]:
    return issue(people, [live.course], allowed_origins=["https://lms.example.com"])


def test_a_learner_commencing_and_completing_is_announced_once_each(
        people: People, live: Live, licensed: tuple[License, str]) -> None:
    license, token = licensed
    add_endpoint(people, "https://93.184.215.14/hooks",
                 events=["course.commenced", "course.completed"])
    session = launch(token, live, learner=LMS_LEARNER).session
    # the first report commences the course
    assert report(session, {"cmi.completion_status": "incomplete"}).status_code == 204
    (commenced,) = payloads("course.commenced")
    progress = LaunchProgress.objects.get()
    check_envelope(commenced, "course.commenced")
    ids = {"course": {"id": live.course.pk, "uid": str(live.course.uid)},
           "version": {"id": live.version.pk}, "license": {"id": license.pk},
           "learner": progress.learner}
    assert commenced["data"] == ids
    assert re.fullmatch(r"[0-9a-f]{64}", progress.learner)
    # more progress announces nothing
    assert report(session, {"cmi.progress_measure": "0.5"}).status_code == 204
    assert WebhookDelivery.objects.count() == 1
    # the report that completes it does, once
    assert report(session, {"cmi.completion_status": "completed",
                            "cmi.success_status": "passed",
                            "cmi.score.scaled": "0.9"}).status_code == 204
    assert report(session, {"cmi.completion_status": "completed"}).status_code == 204
    (completed,) = payloads("course.completed")
    progress.refresh_from_db()
    assert progress.completed_at is not None
    assert completed["data"] == {**ids, "success": "passed", "score": 0.9,
                                 "completed_at": progress.completed_at.strftime(
                                     "%Y-%m-%dT%H:%M:%SZ")}
    for payload in (commenced, completed):
        no_personal_data(payload)
    # both rows carry the hashed learner, for the learner's export and deletion
    assert set(WebhookDelivery.objects.values_list("learner", flat=True)) == {
        progress.learner}
    # a new attempt commences again
    again = launch(token, live, learner=LMS_LEARNER).session
    assert report(again, {"cmi.core.lesson_status": "passed"}, "scorm12").status_code == 204
    assert len(payloads("course.commenced")) == 2
    assert len(payloads("course.completed")) == 2


def test_progress_reports_cost_one_query_only_when_an_event_fires(
        people: People, live: Live, licensed: tuple[License, str]) -> None:
    session = launch(licensed[1], live).session

    def endpoint_lookups(values: dict[str, str]) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert report(session, values).status_code == 204
        return sum("webhooks_" in q["sql"] for q in queries)

    # no endpoint: the first report looks once, later ones not at all
    assert endpoint_lookups({"cmi.completion_status": "incomplete"}) == 1
    assert endpoint_lookups({"cmi.progress_measure": "0.3"}) == 0
    assert endpoint_lookups({"cmi.location": "s1"}) == 0
    assert endpoint_lookups({"cmi.completion_status": "completed"}) == 1
    assert endpoint_lookups({"cmi.completion_status": "completed"}) == 0
    assert not WebhookDelivery.objects.exists()

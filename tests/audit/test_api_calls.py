"""Every API call leaves exactly one audit entry: method, path, who, organisation,
status and duration; the OpenAPI document and docs page are not recorded."""

from __future__ import annotations

from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.orgs.models import ApiKey
from tests.conftest import People, client_for, key_client


def calls() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="api.call").order_by("seq"))


def test_a_key_call_is_recorded_once(people: People) -> None:
    response = key_client(people.acme_key).get("/api/v1/courses")
    assert response.status_code == 200

    [call] = calls()
    key = ApiKey.objects.get(org=people.acme)
    assert call.org_id == people.acme.pk
    assert (call.actor_kind, call.actor_api_key_id, call.channel) == ("api_key", key.pk, "api")
    assert call.actor_label == f"api-key:{key.prefix}"
    assert call.after["method"] == "GET"
    assert call.after["path"] == "/api/v1/courses"
    assert call.after["status"] == 200
    assert call.after["duration_ms"] >= 0
    assert call.key_id == str(people.acme.key_id)  # sealed under Acme's key


def test_refusals_and_errors_are_recorded_with_their_status(people: People) -> None:
    api = key_client(people.acme_key)
    api.get("/api/v1/versions/999999")
    api.put("/api/v1/courses")
    api.get("/api/v1/no-such-endpoint")
    assert [(c.after["method"], c.after["status"]) for c in calls()] == [
        ("GET", 404), ("PUT", 405), ("GET", 404)]


def test_a_person_is_recorded_with_their_organisation(people: People) -> None:
    client_for(people.mallory).get("/api/v1/me")
    [call] = calls()
    assert (call.actor_user_id, call.org_id) == (people.mallory.pk, people.globex.pk)
    assert call.actor_label == "mallory@globex.test"


def test_someone_in_several_organisations_names_one(people: People) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.actions import add_member

    add_member(people.globex, people.alice, "author", actor=Actor.system())
    alice = client_for(people.alice)
    alice.get("/api/v1/me")
    alice.get("/api/v1/courses?org=globex")
    alice.get("/api/v1/courses?org=acme")
    assert [c.org_id for c in calls()] == [None, people.globex.pk, people.acme.pk]


def test_anonymous_calls_are_recorded_without_an_organisation(people: People) -> None:
    assert Client().get("/api/v1/courses").status_code == 401
    key_client("cw_not_a_real_key").get("/api/v1/courses")
    assert [(c.actor_kind, c.org_id, c.after["status"]) for c in calls()] == [
        ("anonymous", None, 401), ("anonymous", None, 401)]
    assert "cw_not_a_real_key" not in str(calls()[1].payload_data)


def test_the_openapi_document_and_docs_are_not_recorded(people: People) -> None:
    client = Client()
    client.get("/api/v1/openapi.json")
    client.get("/api/v1/docs")
    assert calls() == []


def test_dashboard_pages_are_not_api_calls(people: People) -> None:
    client_for(people.alice).get("/o/acme/")
    assert calls() == []

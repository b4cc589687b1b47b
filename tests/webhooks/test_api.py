"""The webhooks API (/api/v1/webhooks): endpoints managed by signed-in owners and admins
only (not authors or reviewers, not API keys or embed tokens), the secret shown once,
URLs checked by the outbound guard, clear 4xx for bad input, every change audited
without the secret, deliveries listed and resent — and nothing of Acme for Mallory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.webhooks import actions
from coursewright.webhooks.events import emit
from coursewright.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from tests.conftest import People, client_for, key_client
from tests.embed.helpers import bearer, mint
from tests.webhooks.conftest import Answer, Partner, signed_by

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhooks"
ENDPOINTS = f"{BASE}/endpoints"
DELIVERIES = f"{BASE}/deliveries"
DATA = {"course": {"id": 7, "uid": "00000000-0000-4000-8000-000000000007"}}


def call(client: Client, method: str, url: str, body: Any = None) -> Any:
    return client.generic(method, url, data=json.dumps(body) if body is not None else "",
                          content_type="application/json")


def create(client: Client, url: str, **body: Any) -> Any:
    return call(client, "POST", ENDPOINTS, {"url": url, "events": ["course.created",
                                                                   "course.completed"],
                                            **body})


@pytest.fixture
def alice(people: People) -> Client:
    return client_for(people.alice)


@pytest.fixture
def made(alice: Client, partner: Partner) -> dict[str, Any]:
    response = create(alice, partner.url, description="Partner production")
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


# --- endpoints ---------------------------------------------------------------------------


def test_the_secret_is_shown_once(alice: Client, made: dict[str, Any],
                                  partner: Partner) -> None:
    secret = made["secret"]
    assert secret.startswith("whsec_")
    assert made["url"] == partner.url
    assert made["events"] == ["course.created", "course.completed"]
    assert (made["active"], made["description"]) == (True, "Partner production")
    # never again: not in the list, nor in the endpoint, nor after a change
    listed = alice.get(ENDPOINTS)
    one = alice.get(f"{ENDPOINTS}/{made['id']}")
    changed = call(alice, "PATCH", f"{ENDPOINTS}/{made['id']}", {"description": "Prod"})
    for response in (listed, one, changed):
        assert response.status_code == 200
        assert secret not in response.content.decode()
        assert "secret" not in json.dumps(response.json()).replace("secret_rotated_at", "") \
            .replace("previous_secret_valid_until", "")
    assert [e["id"] for e in listed.json()] == [made["id"]]
    assert WebhookEndpoint.objects.get().secret == secret


def test_rotation_answers_the_new_secret_once(alice: Client, made: dict[str, Any],
                                              partner: Partner, people: People) -> None:
    url = f"{ENDPOINTS}/{made['id']}/rotate-secret"
    response = call(alice, "POST", url, {"keep_previous_hours": 2})
    assert response.status_code == 200, response.content
    rotated = response.json()
    assert rotated["secret"] not in (made["secret"], "")
    assert rotated["secret_rotated_at"] is not None
    assert rotated["previous_secret_valid_until"] is not None
    # deliveries are signed with both while the grace lasts
    (pending,) = emit(people.acme, "course.created", DATA)
    from coursewright.webhooks.delivery import deliver

    assert deliver(pending.pk) == "delivered"
    assert signed_by(made["secret"], partner.hits[-1])
    assert signed_by(rotated["secret"], partner.hits[-1])
    # no body: the default grace; out of range: a clear 422
    assert call(alice, "POST", url).status_code == 200
    for hours in (-1, actions.MAX_GRACE_HOURS + 1, "soon"):
        bad = call(alice, "POST", url, {"keep_previous_hours": hours})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid"


def test_changes_and_removal(alice: Client, made: dict[str, Any]) -> None:
    url = f"{ENDPOINTS}/{made['id']}"
    response = call(alice, "PATCH", url, {"events": ["course.published"], "active": False})
    assert response.status_code == 200
    assert (response.json()["events"], response.json()["active"]) == (
        ["course.published"], False)
    assert call(alice, "PATCH", url, {"events": None}).status_code == 422
    assert call(alice, "DELETE", url).status_code == 204
    assert alice.get(url).status_code == 404
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://partner.example/"}, "url"),
    ({"url": "https://user:pw@partner.example/"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "https://partner.example/#frag"}, "url"),
    ({"url": "https://x.invalid/hooks"}, "url"),  # does not resolve
    ({"url": "https://93.184.215.14/", "events": []}, "events"),
    ({"url": "https://93.184.215.14/", "events": ["course.deleted"]}, "events"),
    ({"url": "https://93.184.215.14/", "events": "course.created"}, "events"),
    ({"url": "https://93.184.215.14/", "description": "x" * 101}, "description"),
    ({"url": "https://93.184.215.14/", "description": "two\nlines"}, "description"),
    ({"url": "https://93.184.215.14/", "secret": "mine"}, "secret"),
    ({"events": ["course.created"]}, "url"),
])
def test_bad_input_is_a_clear_422(alice: Client, body: dict[str, Any], field: str) -> None:
    response = call(alice, "POST", ENDPOINTS, {"events": ["course.created"], **body})
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["message"]
    assert field in json.dumps(error) or error["code"] in ("url_refused", "bad_events",
                                                          "bad_description")
    assert not WebhookEndpoint.objects.exists()


def test_loopback_is_refused_at_save_unless_the_operator_allows_it(
        alice: Client, partner: Partner, settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = False
    for url in (partner.url, "http://localhost:9/hooks", "http://169.254.169.254/latest",
                "http://10.0.0.8/hooks", "http://[::1]/hooks"):
        response = create(alice, url)
        assert response.status_code == 422, url
        assert response.json()["error"]["code"] == "url_refused"
        assert "not public" in response.json()["error"]["message"]
    assert not WebhookEndpoint.objects.exists()
    assert partner.hits == []


def test_an_organisation_has_at_most_five(alice: Client) -> None:
    for n in range(actions.MAX_ENDPOINTS):
        assert create(alice, f"https://93.184.215.14/{n}").status_code == 201
    response = create(alice, "https://93.184.215.14/6")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_endpoints"


def test_every_change_is_audited_without_the_secret(alice: Client, made: dict[str, Any],
                                                    people: People) -> None:
    url = f"{ENDPOINTS}/{made['id']}"
    rotated = call(alice, "POST", f"{url}/rotate-secret", {}).json()
    call(alice, "PATCH", url, {"active": False})
    assert emit(people.acme, "course.created", DATA) == []  # switched off: nothing
    call(alice, "PATCH", url, {"active": True})
    (pending,) = emit(people.acme, "course.created", DATA)
    assert call(alice, "POST", f"{DELIVERIES}/{pending.pk}/resend").status_code == 202
    call(alice, "DELETE", url)
    events = list(AuditEvent.objects.filter(object_type__in=[
        "webhook_endpoint", "webhook_delivery"]).order_by("pk"))
    assert [e.action for e in events] == [
        "webhook.created", "webhook.secret_rotated", "webhook.updated", "webhook.updated",
        "webhook.resent", "webhook.deleted"]
    payloads = [e.payload_data for e in events]
    assert all(isinstance(p, dict) and p["actor"] == "alice@acme.test" for p in payloads)
    created: Any = payloads[0]
    created = created["after"]
    # the URL without its query (it may carry a token)
    assert created["url"] == made["url"].split("?")[0] + "?…"
    text = " ".join(json.dumps(e.payload_data) for e in AuditEvent.objects.all())
    for secret in (made["secret"], rotated["secret"]):
        assert secret not in text
    assert "tenant=t1" not in text


# --- deliveries --------------------------------------------------------------------------


def test_deliveries_are_listed_filtered_and_read(alice: Client, made: dict[str, Any],
                                                 people: People, partner: Partner) -> None:
    from coursewright.webhooks.delivery import deliver

    partner.plan = [Answer(status=500, body=b"try later")]
    first = emit(people.acme, "course.created", DATA)[0]
    second = emit(people.acme, "course.completed", DATA, learner="ab" * 32)[0]
    deliver(first.pk)
    deliver(second.pk)
    page = alice.get(DELIVERIES).json()
    assert page["count"] == 2
    assert [d["id"] for d in page["items"]] == [second.pk, first.pk]  # newest first
    item = page["items"][1]
    assert (item["event"], item["state"], item["attempts"], item["last_status"]) == (
        "course.created", "pending", 1, 500)
    assert item["uid"] == str(first.uid)
    assert item["endpoint_id"] == made["id"]
    assert "payload" not in item
    for query, expected in (("?state=delivered", [second.pk]),
                            ("?event=course.created", [first.pk]),
                            (f"?endpoint_id={made['id']}&limit=1", [second.pk]),
                            ("?endpoint_id=999999", [])):
        assert [d["id"] for d in alice.get(DELIVERIES + query).json()["items"]] == expected
    for query in ("?state=lost", "?event=x", "?limit=0", "?limit=1001", "?offset=-1",
                  "?endpoint_id=abc"):
        assert alice.get(DELIVERIES + query).status_code == 422, query
    detail = alice.get(f"{DELIVERIES}/{first.pk}").json()
    assert detail["payload"]["data"] == DATA
    assert detail["payload"]["id"] == detail["event_id"]
    assert [(h["number"], h["status"], h["response"], h["manual"])
            for h in detail["history"]] == [(1, 500, "try later", False)]
    assert made["secret"] not in json.dumps(detail)


def test_a_resend_sends_again_with_a_fresh_signature(alice: Client, made: dict[str, Any],
                                                     people: People, partner: Partner,
                                                     run_jobs: None) -> None:
    partner.plan = [Answer(status=500)] * 1
    (row,) = emit(people.acme, "course.created", DATA)  # tried at once, refused
    assert WebhookDelivery.objects.get().state == DeliveryState.PENDING
    response = call(alice, "POST", f"{DELIVERIES}/{row.pk}/resend")
    assert response.status_code == 202
    assert len(partner.hits) == 2
    assert partner.hits[0].body == partner.hits[1].body
    assert signed_by(made["secret"], partner.hits[1])
    done = alice.get(f"{DELIVERIES}/{row.pk}").json()
    assert done["state"] == "delivered"
    assert [(h["number"], h["manual"]) for h in done["history"]] == [(1, False), (2, True)]
    # a switched-off endpoint is not sent to
    call(alice, "PATCH", f"{ENDPOINTS}/{made['id']}", {"active": False})
    refused = call(alice, "POST", f"{DELIVERIES}/{row.pk}/resend")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "endpoint_disabled"
    assert len(partner.hits) == 2


# --- who may -------------------------------------------------------------------------------


def _calls(made: dict[str, Any], delivery_id: int) -> list[tuple[str, str, Any]]:
    one = f"{ENDPOINTS}/{made['id']}"
    return [("GET", ENDPOINTS, None), ("POST", ENDPOINTS, {"url": "https://93.184.215.14/",
                                                           "events": ["course.created"]}),
            ("GET", one, None), ("PATCH", one, {"description": "mine now"}),
            ("POST", f"{one}/rotate-secret", {}), ("DELETE", one, None),
            ("GET", DELIVERIES, None), ("GET", f"{DELIVERIES}/{delivery_id}", None),
            ("POST", f"{DELIVERIES}/{delivery_id}/resend", None)]


def _unchanged(made: dict[str, Any], people: People) -> None:
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.pk, endpoint.description, endpoint.secret) == (
        made["id"], "Partner production", made["secret"])
    assert WebhookEndpoint.objects.filter(org=people.acme).count() == 1
    assert not AuditEvent.objects.filter(action__in=["webhook.resent",
                                                     "webhook.secret_rotated"]).exists()


def test_authors_reviewers_and_api_keys_cannot_manage_webhooks(
        made: dict[str, Any], people: People) -> None:
    (row,) = emit(people.acme, "course.created", DATA)
    token = mint(people.acme_key, scope="author")["access_token"]
    for client in (client_for(people.bob), client_for(people.rita),
                   key_client(people.acme_key)):
        for method, path, body in _calls(made, row.pk):
            response = call(client, method, path, body)
            assert response.status_code == 403, (method, path, response.status_code)
            assert made["secret"] not in response.content.decode()
    assert call(key_client(people.acme_key), "GET", ENDPOINTS).json()["error"]["code"] == (
        "person_required")
    # an embed token reaches its courses only: it does not even authenticate here
    for method, path, body in _calls(made, row.pk):
        assert call(bearer(token), method, path, body).status_code in (401, 403, 404)
    _unchanged(made, people)


def test_mallory_sees_nothing_of_acme(made: dict[str, Any], people: People) -> None:
    (row,) = emit(people.acme, "course.created", DATA)
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        for method, path, body in _calls(made, row.pk):
            if path in (ENDPOINTS, DELIVERIES):
                path += "?org=acme"
            response = call(client, method, path, body)
            assert response.status_code == 404, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "not_found"
            assert made["secret"] not in response.content.decode()
    # her own lists are empty
    mallory = client_for(people.mallory)
    assert mallory.get(ENDPOINTS).json() == []
    assert mallory.get(DELIVERIES).json() == {"items": [], "count": 0}
    _unchanged(made, people)
    assert WebhookDelivery.objects.get().attempts == 0

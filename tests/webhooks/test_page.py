"""The dashboard's webhooks page (``webhooks.views``): owners and admins add an endpoint
(its secret shown once, in that answer only, not cached), switch it off and on, rotate
its secret, remove it and resend a delivery, each change audited through the web
channel; authors and reviewers are refused (403), Mallory finds nothing (404)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent, Channel
from coursewright.webhooks.events import emit
from coursewright.webhooks.models import WebhookAttempt, WebhookEndpoint
from tests.conftest import People, client_for
from tests.webhooks.conftest import ALL_EVENTS, Partner, add_endpoint

pytestmark = pytest.mark.django_db

BASE = "/o/acme/webhooks/"


@pytest.fixture
def alice(people: People) -> Client:
    return client_for(people.alice)


def html(response: Any) -> str:
    return str(response.content.decode())


def form(url: str, events: list[str] | None = None, description: str = "") -> dict[str, Any]:
    return {"add-url": url, "add-events": events if events is not None else ALL_EVENTS,
            "add-description": description}


def test_the_settings_page_links_to_it(alice: Client) -> None:
    assert f'href="{BASE}"' in html(alice.get("/o/acme/settings/"))


def test_adding_shows_the_secret_once(alice: Client, partner: Partner) -> None:
    assert "No events are sent yet" in html(alice.get(BASE))
    response = alice.post(f"{BASE}add/", form(partner.url, ["course.completed"], "Prod"))
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in html(response)
    assert endpoint.events == ["course.completed"]
    assert endpoint.description == "Prod"
    # never again
    again = html(alice.get(BASE))
    assert endpoint.secret not in again
    assert partner.url in again
    assert AuditEvent.objects.get(action="webhook.created").channel == Channel.WEB


@pytest.mark.parametrize(("data", "message", "status"), [
    (form("ftp://partner.example/"), "Only http and https", 422),
    (form("https://user:pw@partner.example/"), "credentials", 422),
    (form("https://93.184.215.14/", events=[]), "This field is required", 422),
    (form("https://93.184.215.14/", events=["course.deleted"]), "not one of the available",
     422),
])
def test_a_refused_endpoint_says_why_on_its_field(alice: Client, data: dict[str, Any],
                                                   message: str, status: int) -> None:
    response = alice.post(f"{BASE}add/", data)
    assert response.status_code == status
    assert message in html(response)
    assert 'role="alert"' in html(response)
    assert not WebhookEndpoint.objects.exists()


def test_loopback_is_refused_when_private_targets_are_not_allowed(
        alice: Client, partner: Partner, settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = False
    response = alice.post(f"{BASE}add/", form(partner.url))
    assert response.status_code == 422
    assert "not public" in html(response)
    assert not WebhookEndpoint.objects.exists()


def test_switch_rotate_resend_remove(alice: Client, people: People, partner: Partner,
                                     run_jobs: None) -> None:
    endpoint, secret = add_endpoint(people, partner.url, description="Prod")
    one = f"{BASE}{endpoint.pk}/"
    # off and on
    assert alice.post(f"{one}disable/", follow=True).redirect_chain == [(BASE, 302)]
    assert WebhookEndpoint.objects.get().active is False
    assert "Switched off" in html(alice.get(BASE))
    alice.post(f"{one}enable/")
    assert WebhookEndpoint.objects.get().active is True
    # a new secret, shown in that answer only
    rotated = alice.post(f"{one}rotate/")
    assert rotated.status_code == 200
    assert rotated["Cache-Control"] == "no-store"
    new = WebhookEndpoint.objects.get().secret
    assert new != secret
    assert new in html(rotated)
    assert new not in html(alice.get(BASE))
    # deliveries are listed and can be resent
    (row,) = emit(people.acme, "course.created", {"course": {"id": 1}})
    page = html(alice.get(BASE))
    assert "course.created" in page
    assert "Delivered" in page
    alice.post(f"{BASE}deliveries/{row.pk}/resend/")
    assert len(partner.hits) == 2
    assert WebhookAttempt.objects.filter(delivery=row, manual=True).count() == 1
    # removed
    alice.post(f"{one}delete/")
    assert not WebhookEndpoint.objects.exists()
    assert [e.action for e in AuditEvent.objects.filter(
        object_type__in=["webhook_endpoint", "webhook_delivery"]).order_by("pk")] == [
        "webhook.created", "webhook.updated", "webhook.updated", "webhook.secret_rotated",
        "webhook.resent", "webhook.deleted"]


def test_authors_and_reviewers_are_refused_and_mallory_finds_nothing(
        people: People, partner: Partner) -> None:
    endpoint, _ = add_endpoint(people, partner.url)
    (row,) = emit(people.acme, "course.created", {"course": {"id": 1}})
    urls = [(BASE, "get"), (f"{BASE}add/", "post"), (f"{BASE}{endpoint.pk}/disable/", "post"),
            (f"{BASE}{endpoint.pk}/rotate/", "post"), (f"{BASE}{endpoint.pk}/delete/", "post"),
            (f"{BASE}deliveries/{row.pk}/resend/", "post")]
    for user, status in ((people.bob, 403), (people.rita, 403), (people.mallory, 404)):
        client = client_for(user)
        for url, method in urls:
            response = getattr(client, method)(url, form(partner.url))
            assert response.status_code == status, (user, url, response.status_code)
    # Mallory's own page with Acme's ids: not found either
    mallory = client_for(people.mallory)
    for url in (f"/o/globex/webhooks/{endpoint.pk}/delete/",
                f"/o/globex/webhooks/deliveries/{row.pk}/resend/"):
        assert mallory.post(url).status_code == 404
    assert WebhookEndpoint.objects.get().active is True
    assert partner.hits == []
    assert not AuditEvent.objects.filter(action__startswith="webhook.").exclude(
        action="webhook.created").exists()

"""The dashboard's statement forwarding page (``web.forwarding_views``): owners and admins
add a target, see how forwarding goes, pause, resume (or skip a refused statement),
send now and remove it, each change audited; credentials are never shown again;
authors and reviewers are refused (403), Mallory (Globex) finds nothing (404)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent, Channel
from coursewright.tracking import forwarding
from coursewright.tracking.models import ForwardState, ForwardTarget
from tests.conftest import People, client_for

pytestmark = pytest.mark.django_db

BASE = "/o/acme/xapi/forwarding/"
SECRET = "pw-Walrus-orbit-5521-page"
URL = "http://127.0.0.1:9/xapi/"  # never contacted here: nothing runs the forwarder


@pytest.fixture(autouse=True)
def _closed_network(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def alice(people: People) -> Client:
    return client_for(people.alice)


def html(response: Any) -> str:
    return str(response.content.decode())


def add_data(**changes: Any) -> dict[str, Any]:
    data = {"name": "Data warehouse", "url": URL, "auth": "basic", "key": "acme-fwd",
            "secret": SECRET, "token": "", "xapi_version": "1.0.3", "verbs": "",
            "start": "now"}
    return {f"add-{k}": v for k, v in {**data, **changes}.items()}


def make_target(people: People, **changes: Any) -> ForwardTarget:
    return forwarding.create_target(people.acme, name="Data warehouse", url=URL,
                                    actor=Actor.person(people.alice), **changes)


def test_the_settings_page_links_to_it(alice: Client) -> None:
    assert f'href="{BASE}"' in html(alice.get("/o/acme/settings/"))


def test_an_owner_adds_a_target_and_its_secret_is_not_shown_again(
        alice: Client, people: People) -> None:
    page = alice.get(BASE)
    assert page.status_code == 200
    assert "Nothing is forwarded yet" in html(page)
    response = alice.post(f"{BASE}add/", add_data(verbs="http://adlnet.gov/expapi/verbs/"
                                                       "completed\n\n"), follow=True)
    assert response.redirect_chain == [(BASE, 302)]
    text = html(response)
    assert "Data warehouse" in text
    assert "Forwarding" in text
    assert "HTTP Basic credentials" in text
    assert "http://adlnet.gov/expapi/verbs/completed" in text
    assert SECRET not in text
    assert "acme-fwd" not in text
    target = ForwardTarget.objects.get(org=people.acme)
    assert target.credentials == {"key": "acme-fwd", "secret": SECRET}
    assert target.verbs == ["http://adlnet.gov/expapi/verbs/completed"]
    event = AuditEvent.objects.get(action="xapi_forwarding.created")
    assert event.channel == Channel.WEB


@pytest.mark.parametrize(("changes", "message"), [
    ({"url": "ftp://lrs.example/"}, "Only http and https"),
    ({"auth": "basic", "secret": ""}, "give the secret"),
    ({"verbs": "not an iri"}, "not a verb IRI"),
])
def test_a_refusal_comes_back_on_the_form(alice: Client, changes: dict[str, Any],
                                          message: str) -> None:
    response = alice.post(f"{BASE}add/", add_data(**changes))
    assert response.status_code == 422
    assert message in html(response)
    assert 'role="alert"' in html(response)
    assert SECRET not in html(response)  # the password field is not filled in again
    assert not ForwardTarget.objects.exists()


def test_a_private_address_is_refused_unless_the_operator_allows_it(
        alice: Client, settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = False
    response = alice.post(f"{BASE}add/", add_data())
    assert response.status_code == 422
    assert "not public" in html(response)


def test_status_and_a_refused_statement_are_shown(alice: Client, people: People) -> None:
    target = make_target(people)
    refused = uuid.uuid4()
    ForwardTarget.objects.filter(pk=target.pk).update(
        delivered=42, backlog=7, state=ForwardState.REJECTED, rejected_statement_id=refused,
        last_error="the receiver refused the statement: HTTP 400")
    target.refresh_from_db()
    target.rejection_detail = "<b>actor</b> is not valid"
    target.save(update_fields=["rejection_detail"])
    text = html(alice.get(BASE))
    assert "42 statements" in text
    assert "7 statements" in text
    assert str(refused) in text
    assert "&lt;b&gt;actor&lt;/b&gt; is not valid" in text  # the receiver's text, escaped
    assert "Skip the refused statement and resume" in text
    # skipping resumes it, audited
    response = alice.post(f"{BASE}{target.pk}/skip/", follow=True)
    assert "forwards again, from the statement after the refused one" in html(response)
    target.refresh_from_db()
    assert target.state == ForwardState.ACTIVE
    assert AuditEvent.objects.filter(action="xapi_forwarding.resumed").count() == 1


def test_pause_resume_send_now_and_remove(alice: Client, people: People) -> None:
    target = make_target(people)
    one = f"{BASE}{target.pk}/"
    assert "is paused" in html(alice.post(f"{one}pause/", follow=True))
    assert ForwardTarget.objects.get(pk=target.pk).state == ForwardState.PAUSED
    # a second pause (from a page opened before) says why it did nothing
    assert "not forwarding" in html(alice.post(f"{one}pause/", follow=True))
    assert "forwards again" in html(alice.post(f"{one}resume/", follow=True))
    assert "is being tried now" in html(alice.post(f"{one}retry/", follow=True))
    assert "is removed" in html(alice.post(f"{one}delete/", follow=True))
    assert not ForwardTarget.objects.exists()
    assert alice.get(f"{one}pause/").status_code == 405
    actions = list(AuditEvent.objects.filter(object_type="xapi_forward_target")
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["xapi_forwarding.created", "xapi_forwarding.paused",
                       "xapi_forwarding.resumed", "xapi_forwarding.retried",
                       "xapi_forwarding.deleted"]


def test_no_more_than_the_cap(alice: Client, people: People) -> None:
    for n in range(forwarding.MAX_TARGETS):
        forwarding.create_target(people.acme, name=f"t{n}", url=URL,
                                 actor=Actor.person(people.alice))
    assert "at most 5 targets" in html(alice.get(BASE))
    response = alice.post(f"{BASE}add/", add_data(name="one more"))
    assert response.status_code == 409


def test_authors_and_reviewers_are_refused(people: People) -> None:
    target = make_target(people)
    for person in (people.bob, people.rita):
        client = client_for(person)
        assert client.get(BASE).status_code == 403
        assert client.post(f"{BASE}add/", add_data(name="x")).status_code == 403
        assert client.post(f"{BASE}{target.pk}/delete/").status_code == 403
    assert ForwardTarget.objects.count() == 1


def test_mallory_finds_nothing(people: People) -> None:
    target = make_target(people)
    mallory = client_for(people.mallory)
    assert mallory.get(BASE).status_code == 404
    for change in ("pause", "resume", "skip", "retry", "delete"):
        assert mallory.post(f"{BASE}{target.pk}/{change}/").status_code == 404
        assert mallory.post(f"/o/globex/xapi/forwarding/{target.pk}/{change}/"
                            ).status_code == 404
    assert ForwardTarget.objects.get(pk=target.pk).state == ForwardState.ACTIVE
    assert "Nothing is forwarded yet" in html(mallory.get("/o/globex/xapi/forwarding/"))

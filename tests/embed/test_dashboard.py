"""The dashboard's embedding page: owners and admins keep the allow-list of origins;
authors and reviewers may not, Mallory sees nothing of Acme's."""

from __future__ import annotations

from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.embed.origins import registered_origins
from tests.conftest import People, client_for

PAGE = "/o/acme/embed/"
SAVE = "/o/acme/embed/save/"


def test_an_owner_sets_the_list_and_the_audit_names_her(people: People) -> None:
    alice = client_for(people.alice)
    settings_page = alice.get("/o/acme/settings/").content.decode()
    assert 'href="/o/acme/embed/"' in settings_page
    page = alice.get(PAGE)
    assert page.status_code == 200
    assert "None yet" in page.content.decode()
    assert "/embed/v1/editor/?org=acme" in page.content.decode()
    response = alice.post(SAVE, {"origins": "https://partner.example\n\n  "
                                            "HTTP://LOCALHOST:8001  \n"})
    assert response.status_code == 302
    assert registered_origins(people.acme) == ["https://partner.example",
                                               "http://localhost:8001"]
    (event,) = AuditEvent.objects.filter(action="embed.origins_changed")
    assert event.actor_label == "alice@acme.test"
    shown = alice.get(PAGE).content.decode()
    assert "2 origins may embed your pages." in shown
    assert "<code>http://localhost:8001</code>" in shown
    assert alice.post(SAVE, {"origins": ""}).status_code == 302
    assert registered_origins(people.acme) == []


def test_a_bad_origin_is_refused_on_its_field_and_nothing_changes(people: People) -> None:
    alice = client_for(people.alice)
    alice.post(SAVE, {"origins": "https://partner.example"})
    response = alice.post(SAVE, {"origins": "https://ok.example\nhttp://evil.example"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "use https; plain http is only for localhost" in body
    assert registered_origins(people.acme) == ["https://partner.example"]


def test_authors_reviewers_mallory_and_strangers_cannot(people: People) -> None:
    for person in (people.bob, people.rita):
        client = client_for(person)
        assert client.get(PAGE).status_code == 403
        assert client.post(SAVE, {"origins": "https://evil.example"}).status_code == 403
        assert 'href="/o/acme/embed/"' not in client.get("/o/acme/settings/").content.decode()
    mallory = client_for(people.mallory)
    assert mallory.get(PAGE).status_code == 404
    assert mallory.post(SAVE, {"origins": "https://evil.example"}).status_code == 404
    anonymous = Client().post(SAVE, {"origins": "https://evil.example"})
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]
    assert registered_origins(people.acme) == []

"""The allow-list of embedding origins: strict validation, who may read and change it
(the org's API key, its owners and admins; never Mallory), audit rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.embed.models import EmbedOrigin
from coursewright.embed.origins import MAX_ORIGINS, normalise_origin, set_origins
from coursewright.errors import Invalid
from tests.conftest import People, client_for, key_client

URL = "/api/v1/embed/origins"


def put(client: Client, origins: Any, query: str = "") -> Any:
    return client.put(URL + query, data=json.dumps({"origins": origins}),
                      content_type="application/json")


@pytest.mark.parametrize(("given", "stored"), [
    ("https://app.example.com", "https://app.example.com"),
    ("HTTPS://App.Example.COM/", "https://app.example.com"),
    ("https://app.example.com:443", "https://app.example.com"),
    ("https://app.example.com:8443", "https://app.example.com:8443"),
    ("http://localhost:8001", "http://localhost:8001"),
    ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
    ("http://localhost:80", "http://localhost"),
    ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ("https://10.1.2.3", "https://10.1.2.3"),
])
def test_origins_are_stored_as_browsers_write_them(given: str, stored: str) -> None:
    assert normalise_origin(given) == stored


@pytest.mark.parametrize(("given", "why"), [
    ("http://app.example.com", "use https"),
    ("https://app.example.com/embed", "no path"),
    ("https://app.example.com?x=1", "no path"),
    ("https://app.example.com#top", "no path"),
    ("https://user@app.example.com", "no path"),
    ("https://*.example.com", "wildcards"),
    ("*", "wildcards"),
    ("ftp://app.example.com", "scheme must be https"),
    ("javascript://alert(1)", "scheme must be https"),
    ("app.example.com", "scheme://host"),
    ("https://app.example.com:0", "port must be"),
    ("https://app.example.com:70000", "port must be"),
    ("https://bücher.example", "DNS name"),
    ("https://-bad-.example", "DNS name"),
    ("https://999.1.1.1", "IPv4"),
    ("https://[::1]", "scheme://host"),
    ("null", "scheme://host"),
    ("", "a string like"),
    ("https://" + "a" * 300 + ".example", "at most 300"),
])
def test_anything_else_is_refused_with_the_rule_it_broke(given: str, why: str) -> None:
    with pytest.raises(Invalid) as refused:
        normalise_origin(given)
    assert refused.value.code == "bad_origin"
    assert why in refused.value.message


def test_the_api_key_reads_and_replaces_the_list_with_an_audit_row(people: People) -> None:
    client = key_client(people.acme_key)
    assert client.get(URL).json() == {"org": "acme", "origins": []}
    response = put(client, ["https://partner.example", "HTTPS://PARTNER.EXAMPLE:443",
                            "http://localhost:8001"])
    assert response.status_code == 200, response.content
    assert response.json() == {"org": "acme", "origins": [
        "https://partner.example", "http://localhost:8001"]}
    assert "Set-Cookie" not in response.headers
    assert put(client, ["http://localhost:8001"]).json()["origins"] == [
        "http://localhost:8001"]
    events = list(AuditEvent.objects.filter(action="embed.origins_changed").order_by("seq"))
    assert [(e.before["origins"], e.after["origins"]) for e in events] == [
        ([], ["https://partner.example", "http://localhost:8001"]),
        (["https://partner.example", "http://localhost:8001"], ["http://localhost:8001"])]
    assert events[0].actor_api_key_id is not None
    # the same list again changes nothing and writes nothing
    assert put(client, ["http://localhost:8001"]).status_code == 200
    assert AuditEvent.objects.filter(action="embed.origins_changed").count() == 2


def test_a_bad_list_is_refused_whole(people: People) -> None:
    client = key_client(people.acme_key)
    put(client, ["https://partner.example"])
    response = put(client, ["https://ok.example", "http://evil.example"])
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "bad_origin"
    assert "http://evil.example" in error["message"]
    assert client.get(URL).json()["origins"] == ["https://partner.example"]
    too_many = [f"https://p{n}.example" for n in range(MAX_ORIGINS + 1)]
    response = put(client, too_many)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_origins"
    assert put(client, "https://partner.example").status_code == 422  # not a list
    assert put(client, [42]).status_code == 422


def test_owners_manage_it_in_the_dashboard_session_but_authors_and_reviewers_cannot(
        people: People) -> None:
    alice = client_for(people.alice)
    assert put(alice, ["https://partner.example"]).status_code == 200
    for person in (people.bob, people.rita):
        client = client_for(person)
        assert client.get(URL).status_code == 403
        response = put(client, [])
        assert response.status_code == 403
    assert put(alice, [], "?org=acme").json()["origins"] == []
    assert Client().get(URL).status_code == 401


def test_mallory_neither_sees_nor_changes_acmes_list(people: People) -> None:
    set_origins(people.acme, ["https://partner.example"], actor=Actor.person(people.alice))
    mallory = client_for(people.mallory)
    assert mallory.get(URL + "?org=acme").status_code == 404
    assert put(mallory, ["https://globex.example"], "?org=acme").status_code == 404
    globex_key = key_client(people.globex_key)
    assert globex_key.get(URL + "?org=acme").status_code == 404
    # her own key and session change only Globex's list
    assert put(globex_key, ["https://globex.example"]).json() == {
        "org": "globex", "origins": ["https://globex.example"]}
    assert list(EmbedOrigin.objects.filter(org=people.acme)
                .values_list("origin", flat=True)) == ["https://partner.example"]


def test_embed_tokens_cannot_change_the_list(people: People) -> None:
    from tests.embed.helpers import bearer, mint

    token = mint(people.acme_key)["access_token"]
    assert put(bearer(token), ["https://evil.example"]).status_code == 401
    assert bearer(token).get(URL).status_code == 401

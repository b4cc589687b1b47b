"""Licenses over the API: owners and admins manage, every member reads, API keys read
(never mint), the token appears only where it is minted, and a license's launches are
listed, filtered and exported. Mallory (Globex) sees nothing of Acme's."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.delivery import gatekeeper
from coursewright.delivery.models import License
from tests.conftest import People, client_for, key_client
from tests.delivery.test_licenses_fixtures import ORIGIN, Live, deployed_course

BASE = "/api/v1/licenses"


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    return client.generic(method, url, data=json.dumps(body) if body is not None else "",
                          content_type="application/json")


def issued(people: People, live: Live, **body: Any) -> dict[str, Any]:
    response = send(client_for(people.alice), "POST", BASE,
                    {"name": "Acme LMS", "courses": [live.course.pk],
                     "allowed_origins": [ORIGIN], **body})
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


def test_an_owner_issues_a_license_and_sees_its_token_once(people: People,
                                                           live: Live) -> None:
    data = issued(people, live, max_learners=5)
    license, token = data["license"], data["token"]
    assert (license["status"], license["courses"], license["max_learners"]) == (
        "active", [live.course.pk], 5)
    assert license["allowed_origins"] == [ORIGIN]
    assert license["expired"] is False
    assert token.count(".") == 2
    # reads never carry a token
    alice = client_for(people.alice)
    for url in (BASE, f"{BASE}/{license['id']}"):
        body = alice.get(url).content.decode()
        assert token not in body
        assert '"token"' not in body
    # a fresh one is minted on request, and launches
    minted = send(alice, "POST", f"{BASE}/{license['id']}/token").json()
    assert minted["license_id"] == license["id"]
    assert minted["kid"] == license["token_kid"]
    decision = gatekeeper.launch(minted["token"], course_uid=str(live.course.uid),
                                 learner_id="u", origin=ORIGIN)
    assert decision.allowed


def test_who_may_do_what(people: People, live: Live) -> None:
    license_id = issued(people, live)["license"]["id"]
    url = f"{BASE}/{license_id}"
    body = {"name": "x", "courses": [live.course.pk]}
    readers = {"bob": client_for(people.bob), "rita": client_for(people.rita),
               "key": key_client(people.acme_key)}
    for name, client in readers.items():
        # every member (and the organisation's key) reads the licenses
        assert client.get(BASE).json()["count"] == 1, name
        assert client.get(url).status_code == 200, name
        # but does not issue, change, suspend, revoke, reinstate or mint
        for method, path, data in (("POST", BASE, body), ("PATCH", url, {"name": "y"}),
                                   ("POST", f"{url}/suspend", {}),
                                   ("POST", f"{url}/revoke", {}),
                                   ("POST", f"{url}/reinstate", {}),
                                   ("POST", f"{url}/token", None)):
            response = send(client, method, path, data)
            assert response.status_code == 403, (name, method, path, response.content)
    assert send(readers["key"], "POST", f"{url}/token").json()["error"]["code"] == (
        "person_required")
    # launch logs: owners, admins and the organisation's key
    assert readers["bob"].get(f"{url}/launches").status_code == 403
    assert readers["rita"].get(f"{url}/launches").status_code == 403
    assert readers["key"].get(f"{url}/launches").status_code == 200
    assert client_for(people.alice).get(f"{url}/launches").status_code == 200
    assert License.objects.get().name == "Acme LMS"


def test_mallory_sees_nothing_of_acme(people: People, live: Live) -> None:
    license_id = issued(people, live)["license"]["id"]
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        assert client.get(BASE).json()["count"] == 0
        assert client.get(f"{BASE}?org=acme").status_code == 404
        assert send(client, "POST", f"{BASE}?org=acme",
                    {"name": "x", "courses": [live.course.pk]}).status_code == 404
        for method, path in (("GET", ""), ("PATCH", ""), ("POST", "/revoke"),
                             ("POST", "/token"), ("GET", "/launches")):
            response = send(client, method, f"{BASE}/{license_id}{path}",
                            {} if method != "GET" else None)
            assert response.status_code == 404, (method, path)
    # Globex cannot license Acme's course either
    response = send(client_for(people.mallory), "POST", BASE,
                    {"name": "x", "courses": [live.course.pk]})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "bad_courses")
    assert License.objects.filter(org=people.globex).count() == 0


def test_changes_and_status_over_the_api(people: People, live: Live) -> None:
    alice = client_for(people.alice)
    license_id = issued(people, live, max_launches=10)["license"]["id"]
    url = f"{BASE}/{license_id}"
    changed = send(alice, "PATCH", url, {"max_launches": None, "name": "Renamed",
                                         "allowed_origins": []}).json()
    assert (changed["name"], changed["max_launches"], changed["allowed_origins"]) == (
        "Renamed", None, [])
    assert changed["courses"] == [live.course.pk]  # left out: unchanged
    nulled = send(alice, "PATCH", url, {"courses": None})
    assert (nulled.status_code, nulled.json()["error"]["code"]) == (422, "bad_courses")
    # the reason is optional
    assert send(alice, "POST", f"{url}/suspend").json()["status"] == "suspended"
    assert send(alice, "POST", f"{url}/reinstate", {"reason": "paid"}).json()["status"] == (
        "active")
    assert send(alice, "POST", f"{url}/revoke", {"reason": "ended"}).json()["status"] == (
        "revoked")
    assert send(alice, "POST", f"{url}/token").status_code == 409
    assert send(alice, "POST", f"{url}/suspend").json()["error"]["code"] == "wrong_status"
    assert alice.get(f"{BASE}?status=revoked").json()["count"] == 1
    assert alice.get(f"{BASE}?status=active").json()["count"] == 0
    again = send(alice, "POST", f"{url}/reinstate")
    assert (again.status_code, again.json()["status"]) == (200, "active")
    assert send(alice, "POST", f"{url}/reinstate").json()["error"]["code"] == "wrong_status"
    revoked = AuditEvent.objects.filter(action="license.revoked").get()
    assert revoked.after == {"status": "revoked", "reason": "ended"}


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "x", "courses": []}, "invalid"),
    ({"name": "x", "courses": [1], "max_learners": 0}, "invalid"),
    ({"name": "x", "courses": ["abc"]}, "invalid"),
    ({"name": "x", "allowed_origins": ["https://a.example/path"]}, "bad_origin"),
    ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "bad_expiry"),
    ({"name": "x", "expires_at": "2099-01-01T00:00:00"}, "bad_expiry"),
    ({"name": "", "courses": None}, "invalid"),
    ({"name": "x", "courses": None}, "invalid"),
])
def test_bad_input_is_a_clear_422(people: People, live: Live, body: dict[str, Any],
                                  code: str) -> None:
    body = {"courses": [live.course.pk], **body}
    response = send(client_for(people.alice), "POST", BASE, body)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code
    assert not License.objects.exists()


def test_launches_are_listed_filtered_and_exported(people: People, live: Live) -> None:
    data = issued(people, live, allowed_origins=[])
    license_id, token = data["license"]["id"], data["token"]
    course = str(live.course.uid)
    for learner in ("a", "b", "a"):
        assert gatekeeper.launch(token, course_uid=course, learner_id=learner,
                                 origin=ORIGIN).allowed
    gatekeeper.launch(token, course_uid="nope", learner_id="a", origin="=HYPERLINK(1)")
    alice = client_for(people.alice)
    url = f"{BASE}/{license_id}/launches"

    page = alice.get(url).json()
    assert page["count"] == 4
    assert [i["outcome"] for i in page["items"]] == ["blocked", "launched", "launched",
                                                     "launched"]
    assert page["items"][0]["reason"] == "wrong_course"
    assert alice.get(url, {"outcome": "launched"}).json()["count"] == 3
    assert alice.get(url, {"reason": "wrong_course"}).json()["count"] == 1
    assert alice.get(url, {"limit": 1, "offset": 1}).json()["items"][0]["outcome"] == (
        "launched")
    assert alice.get(url, {"since": "2999-01-01"}).json()["count"] == 0
    assert alice.get(url, {"until": "2999-01-01T00:00:00Z"}).json()["count"] == 4
    assert alice.get(url, {"course_id": live.course.pk}).json()["count"] == 3
    assert alice.get(url, {"outcome": "maybe"}).status_code == 422
    learners = {i["learner"] for i in page["items"]}
    assert len(learners) == 2
    assert "a" not in learners
    assert "b" not in learners

    exported = alice.get(url, {"format": "csv", "outcome": "blocked"})
    assert exported["Content-Type"].startswith("text/csv")
    assert "attachment" in exported["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [r["reason"] for r in rows] == ["wrong_course"]
    assert rows[0]["origin"] == "'=HYPERLINK(1)"  # never a spreadsheet formula
    as_json = json.loads(b"".join(alice.get(url, {"format": "json"}).streaming_content))
    assert [e["id"] for e in as_json] == [i["id"] for i in page["items"]]
    reads = AuditEvent.objects.filter(action="launch_events.read")
    assert reads.count() >= 3
    assert {r.after["format"] for r in reads} >= {"page", "csv", "json"}

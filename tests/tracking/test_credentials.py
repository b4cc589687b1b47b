"""LRS credentials and settings: issued, listed and revoked by owners and admins over the
API (audited), checked on every request (a revocation refuses the next one), scoped,
and confined to their organisation (and license)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.tracking.models import XapiCredential
from tests.conftest import People, client_for, key_client
from tests.tracking.conftest import Lrs, statement

pytestmark = pytest.mark.django_db

BASE = "/api/v1/xapi"


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    return client.generic(method, url, data=json.dumps(body) if body is not None else "",
                          content_type="application/json")


def issue(people: People, **body: Any) -> dict[str, Any]:
    response = send(client_for(people.alice), "POST", f"{BASE}/credentials",
                    {"name": "Acme LMS", **body})
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


def test_an_owner_issues_a_credential_that_works_at_once(people: People) -> None:
    # given Alice issues a credential
    data = issue(people, scopes=["statements/write", "statements/read"])
    # then the secret is in that answer only, and only its SHA-256 is stored
    secret, key = data["secret"], data["key"]
    assert data["endpoint"].endswith("/xapi/")
    row = XapiCredential.objects.get(key=key)
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    listed = client_for(people.alice).get(f"{BASE}/credentials").content.decode()
    assert key in listed
    assert secret not in listed
    # and it is audited
    event = AuditEvent.objects.get(action="xapi_credential.issued")
    assert event.object_id == str(row.pk)
    # and it authenticates against the LRS
    lrs = Lrs(key, secret)
    assert lrs.post("statements", statement()).status_code == 200


def test_revocation_refuses_the_very_next_request(people: People) -> None:
    data = issue(people)
    lrs = Lrs(data["key"], data["secret"])
    assert lrs.get("statements").status_code == 200
    response = send(client_for(people.alice), "POST",
                    f"{BASE}/credentials/{data['credential']['id']}/revoke")
    assert response.status_code == 200
    assert response.json()["revoked_at"]
    assert lrs.get("statements").status_code == 401
    assert AuditEvent.objects.filter(action="xapi_credential.revoked").count() == 1
    again = send(client_for(people.alice), "POST",
                 f"{BASE}/credentials/{data['credential']['id']}/revoke")
    assert again.status_code == 409


def test_only_owners_and_admins_manage_credentials(people: People) -> None:
    for client in (client_for(people.bob), client_for(people.rita)):
        assert send(client, "POST", f"{BASE}/credentials", {"name": "x"}).status_code == 403
        assert client.get(f"{BASE}/credentials").status_code == 403
    api = key_client(people.acme_key)
    response = send(api, "POST", f"{BASE}/credentials", {"name": "x"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "person_required"


def test_mallory_sees_nothing_of_acme_credentials(people: People) -> None:
    data = issue(people)
    credential_id = data["credential"]["id"]
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        for method, url in (("GET", f"{BASE}/credentials/{credential_id}"),
                            ("POST", f"{BASE}/credentials/{credential_id}/revoke"),
                            ("GET", f"{BASE}/credentials?org=acme"),
                            ("GET", f"{BASE}/settings?org=acme")):
            response = send(client, method, url)
            assert response.status_code == 404, (method, url, response.status_code)
            assert response.json()["error"]["code"] == "not_found"
        assert send(client, "POST", f"{BASE}/credentials?org=acme",
                    {"name": "x"}).status_code == 404
        assert send(client, "PUT", f"{BASE}/settings?org=acme",
                    {"pseudonymise": True}).status_code == 404
    mallory = client_for(people.mallory).get(f"{BASE}/credentials").json()
    assert mallory == []


def test_bad_scopes_and_another_orgs_license_are_refused(people: People) -> None:
    alice = client_for(people.alice)
    response = send(alice, "POST", f"{BASE}/credentials", {"name": "x", "scopes": ["god"]})
    assert response.status_code == 422
    from coursewright.audit.actor import Actor
    from coursewright.delivery.licenses import issue_license
    from tests.delivery.test_licenses_fixtures import deployed_course

    live = deployed_course(people.globex, people.mallory)
    license, _ = issue_license(people.globex, name="Globex LMS", courses=[live.course],
                               actor=Actor.person(people.mallory))
    response = send(alice, "POST", f"{BASE}/credentials", {"name": "x",
                                                           "license_id": license.pk})
    assert response.status_code == 422


def test_settings_switch_pseudonymisation_audited(people: People) -> None:
    alice = client_for(people.alice)
    assert alice.get(f"{BASE}/settings").json() == {"pseudonymise": False}
    assert send(alice, "PUT", f"{BASE}/settings", {"pseudonymise": True}).json() == {
        "pseudonymise": True}
    event = AuditEvent.objects.get(action="xapi_settings.changed")
    assert event.object_type == "xapi_settings"


# --- scopes and isolation on the LRS -------------------------------------------------------


def test_globex_sees_nothing_of_acme(lrs: Lrs, globex_lrs: Lrs) -> None:
    # given Acme stores a statement and a document
    statement_id = lrs.store(statement())[0]
    where = {"activityId": "http://x.example/a", "agent": {"mbox": "mailto:a@b.c"},
             "stateId": "s"}
    lrs.put("activities/state", {"secret": 1}, where)
    lrs.store(statement(object={"id": "http://x.example/defined",
                                "definition": {"name": {"en": "Acme secret"}}}))
    # then Globex finds none of it, by id, by listing or by parameters
    assert globex_lrs.get("statements", {"statementId": statement_id}).status_code == 404
    assert globex_lrs.get("statements").json()["statements"] == []
    assert globex_lrs.get("activities/state", where).status_code == 404
    assert globex_lrs.get("activities/state", {k: v for k, v in where.items()
                                               if k != "stateId"}).json() == []
    assert "definition" not in globex_lrs.get(
        "activities", {"activityId": "http://x.example/defined"}).json()
    # and the same statement id is Globex's own to use
    assert globex_lrs.put("statements", statement(), {"statementId": statement_id}
                          ).status_code == 204
    assert lrs.get("statements", {"statementId": statement_id}).json()["actor"]


def test_scopes(credential_for: Any) -> None:
    writer = credential_for(scopes=["statements/write"])
    mine = credential_for(scopes=["statements/write", "statements/read/mine"])
    reader = credential_for(scopes=["statements/read"])
    everything = credential_for(scopes=["all/read"])
    written = writer.store(statement())[0]
    own = mine.store(statement())[0]
    assert writer.get("statements").status_code == 403
    assert [s["id"] for s in mine.get("statements").json()["statements"]] == [own]
    assert mine.get("statements", {"statementId": written}).status_code == 404
    assert {s["id"] for s in reader.get("statements").json()["statements"]} == {written, own}
    assert len(everything.get("statements").json()["statements"]) == 2
    assert reader.post("statements", statement()).status_code == 403
    assert everything.post("statements", statement()).status_code == 403


def test_a_license_credential_reads_only_its_license(people: People,
                                                     credential_for: Any) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.delivery.licenses import issue_license
    from tests.delivery.test_licenses_fixtures import deployed_course

    live = deployed_course(people.acme, people.bob)
    lms_a, _ = issue_license(people.acme, name="LMS A", courses=[live.course],
                             actor=Actor.person(people.alice))
    lms_b, _ = issue_license(people.acme, name="LMS B", courses=[live.course],
                             actor=Actor.person(people.alice))
    a = credential_for(license=lms_a, scopes=["all"])
    b = credential_for(license=lms_b, scopes=["all"])
    org = credential_for(scopes=["all"])
    from_a = a.store(statement())[0]
    from_b = b.store(statement())[0]
    assert [s["id"] for s in a.get("statements").json()["statements"]] == [from_a]
    assert b.get("statements", {"statementId": from_a}).status_code == 404
    assert {s["id"] for s in org.get("statements").json()["statements"]} == {from_a, from_b}
    where = {"activityId": "http://x.example/a", "agent": {"mbox": "mailto:a@b.c"},
             "stateId": "s"}
    a.put("activities/state", {"from": "a"}, where)
    assert b.get("activities/state", where).status_code == 404
    assert org.get("activities/state", where).status_code == 404


def test_the_statement_post_hot_path_query_count(lrs: Lrs, django_assert_max_num_queries: Any
                                           ) -> None:
    # the statement POST hot path: credential, one INSERT (PostgreSQL: one statement
    # for all rows; SQLite: a check and one INSERT per table), no audit, no cache
    lrs.store(statement())  # first use records last_used_at
    body = statement(id="7c9a1c2e-0000-4000-8000-000000000001")
    body["object"].pop("definition")
    from django.db import connection

    limit = 4 if connection.vendor == "postgresql" else 6
    with django_assert_max_num_queries(limit):
        assert lrs.post("statements", body).status_code == 200


def test_malformed_basic_credentials(lrs: Lrs) -> None:
    for value in ("Basic " + base64.b64encode(b"no-colon").decode(),
                  "Basic " + base64.b64encode(f"{lrs.key}:".encode()).decode(),
                  "Basic " + base64.b64encode(b"\xff\xfe:x").decode()):
        response = lrs.get("statements", auth=False, headers={"Authorization": value})
        assert response.status_code == 401

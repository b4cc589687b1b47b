"""LTI registrations over the API: who may do what, audit rows, and Mallory sees nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coursewright.audit.models import AuditEvent
from coursewright.lti.models import PlatformRegistration
from tests.conftest import People, client_for, key_client
from tests.delivery.test_licenses_fixtures import deployed_course, issue

pytestmark = pytest.mark.django_db

URL = "/api/v1/lti/registrations"


def body(license_id: int, **changes: Any) -> dict[str, Any]:
    return {"name": "Acme Moodle", "issuer": "https://moodle.acme.example",
            "client_id": "abc123", "deployment_ids": ["1"],
            "jwks_url": "https://moodle.acme.example/mod/lti/certs.php",
            "auth_url": "https://moodle.acme.example/mod/lti/auth.php",
            "token_url": "https://moodle.acme.example/mod/lti/token.php",
            "license_id": license_id, **changes}


def post(client: Any, data: dict[str, Any], url: str = URL) -> Any:
    return client.post(url, json.dumps(data), content_type="application/json")


@pytest.fixture
def acme_license(people: People) -> Any:
    live = deployed_course(people.acme, people.bob)
    return issue(people, [live.course])[0]


def test_an_owner_registers_changes_and_removes_a_platform(people: People,
                                                           acme_license: Any) -> None:
    alice = client_for(people.alice)
    response = post(alice, body(acme_license.pk))
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["tool"]["login_url"].endswith(f"/lti/r/{created['uid']}/login")
    assert created["tool"]["jwks_url"].endswith("/lti/jwks.json")
    assert AuditEvent.objects.filter(action="lti.registration_created").count() == 1
    # changed
    response = alice.patch(f"{URL}/{created['id']}", json.dumps(
        {"deployment_ids": ["1", "2"], "active": False}), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["deployment_ids"] == ["1", "2"]
    assert not response.json()["active"]
    event = AuditEvent.objects.get(action="lti.registration_updated")
    assert event.after == {"active": False, "deployment_ids": ["1", "2"]}
    # listed, read by a member and by the API key
    for client in (client_for(people.bob), key_client(people.acme_key)):
        assert client.get(URL).json()["count"] == 1
        assert client.get(f"{URL}/{created['id']}").status_code == 200
    # removed
    assert alice.delete(f"{URL}/{created['id']}").status_code == 204
    assert not PlatformRegistration.objects.exists()
    assert AuditEvent.objects.filter(action="lti.registration_deleted").count() == 1


def test_authors_and_api_keys_cannot_register(people: People, acme_license: Any) -> None:
    assert post(client_for(people.bob), body(acme_license.pk)).status_code == 403
    response = post(key_client(people.acme_key), body(acme_license.pk))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "person_required"
    assert not PlatformRegistration.objects.exists()


@pytest.mark.parametrize(("change", "code"), [
    ({"jwks_url": "ftp://x.example/keys"}, "bad_jwks_url"),
    ({"auth_url": "https://user:pw@x.example/auth"}, "bad_auth_url"),
    ({"token_url": "not a url"}, "bad_token_url"),
    ({"deployment_ids": [""]}, "bad_deployment_id"),
    ({"issuer": "  "}, "bad_issuer"),
    ({"license_id": 999999}, "bad_license"),
])
def test_bad_input_is_a_clear_422(people: People, acme_license: Any,
                                  change: dict[str, Any], code: str) -> None:
    response = post(client_for(people.alice), {**body(acme_license.pk), **change})
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code


def test_the_same_issuer_and_client_twice_is_a_409(people: People, acme_license: Any) -> None:
    alice = client_for(people.alice)
    assert post(alice, body(acme_license.pk)).status_code == 201
    response = post(alice, body(acme_license.pk))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_registration"


def test_mallory_sees_nothing_of_acmes_registrations(people: People,
                                                     acme_license: Any) -> None:
    created = post(client_for(people.alice), body(acme_license.pk)).json()
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        assert client.get(URL).json()["count"] == 0
        assert client.get(f"{URL}?org=acme").status_code == 404
        for method in ("get", "patch", "delete"):
            response = getattr(client, method)(f"{URL}/{created['id']}",
                                               *([json.dumps({"name": "x"})]
                                                 if method == "patch" else []),
                                               content_type="application/json")
            assert response.status_code == 404, (method, response.content)
        assert post(client, body(acme_license.pk), f"{URL}?org=acme").status_code == 404
    # and Globex cannot tie its registration to Acme's license
    response = post(client_for(people.mallory), body(acme_license.pk))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_license"
    assert PlatformRegistration.objects.count() == 1

"""The dashboard's LTI page: owners register platforms and see the URLs to enter;
authors and reviewers are refused; Mallory finds nothing."""

from __future__ import annotations

from typing import Any

import pytest

from coursewright.audit.models import AuditEvent
from coursewright.lti.models import PlatformRegistration
from tests.conftest import People, client_for
from tests.delivery.test_licenses_fixtures import deployed_course, issue

pytestmark = pytest.mark.django_db

BASE = "/o/acme/lti/"


def form(license_id: int, **changes: str) -> dict[str, Any]:
    return {"add-name": "Moodle", "add-issuer": "https://moodle.acme.example",
            "add-client_id": "c-1", "add-deployment_ids": "1, 2",
            "add-jwks_url": "https://moodle.acme.example/mod/lti/certs.php",
            "add-auth_url": "https://moodle.acme.example/mod/lti/auth.php",
            "add-token_url": "https://moodle.acme.example/mod/lti/token.php",
            "add-license": str(license_id), **changes}


@pytest.fixture
def license_id(people: People) -> int:
    return issue(people, [deployed_course(people.acme, people.bob).course])[0].pk


def test_an_owner_registers_a_platform_and_sees_the_urls(people: People,
                                                         license_id: int) -> None:
    alice = client_for(people.alice)
    assert 'href="/o/acme/lti/"' in alice.get("/o/acme/settings/").content.decode()
    response = alice.post(f"{BASE}add/", form(license_id))
    assert response.status_code == 302
    reg = PlatformRegistration.objects.get()
    assert reg.deployment_ids == ["1", "2"]
    assert reg.license_id == license_id
    page = alice.get(BASE).content.decode()
    assert f"/lti/r/{reg.uid}/login" in page
    assert f"/lti/r/{reg.uid}/launch" in page
    assert "/lti/jwks.json" in page
    # switched off, then removed, each with its audit row
    assert alice.post(f"{BASE}{reg.pk}/disable/").status_code == 302
    assert PlatformRegistration.objects.get().active is False
    assert alice.post(f"{BASE}{reg.pk}/delete/").status_code == 302
    assert not PlatformRegistration.objects.exists()
    assert set(AuditEvent.objects.filter(object_type="lti_registration")
               .values_list("action", flat=True)) == {
        "lti.registration_created", "lti.registration_updated", "lti.registration_deleted"}


def test_a_refusal_says_why_on_its_field(people: People, license_id: int) -> None:
    response = client_for(people.alice).post(
        f"{BASE}add/", form(license_id, **{"add-jwks_url": "ftp://x.example/k"}))
    assert response.status_code == 422
    assert "Only http and https URLs can be used." in response.content.decode()
    assert not PlatformRegistration.objects.exists()


def test_authors_and_reviewers_are_refused_and_mallory_finds_nothing(
        people: People, license_id: int) -> None:
    assert client_for(people.alice).post(f"{BASE}add/", form(license_id)).status_code == 302
    reg = PlatformRegistration.objects.get()
    urls = [(BASE, "get"), (f"{BASE}add/", "post"), (f"{BASE}{reg.pk}/disable/", "post"),
            (f"{BASE}{reg.pk}/delete/", "post")]
    for user, status in ((people.bob, 403), (people.rita, 403), (people.mallory, 404)):
        client = client_for(user)
        for url, method in urls:
            response = getattr(client, method)(url, form(license_id))
            assert response.status_code == status, (user, url, response.status_code)
    mallory = client_for(people.mallory)
    for change in ("disable", "delete"):
        assert mallory.post(f"/o/globex/lti/{reg.pk}/{change}/").status_code == 404
    # nor can Mallory tie a registration to Acme's license from her own page
    response = mallory.post("/o/globex/lti/add/", form(license_id))
    assert response.status_code == 422
    assert PlatformRegistration.objects.get().active is True
    assert PlatformRegistration.objects.count() == 1

"""The dashboard's license pages (``web.license_views``): owners and admins issue, change,
suspend, revoke and reinstate licenses, mint tokens and download dispatch packages;
authors and reviewers are refused (403), Mallory (Globex) finds nothing (404). The token
is shown once, in the answer to the POST that minted it, and never cached."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent, Channel
from coursewright.delivery import gatekeeper
from coursewright.delivery.models import License, LicenseStatus
from coursewright.orgs.actions import add_member
from tests.conftest import PASSWORD, People, client_for
from tests.delivery.test_licenses_fixtures import (
    ORIGIN,
    Live,
    course_of,
    deployed_course,
    issue,
)
from tests.delivery.test_logs_fixtures import EVIL_ORIGIN

BASE = "/o/acme/licenses/"


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


@pytest.fixture
def alice(people: People) -> Client:
    return client_for(people.alice)


def html(response: Any) -> str:
    return str(response.content.decode())


def token_in(page: str) -> str:
    found = re.search(r'<textarea id="license-token"[^>]*>([^<]+)</textarea>', page)
    assert found, "no token on the page"
    return found.group(1).strip()


def issue_data(live: Live, **changes: Any) -> dict[str, Any]:
    data = {"issue-name": "Northwind Moodle", "issue-courses": [str(live.course.pk)],
            "issue-expires_on": "", "issue-allowed_origins": f"{ORIGIN}\n",
            "issue-max_learners": "", "issue-max_launches": ""}
    return {**data, **{f"issue-{k}": v for k, v in changes.items()}}


def edit_data(license: License, **changes: Any) -> dict[str, Any]:
    data = {"edit-name": license.name,
            "edit-courses": [str(c.pk) for c in license.courses.all()],
            "edit-expires_on": (license.expires_at.astimezone(UTC).date().isoformat()
                                if license.expires_at else ""),
            "edit-allowed_origins": "\n".join(license.allowed_origins),
            "edit-max_learners": license.max_learners or "",
            "edit-max_launches": license.max_launches or ""}
    return {**data, **{f"edit-{k}": v for k, v in changes.items()}}


def launch(token: str, live: Live, learner: str = "learner-1",
           origin: str = ORIGIN) -> gatekeeper.LaunchDecision:
    return gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id=learner,
                             origin=origin)


def license_urls(license: License) -> list[str]:
    one = f"{BASE}{license.pk}/"
    return [BASE, f"{BASE}issue/", one, f"{one}edit/", f"{one}suspend/", f"{one}revoke/",
            f"{one}reinstate/", f"{one}token/", f"{one}dispatch/"]


# --- who -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_authors_and_reviewers_are_refused(people: People, live: Live, name: str) -> None:
    license, _ = issue(people, [live.course])
    client = client_for(getattr(people, name))
    for url in license_urls(license):
        statuses = {getattr(client, method)(url).status_code for method in ("get", "post")}
        assert statuses in ({403}, {403, 405}), (url, statuses)  # 405: the other method
    assert client.get(BASE).status_code == 403
    assert client.post(f"{BASE}issue/", issue_data(live)).status_code == 403
    assert License.objects.count() == 1
    # and the navigation does not offer the page
    assert 'href="/o/acme/licenses/"' not in html(client.get("/o/acme/"))


def test_owners_and_admins_are_let_in(people: People, live: Live) -> None:
    from coursewright.accounts.models import User

    adam = User.objects.create_user("adam@acme.test", PASSWORD)
    add_member(people.acme, adam, "admin", actor=Actor.system(Channel.CLI))
    for user in (people.alice, adam):
        client = client_for(user)
        assert client.get(BASE).status_code == 200
        assert 'href="/o/acme/licenses/"' in html(client.get("/o/acme/"))


def test_mallory_finds_nothing(people: People, live: Live) -> None:
    license, _ = issue(people, [live.course])
    mallory = client_for(people.mallory)
    for url in license_urls(license)[2:]:
        for method in ("get", "post"):
            assert getattr(mallory, method)(url).status_code == 404, (method, url)
        # not under her own organisation's slug either
        globex_url = url.replace("/o/acme/", "/o/globex/")
        assert mallory.get(globex_url).status_code in (404, 405), globex_url
    assert mallory.post(f"{BASE}issue/", issue_data(live)).status_code == 404
    # Globex's license page lists only Globex's licenses, and cannot license Acme's course
    assert "Client LMS" not in html(mallory.get("/o/globex/licenses/"))
    response = mallory.post("/o/globex/licenses/issue/", issue_data(live))
    assert response.status_code == 422
    assert License.objects.filter(org=people.globex).count() == 0


# --- issuing ---------------------------------------------------------------------------


def test_issuing_makes_one_license_and_shows_its_token_once(people: People, live: Live,
                                                            alice: Client) -> None:
    # given Acme's owner on the licenses page
    page = html(alice.get(BASE))
    assert "No licenses yet" in page
    assert "Fire safety" in page

    # when she issues a license for one course
    response = alice.post(f"{BASE}issue/", issue_data(
        live, max_learners="25", max_launches="500", expires_on="2099-12-31",
        allowed_origins=f"  HTTPS://LMS.example.com:443/ \n\n{ORIGIN}\nhttp://lms.example.com:8080"))

    # then exactly one license and one audit row exist, with what the form said
    assert response.status_code == 201
    license = License.objects.get()
    assert (license.name, license.max_learners, license.max_launches) == (
        "Northwind Moodle", 25, 500)
    assert license.allowed_origins == [ORIGIN, "http://lms.example.com:8080"]
    assert license.expires_at == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert list(license.courses.all()) == [live.course]
    assert AuditEvent.objects.filter(action="license.issued").count() == 1
    assert AuditEvent.objects.filter(object_type="license", action__startswith="license."
                                     ).count() == 1

    # and the answer carries the token, uncached, and no redirect or link holds it
    assert response["Cache-Control"] == "no-store"
    assert "Location" not in response
    token = token_in(html(response))
    assert token.count(".") == 2
    assert f"?{token}" not in html(response)
    assert launch(token, live).allowed

    # it is never shown again
    for url in (BASE, f"{BASE}{license.pk}/"):
        assert token not in html(alice.get(url))
    listing = html(alice.get(BASE))
    assert "Northwind Moodle" in listing
    assert "1 / 25" in listing  # the launch above: one learner, one launch
    assert "1 / 500" in listing


@pytest.mark.parametrize(("changes", "message"), [
    ({"allowed_origins": f"{ORIGIN}\nhttps://lms.example.com/path"}, "Line 2:"),
    ({"allowed_origins": "lms.example.com"}, "is not an origin"),
    ({"courses": []}, "Choose at least one course."),
    ({"courses": ["999999"]}, "Select a valid choice."),
    ({"name": ""}, "This field is required."),
    ({"name": "x" * 201}, "at most 200 characters"),
    ({"expires_on": "2001-01-01"}, "expires_at must be in the future"),
    ({"expires_on": "tomorrow"}, "Enter a valid date."),
    ({"max_learners": "0"}, "greater than or equal to 1"),
    ({"max_launches": "-5"}, "greater than or equal to 1"),
    ({"max_launches": "ten"}, "Enter a whole number."),
])
def test_bad_input_is_refused_on_the_form(people: People, live: Live, alice: Client,
                                          changes: dict[str, Any], message: str) -> None:
    response = alice.post(f"{BASE}issue/", issue_data(live, **changes))
    assert response.status_code == 422
    page = html(response)
    assert "Please correct the following" in page
    assert message in page
    assert not License.objects.exists()
    assert not AuditEvent.objects.filter(action="license.issued").exists()


def test_another_orgs_course_cannot_be_licensed(people: People, live: Live,
                                                alice: Client) -> None:
    globex = course_of(people.globex, people.mallory, "Globex onboarding")
    response = alice.post(f"{BASE}issue/", issue_data(
        live, courses=[str(live.course.pk), str(globex.course_id)]))
    assert response.status_code == 422
    assert "Globex onboarding" not in html(response)
    assert not License.objects.exists()


def test_courses_not_in_production_are_marked(people: People, live: Live,
                                              alice: Client) -> None:
    course_of(people.acme, people.bob, "Draft-only course")
    page = html(alice.get(BASE))
    assert "Draft-only course (not in production yet)" in page
    assert "Fire safety (not in production yet)" not in page


# --- changing --------------------------------------------------------------------------


def test_editing_a_license(people: People, live: Live, alice: Client) -> None:
    second = deployed_course(people.acme, people.bob, "First aid")
    license, token = issue(people, [live.course], allowed_origins=[ORIGIN],
                           expires_at=timezone.now() + timedelta(days=30))
    exact_expiry = license.expires_at
    url = f"{BASE}{license.pk}/"
    page = html(alice.get(url))
    assert '<textarea name="edit-allowed_origins"' in page
    assert ORIGIN in page

    # when the owner lowers the launch cap, adds a course and an origin (same expiry day)
    response = alice.post(f"{url}edit/", edit_data(
        license, max_launches="1", courses=[str(live.course.pk), str(second.course.pk)],
        allowed_origins=f"{ORIGIN}\nhttps://second.example"))
    assert response.status_code == 302
    license.refresh_from_db()
    assert license.max_launches == 1
    assert license.allowed_origins == [ORIGIN, "https://second.example"]
    assert {c.pk for c in license.courses.all()} == {live.course.pk, second.course.pk}
    assert license.expires_at == exact_expiry  # the day did not change: the time stays
    updated = AuditEvent.objects.get(action="license.updated")
    assert sorted(updated.after) == ["allowed_origins", "courses", "max_launches"]

    # then the next launches follow the new settings
    assert launch(token, live).allowed
    assert launch(token, live, "learner-2").reason == "launch_cap"

    # saving without changes writes no audit row
    assert alice.post(f"{url}edit/", edit_data(license)).status_code == 302
    assert AuditEvent.objects.filter(action="license.updated").count() == 1

    # removing the expiry and a bad origin
    assert alice.post(f"{url}edit/", edit_data(license, expires_on="")).status_code == 302
    license.refresh_from_db()
    assert license.expires_at is None
    refused = alice.post(f"{url}edit/", edit_data(license, allowed_origins="ftp://x"))
    assert refused.status_code == 422
    assert "Line 1:" in html(refused)


def test_revoking_through_the_page_refuses_the_next_launch(people: People, live: Live,
                                                           alice: Client) -> None:
    license, token = issue(people, [live.course], allowed_origins=[ORIGIN])
    assert launch(token, live).allowed
    url = f"{BASE}{license.pk}/"

    # the confirmation page says what happens, and that revoking can be undone
    confirm = html(alice.get(f"{url}revoke/"))
    assert "Revoke the license “Client LMS”?" in confirm
    assert "can be reinstated later" in confirm
    assert License.objects.get().status == LicenseStatus.ACTIVE  # a GET changes nothing

    response = alice.post(f"{url}revoke/", {"reason": "Contract ended", "seen": "active"})
    assert response.status_code == 302
    assert License.objects.get().status == LicenseStatus.REVOKED
    decision = launch(token, live)
    assert (decision.allowed, decision.reason) == (False, "revoked")
    revoked = AuditEvent.objects.get(action="license.revoked")
    assert revoked.after == {"status": "revoked", "reason": "Contract ended"}

    # a revoked license shows no edit form, token or dispatch controls
    page = html(alice.get(url))
    assert "Change the license" not in page
    assert "Mint a new token" not in page
    assert "Dispatch packages" not in page
    assert alice.post(f"{url}edit/", edit_data(license)).status_code == 409
    assert alice.post(f"{url}token/").status_code == 409
    assert alice.get(f"{url}suspend/").status_code == 302  # nothing to suspend
    assert "revoked" in html(alice.get(url, follow=True))


def test_suspend_and_reinstate(people: People, live: Live, alice: Client) -> None:
    license, token = issue(people, [live.course], allowed_origins=[ORIGIN])
    url = f"{BASE}{license.pk}/"
    assert "Suspend the license" in html(alice.get(f"{url}suspend/"))
    assert alice.post(f"{url}suspend/", {"seen": "active"}).status_code == 302
    assert launch(token, live).reason == "suspended"
    assert alice.get(f"{url}suspend/").status_code == 302  # already suspended

    followed = alice.post(f"{url}reinstate/", {"seen": "suspended"}, follow=True)
    assert "is active again" in html(followed)
    assert launch(token, live).allowed
    assert [e.action for e in AuditEvent.objects.filter(object_type="license")
            .order_by("id")] == ["license.issued", "license.suspended",
                                 "license.reinstated"]


def test_a_stale_confirmation_does_not_undo_a_change_made_meanwhile(
        people: People, live: Live, alice: Client) -> None:
    # given Alice opened "Reinstate" while the license was suspended
    license, token = issue(people, [live.course], allowed_origins=[ORIGIN])
    url = f"{BASE}{license.pk}/"
    alice.post(f"{url}suspend/", {"seen": "active"})
    assert 'value="suspended"' in html(alice.get(f"{url}reinstate/"))
    # when someone else revokes it before she confirms
    alice.post(f"{url}revoke/", {"seen": "suspended"})
    followed = alice.post(f"{url}reinstate/", {"seen": "suspended"}, follow=True)
    # then her confirmation is refused and the license stays revoked
    assert "changed meanwhile" in html(followed)
    assert License.objects.get().status == LicenseStatus.REVOKED
    assert launch(token, live).reason == "revoked"
    # a confirmation without the status it showed is refused as a bad form
    assert alice.post(f"{url}reinstate/", {}).status_code == 422


def test_minting_a_new_token(people: People, live: Live, alice: Client) -> None:
    license, old = issue(people, [live.course], allowed_origins=[ORIGIN])
    response = alice.post(f"{BASE}{license.pk}/token/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = token_in(html(response))
    assert token != old
    assert launch(token, live).allowed
    assert launch(old, live, "learner-2").allowed  # earlier tokens keep working
    assert AuditEvent.objects.filter(action="license.token_minted").count() == 1
    assert alice.get(f"{BASE}{license.pk}/token/").status_code == 405


@pytest.mark.parametrize("fmt", ["scorm12", "scorm2004"])
def test_dispatch_packages_download(people: People, live: Live, alice: Client,
                                    fmt: str) -> None:
    license, _ = issue(people, [live.course], allowed_origins=[ORIGIN])
    page = html(alice.get(f"{BASE}{license.pk}/"))
    assert f'name="format" value="{fmt}"' in page

    response = alice.post(f"{BASE}{license.pk}/dispatch/",
                          {"course": live.course.pk, "format": fmt})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == (
        f'attachment; filename="dispatch-{fmt}-course-{live.course.pk}-license-'
        f'{license.pk}.zip"')
    with zipfile.ZipFile(io.BytesIO(response.content)) as package:
        names = package.namelist()
        launcher = package.read("launcher.html").decode()
    assert "imsmanifest.xml" in names
    assert str(live.course.uid) in launcher
    event = AuditEvent.objects.get(action="license.dispatch_downloaded")
    assert event.after["format"] == fmt


def test_dispatch_refusals(people: People, live: Live, alice: Client) -> None:
    other = course_of(people.acme, people.bob, "Not licensed")
    license, _ = issue(people, [live.course])
    url = f"{BASE}{license.pk}/dispatch/"
    for data in ({"course": other.course_id, "format": "scorm12"},
                 {"course": live.course.pk, "format": "html"}, {}):
        response = alice.post(url, data)
        assert response.status_code == 422, data
        assert "Choose one of the license’s courses" in html(response)
    assert alice.get(url).status_code == 405
    assert not AuditEvent.objects.filter(action="license.dispatch_downloaded").exists()


def test_the_license_page_lists_its_latest_launches(people: People, live: Live,
                                                    alice: Client) -> None:
    license, token = issue(people, [live.course], allowed_origins=[ORIGIN])
    assert launch(token, live, "learner-1").allowed
    assert launch(token, live, "learner-2", EVIL_ORIGIN).reason == "origin_not_allowed"
    page = html(alice.get(f"{BASE}{license.pk}/"))
    assert "origin_not_allowed" in page
    assert "This course cannot be opened from this website." in page
    assert EVIL_ORIGIN in page
    assert "learner-1" not in page  # only pseudonyms
    assert f"/o/acme/courses/{live.course.pk}/logs/?license={license.pk}" in page
    assert f"/api/v1/licenses/{license.pk}/launches?format=csv" in page
    read = AuditEvent.objects.filter(action="launch_events.read").latest("id")
    assert read.object_id == str(license.pk)
    # the export link works for the signed-in owner, CSRF checks on
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(people.alice)
    exported = browser.get(f"/api/v1/licenses/{license.pk}/launches?format=csv")
    assert exported.status_code == 200
    assert len(b"".join(exported.streaming_content).decode().splitlines()) == 3


def test_expired_and_capped_licenses_read_clearly(people: People, live: Live,
                                                  alice: Client) -> None:
    license, _ = issue(people, [live.course], max_learners=3)
    License.objects.filter(pk=license.pk).update(
        expires_at=timezone.now() - timedelta(days=1), learners=2)
    listing = html(alice.get(BASE))
    assert "expired" in listing
    assert "2 / 3" in listing
    detail = html(alice.get(f"{BASE}{license.pk}/"))
    assert "2 of 3" in detail
    assert "Any website" in detail

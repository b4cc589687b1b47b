"""Two-factor sign-in: setup with a QR code, the verify step on every sign-in, throttled
codes, removal only with the password, and organisations that require it."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from coursewright.audit.models import AuditEvent
from tests.accounts.otp_helpers import code_for, confirmed_device, wrong_code
from tests.conftest import PASSWORD, People, client_for


def password_only_client(people: People) -> Client:
    """Alice, who has a device, after the password step only."""
    client = Client()
    response = client.post("/login/", {"email": "alice@acme.test", "password": PASSWORD,
                                       "next": "/o/acme/settings/"})
    assert response.status_code == 302
    assert response["Location"] == "/mfa/verify/?next=" + quote("/o/acme/settings/", safe="")
    return client


# Setup

def test_setup_shows_a_qr_code_and_the_secret(people: People) -> None:
    client = client_for(people.alice)
    response = client.get("/mfa/setup/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="data:image/svg+xml' in html
    device = TOTPDevice.objects.get(user=people.alice)
    assert not device.confirmed
    assert response.context["secret"].replace(" ", "") in html.replace(" ", "")
    # reloading keeps the same pending secret (the app may have scanned it already)
    assert client.get("/mfa/setup/").context["secret"] == response.context["secret"]
    assert TOTPDevice.objects.filter(user=people.alice).count() == 1


def test_the_qr_code_names_the_issuer_and_account(people: People) -> None:
    from coursewright.accounts.views import provisioning_uri

    device = TOTPDevice.objects.create(user=people.alice, confirmed=False)
    uri = provisioning_uri(device, people.alice)
    assert uri.startswith("otpauth://totp/coursewright%3Aalice%40acme.test?secret=")
    assert "issuer=coursewright" in uri


def test_setup_confirms_with_a_code_from_the_app(people: People) -> None:
    # given Alice on the setup page
    client = client_for(people.alice)
    client.get("/mfa/setup/")
    device = TOTPDevice.objects.get(user=people.alice)

    # when she enters the code her app shows
    response = client.post("/mfa/setup/", {"token": code_for(device)})

    # then the device is confirmed, this session is verified, and it is audited
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/o/acme/settings/").status_code == 200
    event = AuditEvent.objects.get(action="account.mfa_device_confirmed")
    assert event.actor_user == people.alice
    assert event.org is None


def test_setup_refuses_a_wrong_code_and_then_throttles(people: People) -> None:
    client = client_for(people.alice)
    client.get("/mfa/setup/")
    device = TOTPDevice.objects.get(user=people.alice)

    refused = client.post("/mfa/setup/", {"token": wrong_code(device)})
    assert refused.status_code == 400
    assert "not correct" in refused.content.decode()

    # straight after a failure even the right code waits (django-otp's back-off)
    throttled = client.post("/mfa/setup/", {"token": code_for(device)})
    assert throttled.status_code == 429
    assert "Too many wrong codes" in throttled.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert device.throttling_failure_count == 1


def test_setup_with_a_device_already_goes_to_the_account_page(people: People) -> None:
    confirmed_device(people.bob)
    client = Client()
    client.post("/login/", {"email": "bob@acme.test", "password": PASSWORD})
    client.post("/mfa/verify/", {"token": code_for(TOTPDevice.objects.get(user=people.bob))})
    response = client.get("/mfa/setup/")
    assert response.status_code == 302
    assert response["Location"] == "/account/"


# The verify step

def test_a_person_with_a_device_must_pass_verify_before_any_org_page(people: People) -> None:
    # given Alice has a device and has only typed her password
    device = confirmed_device(people.alice)
    client = password_only_client(people)

    # then no org page, no account page and no API call works yet
    for path in ("/o/acme/", "/o/acme/settings/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/mfa/verify/?next=")
    assert client.get("/account/")["Location"].startswith("/mfa/verify/?next=")
    assert client.get("/api/v1/me").status_code == 401

    # when she enters the code
    response = client.post("/mfa/verify/", {"token": code_for(device),
                                            "next": "/o/acme/settings/"})

    # then she goes where she was heading, and the pages open
    assert response.status_code == 302
    assert response["Location"] == "/o/acme/settings/"
    assert client.get("/o/acme/settings/").status_code == 200
    assert client.get("/api/v1/me").status_code == 200


def test_verify_rotates_the_session(people: People) -> None:
    device = confirmed_device(people.alice)
    client = password_only_client(people)
    before = client.session.session_key
    client.post("/mfa/verify/", {"token": code_for(device)})
    assert client.session.session_key != before


def test_verify_refuses_wrong_codes_and_throttles(people: People) -> None:
    device = confirmed_device(people.alice)
    client = password_only_client(people)

    refused = client.post("/mfa/verify/", {"token": wrong_code(device)})
    assert refused.status_code == 400
    assert "not correct" in refused.content.decode()

    throttled = client.post("/mfa/verify/", {"token": code_for(device)})
    assert throttled.status_code == 429
    assert "Too many wrong codes" in throttled.content.decode()
    assert client.get("/o/acme/settings/").status_code == 302


def test_a_code_cannot_be_used_twice(people: People) -> None:
    device = confirmed_device(people.alice)
    code = code_for(device)
    first = password_only_client(people)
    assert first.post("/mfa/verify/", {"token": code}).status_code == 302
    second = password_only_client(people)
    assert second.post("/mfa/verify/", {"token": code}).status_code == 400


@pytest.mark.parametrize("next_url", ["https://evil.test/", "//evil.test/x"])
def test_verify_refuses_an_open_redirect(people: People, next_url: str) -> None:
    device = confirmed_device(people.alice)
    client = password_only_client(people)
    response = client.post("/mfa/verify/", {"token": code_for(device), "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_verify_without_a_device_moves_on(people: People) -> None:
    response = client_for(people.alice).get("/mfa/verify/?next=/account/")
    assert response["Location"] == "/account/"


def test_verify_needs_a_signed_in_person() -> None:
    response = Client().get("/mfa/verify/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# Organisations that require two-factor

def test_an_org_requiring_mfa_sends_members_without_a_device_to_setup(people: People) -> None:
    people.acme.require_mfa = True
    people.acme.save(update_fields=["require_mfa"])
    client = client_for(people.bob)

    response = client.get("/o/acme/")
    assert response.status_code == 302
    assert response["Location"] == "/mfa/setup/"
    setup = client.get("/mfa/setup/")
    assert "Acme requires two-factor sign-in" in setup.content.decode()
    assert client.get("/api/v1/me").status_code == 401

    device = TOTPDevice.objects.get(user=people.bob)
    assert client.post("/mfa/setup/", {"token": code_for(device)}).status_code == 302
    assert client.get("/o/acme/").status_code == 200


# Removing the device

def test_removing_the_device_needs_the_password(people: People) -> None:
    confirmed_device(people.alice)
    client = Client()
    client.post("/login/", {"email": "alice@acme.test", "password": PASSWORD})
    client.post("/mfa/verify/", {"token": code_for(TOTPDevice.objects.get(user=people.alice))})

    refused = client.post("/account/mfa/remove/", {"password": "not it"})
    assert refused.status_code == 400
    assert "That password is not correct." in refused.content.decode()
    assert TOTPDevice.objects.filter(user=people.alice).exists()

    response = client.post("/account/mfa/remove/", {"password": PASSWORD})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=people.alice).exists()
    assert AuditEvent.objects.filter(action="account.mfa_device_removed",
                                     actor_user=people.alice).count() == 1


def test_removal_wrong_passwords_count_towards_the_throttle(people: People,
                                                            throttle_limit: int) -> None:
    confirmed_device(people.alice)
    client = client_for(people.alice)
    client.post("/mfa/verify/", {"token": code_for(TOTPDevice.objects.get(user=people.alice))})
    for _ in range(throttle_limit):
        client.post("/account/mfa/remove/", {"password": "guess"})
    blocked = client.post("/account/mfa/remove/", {"password": PASSWORD})
    assert blocked.status_code == 400
    assert "Too many failed sign-in attempts" in blocked.content.decode()
    assert TOTPDevice.objects.filter(user=people.alice).exists()


def test_a_password_only_session_cannot_remove_the_device(people: People) -> None:
    # the password alone must not be enough to switch the second factor off
    confirmed_device(people.alice)
    client = password_only_client(people)
    response = client.post("/account/mfa/remove/", {"password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/mfa/verify/")
    assert TOTPDevice.objects.filter(user=people.alice).exists()


def test_an_org_requiring_mfa_blocks_removal(people: People) -> None:
    device = confirmed_device(people.bob)
    people.acme.require_mfa = True
    people.acme.save(update_fields=["require_mfa"])
    client = client_for(people.bob)
    client.post("/mfa/verify/", {"token": code_for(device)})

    page = client.get("/account/").content.decode()
    assert "cannot be turned off" in page
    assert "/account/mfa/remove/" not in page

    response = client.post("/account/mfa/remove/", {"password": PASSWORD})
    assert response.status_code == 403
    assert "requires two-factor" in response.content.decode()
    assert TOTPDevice.objects.filter(user=people.bob).exists()

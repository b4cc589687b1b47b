"""The account page: details, two-factor status, changing the password."""

from __future__ import annotations

from django.test import Client

from coursewright.audit.models import AuditEvent
from tests.accounts.otp_helpers import code_for, confirmed_device
from tests.conftest import PASSWORD, People, client_for

NEW_PASSWORD = "another long passphrase 7"


def test_it_needs_a_signed_in_person() -> None:
    response = Client().get("/account/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/account/"


def test_it_shows_the_email_and_two_factor_off(people: People) -> None:
    html = client_for(people.alice).get("/account/").content.decode()
    assert "alice@acme.test" in html
    assert "Only your password protects this account" in html
    assert 'href="/mfa/setup/"' in html


def test_it_shows_two_factor_on_with_a_removal_form(people: People) -> None:
    device = confirmed_device(people.alice)
    client = client_for(people.alice)
    client.post("/mfa/verify/", {"token": code_for(device)})
    html = client.get("/account/").content.decode()
    assert "A code from your authenticator app is asked for at every sign-in" in html
    assert 'action="/account/mfa/remove/"' in html


def test_changing_the_password_keeps_this_session(people: People) -> None:
    client = client_for(people.alice)
    other_session = client_for(people.alice)

    response = client.post("/account/password/", {
        "old_password": PASSWORD, "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD})

    assert response.status_code == 302
    people.alice.refresh_from_db()
    assert people.alice.check_password(NEW_PASSWORD)
    assert client.get("/account/").status_code == 200
    # every other session of hers is signed out
    assert other_session.get("/account/").status_code == 302
    event = AuditEvent.objects.get(action="account.password_changed")
    assert (event.actor_user, event.after) == (people.alice, {"via": "account"})


def test_changing_the_password_needs_the_old_one_and_valid_new_ones(people: People) -> None:
    client = client_for(people.alice)
    wrong_old = client.post("/account/password/", {
        "old_password": "nope", "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD})
    assert wrong_old.status_code == 400
    assert "That password is not correct." in wrong_old.content.decode()

    weak = client.post("/account/password/", {
        "old_password": PASSWORD, "new_password1": "12345678901",
        "new_password2": "12345678901"})
    assert weak.status_code == 400
    assert "entirely numeric" in weak.content.decode()
    people.alice.refresh_from_db()
    assert people.alice.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="account.password_changed").exists()

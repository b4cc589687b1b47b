"""Sign-in: generic errors, throttling per account, session rotation, safe redirects."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from coursewright.accounts.forms import WRONG_CREDENTIALS
from coursewright.accounts.models import LoginFailure
from tests.conftest import PASSWORD, People, client_for

pytestmark = pytest.mark.usefixtures("people")


def sign_in(client: Client, email: str, password: str, next_url: str | None = None) -> Any:
    data = {"email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login/", data)


def signed_in_as(client: Client) -> str | None:
    response = client.get("/account/")
    if response.status_code != 200:
        return None
    return str(response.context["user"].email)


def test_login_page_has_labelled_fields() -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_email">Email address' in html
    assert 'autocomplete="current-password"' in html
    assert "/password-reset/" in html


def test_it_signs_in_and_rotates_the_session(people: People) -> None:
    # given a visitor who already has an (anonymous) session
    client = Client()
    before = client.session.session_key

    # when they sign in with the right password
    response = sign_in(client, "ALICE@acme.test ", PASSWORD)

    # then they land on the home page with a new session key
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != before
    assert signed_in_as(client) == "alice@acme.test"


@pytest.mark.parametrize(("email", "password"), [
    ("alice@acme.test", "wrong password"),
    ("nobody@acme.test", PASSWORD),
    ("not an email", PASSWORD),
])
def test_the_error_does_not_say_whether_the_account_exists(email: str, password: str) -> None:
    client = Client()
    response = sign_in(client, email, password)
    assert response.status_code == 400
    html = response.content.decode()
    assert WRONG_CREDENTIALS in html
    assert "no account" not in html.lower()
    assert "unknown" not in html.lower()
    assert signed_in_as(client) is None
    assert LoginFailure.objects.filter(email=email.lower()).count() == 1


def test_an_inactive_account_gets_the_same_error(people: People) -> None:
    people.bob.is_active = False
    people.bob.save(update_fields=["is_active"])
    response = sign_in(Client(), "bob@acme.test", PASSWORD)
    assert response.status_code == 400
    assert WRONG_CREDENTIALS in response.content.decode()


def test_it_blocks_after_repeated_failures_even_with_the_right_password(
        throttle_limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # given as many failures as the limit allows
    client = Client()
    for _ in range(throttle_limit):
        assert sign_in(client, "alice@acme.test", "guess").status_code == 400

    # when the right password is tried, the password is not even checked
    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("authenticate() called while blocked")

    monkeypatch.setattr("coursewright.accounts.forms.authenticate", must_not_run)
    response = sign_in(client, "alice@acme.test", PASSWORD)

    # then it is refused with 429 and a clear message, and nobody is signed in
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    monkeypatch.undo()
    assert signed_in_as(client) is None


def test_blocking_one_account_leaves_others_alone(throttle_limit: int) -> None:
    for _ in range(throttle_limit):
        sign_in(Client(), "alice@acme.test", "guess")
    assert sign_in(Client(), "bob@acme.test", PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(throttle_limit: int) -> None:
    client = Client()
    for _ in range(throttle_limit - 1):
        sign_in(client, "alice@acme.test", "guess")
    assert sign_in(client, "alice@acme.test", PASSWORD).status_code == 302
    assert not LoginFailure.objects.filter(email="alice@acme.test").exists()


def test_signing_in_to_ones_own_account_keeps_failures_against_another(
        throttle_limit: int) -> None:
    # given an attacker guessing Alice's password from one address
    for _ in range(throttle_limit - 1):
        sign_in(Client(), "alice@acme.test", "guess")
    # when the attacker signs in to their own account from the same address
    assert sign_in(Client(), "bob@acme.test", PASSWORD).status_code == 302
    # then Alice's count is untouched and one more guess blocks her account
    sign_in(Client(), "alice@acme.test", "guess")
    assert sign_in(Client(), "alice@acme.test", PASSWORD).status_code == 429


def test_it_follows_a_local_next(people: People) -> None:
    response = sign_in(Client(), "alice@acme.test", PASSWORD, next_url="/o/acme/settings/")
    assert response["Location"] == "/o/acme/settings/"


@pytest.mark.parametrize("next_url", [
    "https://evil.test/",
    "//evil.test/",
    "/\\evil.test/",
    "http://testserver/o/acme/",
    "javascript:alert(1)",
    "o/acme/",
])
def test_it_refuses_an_open_redirect(next_url: str) -> None:
    response = sign_in(Client(), "alice@acme.test", PASSWORD, next_url=next_url)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_the_next_field_is_kept_on_the_form_but_never_an_outside_url() -> None:
    assert 'value="/o/acme/"' in Client().get("/login/?next=/o/acme/").content.decode()
    html = Client().get("/login/?next=https://evil.test/").content.decode()
    assert "evil.test" not in html


def test_a_signed_in_person_visiting_login_is_sent_on(people: People) -> None:
    response = client_for(people.alice).get("/login/?next=/account/")
    assert response.status_code == 302
    assert response["Location"] == "/account/"


def test_sign_out_is_post_only(people: People) -> None:
    client = client_for(people.alice)
    assert client.get("/logout/").status_code == 405
    assert signed_in_as(client) == "alice@acme.test"
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert signed_in_as(client) is None


def test_login_is_csrf_protected() -> None:
    client = Client(enforce_csrf_checks=True)
    assert sign_in(client, "alice@acme.test", PASSWORD).status_code == 403

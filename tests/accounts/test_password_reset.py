"""Password reset through Django's views: the mail, the one-time link, no account oracle."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from coursewright.audit.models import AuditEvent
from tests.conftest import PASSWORD, People

NEW_PASSWORD = "a brand new passphrase 42"


def reset_link() -> str:
    assert len(mail.outbox) == 1
    match = re.search(r"https?://\S+/password-reset/\S+/\S+/", str(mail.outbox[0].body))
    assert match, mail.outbox[0].body
    return match.group(0)


def path_of(link: str, base_url: str) -> str:
    assert link.startswith(base_url + "/")
    return link[len(base_url):]


def test_reset_end_to_end(people: People, settings: Any) -> None:
    client = Client()

    # given Alice asks for a reset
    response = client.post("/password-reset/", {"email": "alice@acme.test"})
    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert mail.outbox[0].to == ["alice@acme.test"]
    assert mail.outbox[0].subject == "Reset your coursewright password"
    link = path_of(reset_link(), settings.BASE_URL)

    # when she opens the link and chooses a new password
    opened = client.get(link)
    assert opened.status_code == 302  # the token moves into the session, out of the URL
    form_url = opened["Location"]
    assert "set-password" in form_url
    assert "Choose a new password" in client.get(form_url).content.decode()
    done = client.post(form_url, {"new_password1": NEW_PASSWORD,
                                  "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == "/password-reset/done/"

    # then the new password works, the old one does not, and it is audited
    people.alice.refresh_from_db()
    assert people.alice.check_password(NEW_PASSWORD)
    assert not people.alice.check_password(PASSWORD)
    assert Client().post("/login/", {"email": "alice@acme.test",
                                     "password": NEW_PASSWORD}).status_code == 302
    event = AuditEvent.objects.get(action="account.password_changed")
    assert event.after == {"via": "reset"}

    # and the link cannot be used again
    again = Client().get(link)
    assert again.status_code == 200
    assert "This link does not work" in again.content.decode()


def test_reset_applies_the_password_validators(people: People, settings: Any) -> None:
    client = Client()
    client.post("/password-reset/", {"email": "alice@acme.test"})
    form_url = client.get(path_of(reset_link(), settings.BASE_URL))["Location"]
    response = client.post(form_url, {"new_password1": "short", "new_password2": "short"})
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    people.alice.refresh_from_db()
    assert people.alice.check_password(PASSWORD)


@pytest.mark.usefixtures("people")
def test_an_unknown_email_gets_the_same_answer() -> None:
    known = Client().post("/password-reset/", {"email": "alice@acme.test"})
    unknown = Client().post("/password-reset/", {"email": "nobody@acme.test"})
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert len(mail.outbox) == 1


def test_the_link_is_built_from_base_url_not_the_host_header(people: People,
                                                             settings: Any) -> None:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "evil.test"]
    Client().post("/password-reset/", {"email": "alice@acme.test"}, HTTP_HOST="evil.test")
    assert "evil.test" not in mail.outbox[0].body
    assert reset_link().startswith(settings.BASE_URL)


def test_a_tampered_link_is_refused(people: People) -> None:
    response = Client().get("/password-reset/MQ/abc-123/")
    assert response.status_code == 200
    assert "This link does not work" in response.content.decode()

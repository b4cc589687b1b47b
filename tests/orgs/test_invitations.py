"""Invitations end to end: the mail, joining with a new or an existing account, and links
that are used, expired, invalid or for somebody else."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core import mail
from django.test import Client
from django.utils import timezone

from coursewright.accounts.models import User
from coursewright.audit.models import AuditEvent
from coursewright.orgs.models import Invitation, Membership
from tests.conftest import PASSWORD, People, client_for

NEW_PASSWORD = "a fine long passphrase 9"


def invite(client: Client, email: str, role: str = "reviewer") -> str:
    """Send an invitation from the settings page and return the link's path."""
    response = client.post("/o/acme/settings/invitations/", {"email": email, "role": role})
    assert response.status_code == 302, response.content.decode()
    message = mail.outbox[-1]
    assert message.to == [email.lower()]
    match = re.search(r"(https?://[^/\s]+)(/invite/[A-Za-z0-9_-]+/)", str(message.body))
    assert match, message.body
    return match.group(2)


def test_a_new_person_joins_with_a_new_account(people: People, settings: Any) -> None:
    # given Alice invites someone without an account
    owner = client_for(people.alice)
    link = invite(owner, "Carol@Example.test")
    assert "Acme" in mail.outbox[0].subject
    assert f"{settings.BASE_URL}{link}" in mail.outbox[0].body
    pending = owner.get("/o/acme/settings/").context["invitations"]
    assert [i.email for i in pending] == ["carol@example.test"]

    # when Carol opens the link she is offered an account for the invited address
    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Create your account for <strong>carol@example.test</strong>" in html
    assert 'autocomplete="new-password"' in html

    # and a weak password is refused by the configured validators
    weak = visitor.post(link, {"display_name": "Carol", "password1": "password",
                               "password2": "password"})
    assert weak.status_code == 400
    assert "too common" in weak.content.decode()
    assert not User.objects.filter(email="carol@example.test").exists()

    # then with a good password she has an account, is signed in and is a reviewer
    joined = visitor.post(link, {"display_name": "Carol", "password1": NEW_PASSWORD,
                                 "password2": NEW_PASSWORD})
    assert joined.status_code == 302
    assert joined["Location"] == "/o/acme/"
    carol = User.objects.get(email="carol@example.test")
    assert carol.display_name == "Carol"
    assert carol.check_password(NEW_PASSWORD)
    assert Membership.objects.get(org=people.acme, user=carol).role == "reviewer"
    assert visitor.get("/o/acme/").status_code == 200
    actions = set(AuditEvent.objects.filter(org=people.acme).values_list("action", flat=True))
    assert {"invitation.created", "account.created", "invitation.accepted"} <= actions

    # and the link is spent
    again = Client().get(link)
    assert again.status_code == 404
    assert "This invitation cannot be used" in again.content.decode()
    assert not owner.get("/o/acme/settings/").context["invitations"]


def test_mismatched_passwords_are_refused(people: People) -> None:
    link = invite(client_for(people.alice), "carol@example.test")
    response = Client().post(link, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"})
    assert response.status_code == 400
    assert "not the same" in response.content.decode()


def test_an_existing_account_signs_in_and_accepts(people: People) -> None:
    link = invite(client_for(people.alice), "mallory@globex.test", role="author")

    # signed out, Mallory is asked to sign in (and brought back)
    page = Client().get(link).content.decode()
    assert f'href="/login/?next={link}"' in page
    assert "Create your account" not in page

    client = Client()
    signed_in = client.post("/login/", {"email": "mallory@globex.test", "password": PASSWORD,
                                        "next": link})
    assert signed_in["Location"] == link
    assert "Join Acme" in client.get(link).content.decode()
    accepted = client.post(link)
    assert accepted.status_code == 302
    assert accepted["Location"] == "/o/acme/"
    assert Membership.objects.get(org=people.acme, user=people.mallory).role == "author"


def test_the_wrong_account_cannot_accept(people: People) -> None:
    link = invite(client_for(people.alice), "carol@example.test")
    mallory = client_for(people.mallory)

    page = mallory.get(link)
    assert page.status_code == 403
    assert "This invitation was sent to carol@example.test" in page.content.decode()
    assert mallory.post(link).status_code == 404
    assert not Membership.objects.filter(org=people.acme, user=people.mallory).exists()

    # and the invitation is still good for Carol
    assert Invitation.objects.get(email="carol@example.test").accepted_at is None
    assert Client().get(link).status_code == 200


def test_expired_and_invalid_links_are_a_clear_404(people: People) -> None:
    link = invite(client_for(people.alice), "carol@example.test")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    for path in (link, "/invite/not-a-real-token/"):
        response = Client().get(path)
        assert response.status_code == 404
        assert "has expired" in response.content.decode()
        assert Client().post(path, {"password1": NEW_PASSWORD,
                                    "password2": NEW_PASSWORD}).status_code == 404
    assert not User.objects.filter(email="carol@example.test").exists()


def test_inviting_a_member_again_is_refused(people: People) -> None:
    response = client_for(people.alice).post("/o/acme/settings/invitations/",
                                             {"email": "bob@acme.test", "role": "admin"})
    assert response.status_code == 409
    assert "already a member" in response.content.decode()
    assert not mail.outbox


def test_an_invalid_email_is_refused(people: People) -> None:
    response = client_for(people.alice).post("/o/acme/settings/invitations/",
                                             {"email": "not-an-email", "role": "author"})
    assert response.status_code == 400
    assert "Enter a valid email address" in response.content.decode()
    assert not mail.outbox


def test_reviewers_cannot_invite(people: People) -> None:
    response = client_for(people.rita).post("/o/acme/settings/invitations/",
                                            {"email": "x@example.test", "role": "owner"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()
    assert not mail.outbox

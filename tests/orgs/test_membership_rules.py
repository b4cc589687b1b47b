"""Changing roles and removing members: audited, owner-only for owners, never ownerless."""

from __future__ import annotations

from typing import Any

from coursewright.audit.models import AuditEvent
from coursewright.orgs.models import Membership
from tests.conftest import People, client_for


def membership(people: People, user: Any) -> Membership:
    return Membership.objects.get(org=people.acme, user=user)


def role_url(m: Membership) -> str:
    return f"/o/acme/settings/members/{m.pk}/role/"


def remove_url(m: Membership) -> str:
    return f"/o/acme/settings/members/{m.pk}/remove/"


def test_the_owner_changes_a_role(people: People) -> None:
    bob = membership(people, people.bob)
    response = client_for(people.alice).post(role_url(bob), {"role": "reviewer"})
    assert response.status_code == 302
    assert response["Location"] == "/o/acme/settings/"
    bob.refresh_from_db()
    assert bob.role == "reviewer"
    event = AuditEvent.objects.get(action="membership.role_changed")
    assert event.before == {"user": "bob@acme.test", "role": "author"}
    assert event.after == {"user": "bob@acme.test", "role": "reviewer"}
    assert event.actor_user == people.alice
    assert event.org == people.acme


def test_an_unknown_role_is_refused(people: People) -> None:
    bob = membership(people, people.bob)
    assert client_for(people.alice).post(role_url(bob), {"role": "king"}).status_code == 400
    bob.refresh_from_db()
    assert bob.role == "author"


def test_an_admin_manages_members_but_not_owners(people: People) -> None:
    Membership.objects.filter(org=people.acme, user=people.bob).update(role="admin")
    admin = client_for(people.bob)
    rita, alice = membership(people, people.rita), membership(people, people.alice)

    assert admin.post(role_url(rita), {"role": "author"}).status_code == 302
    assert admin.post(role_url(rita), {"role": "owner"}).status_code == 403
    assert admin.post(role_url(alice), {"role": "author"}).status_code == 403
    assert admin.post(remove_url(alice)).status_code == 403
    rita.refresh_from_db()
    alice.refresh_from_db()
    assert (rita.role, alice.role) == ("author", "owner")


def test_the_last_owner_cannot_step_down_or_leave(people: People) -> None:
    alice = membership(people, people.alice)
    client = client_for(people.alice)

    demoted = client.post(role_url(alice), {"role": "admin"})
    assert demoted.status_code == 409
    assert "at least one owner" in demoted.content.decode()
    left = client.post(remove_url(alice))
    assert left.status_code == 409
    alice.refresh_from_db()
    assert alice.role == "owner"


def test_with_a_second_owner_the_first_may_step_down(people: People) -> None:
    client = client_for(people.alice)
    bob, alice = membership(people, people.bob), membership(people, people.alice)
    assert client.post(role_url(bob), {"role": "owner"}).status_code == 302
    assert client.post(role_url(alice), {"role": "admin"}).status_code == 302
    alice.refresh_from_db()
    assert alice.role == "admin"
    # and now alice, an admin, may no longer touch the remaining owner
    assert client.post(role_url(bob), {"role": "author"}).status_code == 403


def test_removing_a_member_takes_their_access_away(people: People) -> None:
    bob = membership(people, people.bob)
    bob_client = client_for(people.bob)
    assert bob_client.get("/o/acme/").status_code == 200

    response = client_for(people.alice).post(remove_url(bob))

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=bob.pk).exists()
    assert bob_client.get("/o/acme/").status_code == 404
    event = AuditEvent.objects.get(action="membership.removed")
    assert event.before == {"user": "bob@acme.test", "role": "author"}


def test_an_admin_may_leave(people: People) -> None:
    Membership.objects.filter(org=people.acme, user=people.bob).update(role="admin")
    response = client_for(people.bob).post(remove_url(membership(people, people.bob)))
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not Membership.objects.filter(org=people.acme, user=people.bob).exists()

"""Organisation settings: who sees what, who may change it, and nothing for outsiders."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.orgs.models import ApiKey, Invitation, Membership
from tests.conftest import People, client_for

# session, user, OTP device check, memberships x2 (access + page), invitations, keys, ...
QUERIES = 9


def post_urls(people: People, slug: str = "acme") -> list[tuple[str, dict[str, str]]]:
    bob = Membership.objects.get(org=people.acme, user=people.bob)
    key = ApiKey.objects.get(org=people.acme)
    return [
        (f"/o/{slug}/settings/members/{bob.pk}/role/", {"role": "admin"}),
        (f"/o/{slug}/settings/members/{bob.pk}/remove/", {}),
        (f"/o/{slug}/settings/invitations/", {"email": "eve@example.test", "role": "owner"}),
        (f"/o/{slug}/settings/keys/", {"name": "sneaky"}),
        (f"/o/{slug}/settings/keys/{key.pk}/revoke/", {}),
        (f"/o/{slug}/settings/two-factor/", {"require_mfa": "on"}),
    ]


def acme_state(people: People) -> Any:
    people.acme.refresh_from_db()
    return (
        sorted(Membership.objects.filter(org=people.acme).values_list("user__email", "role")),
        Invitation.objects.filter(org=people.acme).count(),
        sorted(ApiKey.objects.filter(org=people.acme).values_list("name", "revoked_at")),
        people.acme.require_mfa,
    )


def test_an_owner_sees_every_control(people: People) -> None:
    response = client_for(people.alice).get("/o/acme/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("bob@acme.test", "rita@acme.test", 'action="/o/acme/settings/invitations/"',
                 'action="/o/acme/settings/keys/"', "acme ci",
                 'action="/o/acme/settings/two-factor/"'):
        assert text in html, text
    assert "mallory@globex.test" not in html
    assert "globex ci" not in html


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_other_members_see_a_read_only_page(people: People, name: str) -> None:
    response = client_for(getattr(people, name)).get("/o/acme/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice@acme.test" in html
    assert "Only owners and admins can change these settings" in html
    assert "<form method=\"post\" action=\"/o/acme/settings/" not in html
    assert "acme ci" not in html  # keys are for managers only


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_other_members_cannot_change_anything(people: People, name: str) -> None:
    client = client_for(getattr(people, name))
    before = acme_state(people)
    for url, data in post_urls(people):
        assert client.post(url, data).status_code == 403, url
    assert acme_state(people) == before
    assert not AuditEvent.objects.filter(actor_user=getattr(people, name)).exists()


def test_mallory_gets_404_for_the_page_and_every_post(people: People) -> None:
    client = client_for(people.mallory)
    before = acme_state(people)
    assert client.get("/o/acme/settings/").status_code == 404
    for url, data in post_urls(people):
        assert client.post(url, data).status_code == 404, url
    assert acme_state(people) == before


def test_mallory_cannot_reach_acme_objects_through_her_own_org(people: People) -> None:
    client = client_for(people.mallory)
    before = acme_state(people)
    for url, data in post_urls(people, slug="globex"):
        if "/members/" in url or "/revoke/" in url:
            assert client.post(url, data).status_code == 404, url
    assert acme_state(people) == before


def test_anonymous_visitors_are_sent_to_sign_in(people: People) -> None:
    response = Client().get("/o/acme/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    for url, data in post_urls(people):
        assert Client().post(url, data).status_code == 302


def test_an_unknown_org_is_404(people: People) -> None:
    assert client_for(people.alice).get("/o/nope/settings/").status_code == 404


def test_post_only_endpoints_refuse_get(people: People) -> None:
    assert client_for(people.alice).get("/o/acme/settings/two-factor/").status_code == 405


def test_the_owner_can_require_two_factor(people: People) -> None:
    client = client_for(people.alice)
    response = client.post("/o/acme/settings/two-factor/", {"require_mfa": "on"})
    assert response.status_code == 302
    people.acme.refresh_from_db()
    assert people.acme.require_mfa
    event = AuditEvent.objects.get(action="org.mfa_policy_changed")
    assert (event.before, event.after) == ({"require_mfa": False}, {"require_mfa": True})
    # the owner herself has no device yet, so she is sent to set one up
    assert client.get("/o/acme/settings/")["Location"] == "/mfa/setup/"


def test_an_admin_can_turn_the_requirement_off(people: People) -> None:
    people.acme.require_mfa = True
    people.acme.save(update_fields=["require_mfa"])
    Membership.objects.filter(org=people.acme, user=people.bob).update(role="admin")
    from tests.accounts.otp_helpers import code_for, confirmed_device

    device = confirmed_device(people.bob)
    client = client_for(people.bob)
    client.post("/mfa/verify/", {"token": code_for(device)})
    assert client.post("/o/acme/settings/two-factor/", {}).status_code == 302
    people.acme.refresh_from_db()
    assert not people.acme.require_mfa


def test_the_settings_page_query_count_does_not_grow_with_members(
        people: People, django_assert_num_queries: Any) -> None:
    from coursewright.accounts.models import User
    from coursewright.audit.actor import Actor
    from coursewright.orgs import actions

    client = client_for(people.alice)
    client.get("/o/acme/settings/")
    with django_assert_num_queries(QUERIES):
        assert client.get("/o/acme/settings/").status_code == 200

    # given many more members, invitations and keys
    system = Actor.system()
    for n in range(8):
        user = User.objects.create_user(f"person{n}@acme.test", "x")
        actions.add_member(people.acme, user, "author", actor=system)
        actions.create_invitation(people.acme, email=f"new{n}@acme.test", role="author",
                                  actor=Actor.person(people.alice))
        actions.create_api_key(people.acme, name=f"key {n}", actor=Actor.person(people.alice))

    # then the page still takes the same number of queries
    with django_assert_num_queries(QUERIES):
        assert client.get("/o/acme/settings/").status_code == 200


"""Owners and admins view, filter and export their organisation's audit log (dashboard
and API); other members are refused, and Mallory sees nothing of Acme's."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.orgs.models import Membership
from tests.audit.conftest import disable_triggers
from tests.conftest import People, client_for, key_client


@pytest.fixture
def acme_secret(people: People) -> AuditEvent:
    """An Acme entry whose action and payload Mallory must never see."""
    return record_event(org=people.acme, actor=Actor.person(people.alice),
                        action="course.acme_only", object_type="course", object_id=42,
                        after={"title": "acme-confidential-title"})


def jsonl(response: Any) -> list[dict[str, Any]]:
    body = b"".join(response.streaming_content)
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.splitlines()]


def acme_uids(people: People) -> set[str]:
    return {str(u) for u in AuditEvent.objects.filter(org=people.acme)
            .values_list("uid", flat=True)}


# --- dashboard -----------------------------------------------------------------------


def test_an_owner_sees_the_log(people: People, acme_secret: AuditEvent) -> None:
    response = client_for(people.alice).get("/o/acme/audit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "course.acme_only" in html
    assert "acme-confidential-title" in html
    assert "alice@acme.test" in html
    assert 'href="/o/acme/audit/export.jsonl"' in html


def test_an_admin_sees_it_too(people: People, acme_secret: AuditEvent) -> None:
    Membership.objects.filter(org=people.acme, user=people.bob).update(role="admin")
    assert client_for(people.bob).get("/o/acme/audit/").status_code == 200


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_other_members_are_refused(people: People, acme_secret: AuditEvent, name: str) -> None:
    client = client_for(getattr(people, name))
    assert client.get("/o/acme/audit/").status_code == 403
    assert client.get("/o/acme/audit/export.jsonl").status_code == 403


def test_mallory_sees_nothing_of_acme(people: People, acme_secret: AuditEvent) -> None:
    mallory = client_for(people.mallory)
    assert mallory.get("/o/acme/audit/").status_code == 404
    assert mallory.get("/o/acme/audit/export.jsonl").status_code == 404

    # her own organisation's log holds only Globex entries
    own = mallory.get("/o/globex/audit/")
    assert own.status_code == 200
    html = own.content.decode()
    assert "course.acme_only" not in html
    assert "acme-confidential-title" not in html
    assert "alice@acme.test" not in html
    lines = jsonl(mallory.get("/o/globex/audit/export.jsonl"))
    assert lines
    assert not {line["uid"] for line in lines} & acme_uids(people)


def test_anonymous_visitors_are_sent_to_sign_in(people: People) -> None:
    response = Client().get("/o/acme/audit/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_filters(people: People, acme_secret: AuditEvent, tamper: None) -> None:
    alice = client_for(people.alice)
    record_event(org=people.acme, actor=Actor.key(people.acme.api_keys.get()),
                 action="course.by_key", object_type="course", object_id=1)
    old = record_event(org=people.acme, actor=Actor.person(people.bob), action="course.old",
                       object_type="course", object_id=2)
    disable_triggers()  # back-date one entry (verification is not what this test is about)
    AuditEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=10))

    def actions(query: str) -> set[str]:
        response = alice.get(f"/o/acme/audit/?{query}")
        assert response.status_code == 200, response.content[:500]
        html = response.content.decode()
        return {a for a in ("course.acme_only", "course.by_key", "course.old",
                            "membership.created") if f"<code>{a}</code>" in html}

    assert actions("action=course.acme_only") == {"course.acme_only"}
    assert actions("action=course.") == {"course.acme_only", "course.by_key", "course.old"}
    assert actions(f"actor=user:{people.bob.pk}") == {"course.old"}
    key = people.acme.api_keys.get()
    assert actions(f"actor=key:{key.pk}") == {"course.by_key"}
    assert actions("actor=system") == {"membership.created"}
    today = timezone.now().date()
    assert "course.old" not in actions(f"since={today - timedelta(days=1)}")
    assert actions(f"until={today - timedelta(days=5)}") == {"course.old"}
    refused = alice.get(f"/o/acme/audit/?since={today}&until={today - timedelta(days=1)}")
    assert refused.status_code == 400


def test_pages(people: People) -> None:
    for n in range(60):
        record_event(org=people.acme, actor=Actor.person(people.alice), action="test.paged",
                     object_type="thing", object_id=n)
    alice = client_for(people.alice)
    first = alice.get("/o/acme/audit/?action=test.paged").content.decode()
    assert "Page 1 of 2" in first
    assert "action=test.paged&amp;page=2" in first
    second = alice.get("/o/acme/audit/?action=test.paged&page=2").content.decode()
    assert "Page 2 of 2" in second
    assert second.count("<code>test.paged</code>") == 10


def test_the_export_is_json_lines_of_this_org_only(people: People,
                                                   acme_secret: AuditEvent) -> None:
    response = client_for(people.alice).get("/o/acme/audit/export.jsonl")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-acme-')
    lines = jsonl(response)
    assert {line["uid"] for line in lines} <= acme_uids(people)
    assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)
    secret = next(line for line in lines if line["action"] == "course.acme_only")
    assert secret["after"] == {"title": "acme-confidential-title"}
    assert secret["actor"] == "alice@acme.test"
    assert secret["payload_readable"] is True
    assert secret["entry_hash"] == acme_secret.entry_hash
    # reading the log is itself recorded
    assert AuditEvent.objects.filter(org=people.acme, action="audit_log.exported",
                                     actor_user=people.alice).exists()


def test_viewing_is_recorded(people: People) -> None:
    client_for(people.alice).get("/o/acme/audit/?action=org.")
    viewed = AuditEvent.objects.get(action="audit_log.viewed")
    assert viewed.org_id == people.acme.pk
    assert viewed.after == {"filters": {"action": "org."}, "page": "1"}


# --- API -----------------------------------------------------------------------------


def test_an_org_key_reads_its_own_log(people: People, acme_secret: AuditEvent) -> None:
    body = key_client(people.acme_key).get("/api/v1/audit?limit=100").json()
    uids = {item["uid"] for item in body["items"]}
    assert uids <= acme_uids(people)
    assert acme_secret.uid.hex in {u.replace("-", "") for u in uids}
    item = next(i for i in body["items"] if i["action"] == "course.acme_only")
    assert item["after"] == {"title": "acme-confidential-title"}
    assert item["actor"] == "alice@acme.test"
    seqs = [i["seq"] for i in body["items"]]
    assert seqs == sorted(seqs, reverse=True)


def test_api_filters(people: People, acme_secret: AuditEvent) -> None:
    api = key_client(people.acme_key)
    items = api.get("/api/v1/audit?action=course.acme_only").json()["items"]
    assert [i["action"] for i in items] == ["course.acme_only"]
    items = api.get(f"/api/v1/audit?actor={people.alice.email}&action=course.").json()["items"]
    assert [i["action"] for i in items] == ["course.acme_only"]
    refused = api.get("/api/v1/audit?actor=somebody")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid"


def test_people_need_the_managing_role(people: People, acme_secret: AuditEvent) -> None:
    assert client_for(people.alice).get("/api/v1/audit").status_code == 200
    for name in ("bob", "rita"):
        response = client_for(getattr(people, name)).get("/api/v1/audit")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_mallory_reads_nothing_of_acme_through_the_api(people: People,
                                                       acme_secret: AuditEvent) -> None:
    for client in (key_client(people.globex_key), client_for(people.mallory)):
        body = client.get("/api/v1/audit?limit=100").json()
        assert body["count"] > 0
        assert not {i["uid"] for i in body["items"]} & acme_uids(people)
        assert client.get("/api/v1/audit?org=acme").status_code == 404
        assert client.get("/api/v1/audit/export.jsonl?org=acme").status_code == 404
        lines = jsonl(client.get("/api/v1/audit/export.jsonl"))
        assert not {line["uid"] for line in lines} & acme_uids(people)
        assert "acme-confidential-title" not in json.dumps(lines)


def test_api_export_is_json_lines(people: People, acme_secret: AuditEvent) -> None:
    response = key_client(people.acme_key).get("/api/v1/audit/export.jsonl?action=course.")
    assert response.status_code == 200
    lines = jsonl(response)
    assert [line["action"] for line in lines] == ["course.acme_only"]
    assert AuditEvent.objects.filter(org=people.acme, action="audit_log.exported",
                                     actor_kind="api_key").exists()

"""Deployments: deploy to staging, promote, roll back — the rules (who, which versions, a
reason), the history and its exports, concurrency, tenancy, deletion and the org export.

Alice owns Acme (promotes and rolls back production), Bob authors (deploys to staging),
Rita reviews (approves versions, moves no channel), Mallory owns Globex and sees nothing.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent, Channel
from coursewright.courses import actions
from coursewright.courses.content import CourseContent
from coursewright.courses.models import Course, CourseVersion
from coursewright.delivery import deployments
from coursewright.delivery.models import Channel as DeliveryChannel
from coursewright.delivery.models import Deployment
from coursewright.errors import Conflict, Forbidden, Invalid
from coursewright.orgs.models import ApiKey, Organisation
from coursewright.privacy.deletion import delete_course, delete_organisation
from coursewright.privacy.export import export_organisation
from tests.conftest import People, client_for, key_client

AI = {"kind": "ai", "engine": "coursewright-offline", "model": "extractive-v1",
      "generated_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(), "sources": ["c-1"]}


def content(title: str = "Fire safety") -> CourseContent:
    return CourseContent.model_validate({"title": title, "screens": [
        {"id": "s1", "title": "Exits", "blocks": [
            {"type": "text", "id": "b1", "markdown": "Never block exits.", "provenance": AI},
            {"type": "true_false", "id": "q1", "prompt": "Exits may be blocked.",
             "answer": False, "provenance": AI}]}]})


def approve(version: CourseVersion, people: People) -> CourseVersion:
    version = actions.submit_for_review(version, actor=Actor.person(people.bob))
    return actions.approve_version(version, actor=Actor.person(people.rita),
                                   confirm_unsupported=True)


def next_approved(course: Course, people: People) -> CourseVersion:
    return approve(actions.start_new_draft(course, actor=Actor.person(people.bob)), people)


@dataclass
class Acme:
    course: Course
    v1: CourseVersion
    v2: CourseVersion


def make_acme(people: People, title: str = "Fire safety") -> Acme:
    """A course of Acme's with two approved versions and nothing deployed."""
    v1 = approve(actions.create_course(people.acme, content=content(title),
                                       actor=Actor.person(people.bob)), people)
    v2 = next_approved(v1.course, people)
    return Acme(course=v1.course, v1=v1, v2=v2)


@pytest.fixture
def acme(people: People) -> Acme:
    return make_acme(people)


def bob(people: People) -> Actor:
    return Actor.person(people.bob)


def alice(people: People) -> Actor:
    return Actor.person(people.alice)


def released(people: People, acme: Acme) -> tuple[Deployment, Deployment, Deployment,
                                                   Deployment]:
    """v1 to staging and production, then v2 to staging and production."""
    d1 = deployments.deploy_to_staging(acme.v1, actor=bob(people))
    p1 = deployments.promote(acme.course, actor=alice(people), reason="First release")
    d2 = deployments.deploy_to_staging(acme.v2, actor=bob(people), reason="fire drill screen")
    p2 = deployments.promote(acme.course, actor=alice(people), reason="Adds the fire drill")
    return d1, p1, d2, p2


def serves(course: Course) -> dict[str, int | None]:
    return {name: (d.version.number if d is not None else None)
            for name, d in deployments.current_deployments(course).items()}


def snapshot() -> list[tuple[Any, ...]]:
    """Every history row as stored (the reason's ciphertext included), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, channel, version_id, action, previous_id, source_id, "
                       "reason, actor_id, actor_label, created_at "
                       "FROM delivery_deployment ORDER BY id")
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in cursor.fetchall()]


# --- the path: deploy → promote → roll back -------------------------------------------------


def test_deploy_promote_rollback_keeps_an_append_only_history(people: People,
                                                              acme: Acme) -> None:
    # given v1 and then v2 released through staging into production
    d1, p1, d2, p2 = released(people, acme)
    assert serves(acme.course) == {"staging": 2, "production": 2}
    before = snapshot()

    # when Alice rolls production back to the step that released v1
    r = deployments.rollback(acme.course, "production", p1, actor=alice(people),
                             reason="  v2 has a broken question  ")

    # then production serves v1 again, staging still v2
    assert serves(acme.course) == {"staging": 2, "production": 1}
    assert (r.action, r.version_id, r.previous_id, r.source_id) == (
        "rollback", acme.v1.pk, p2.pk, p1.pk)
    assert r.reason == "v2 has a broken question"
    # and the history shows every step, newest first, who, from → to and why
    steps = list(deployments.history(acme.course))
    assert [(s.channel, s.action, s.previous.version.number if s.previous else None,
             s.version.number, s.actor_label, s.reason) for s in steps] == [
        ("production", "rollback", 2, 1, "alice@acme.test", "v2 has a broken question"),
        ("production", "promote", 1, 2, "alice@acme.test", "Adds the fire drill"),
        ("staging", "deploy", 1, 2, "bob@acme.test", "fire drill screen"),
        ("production", "promote", None, 1, "alice@acme.test", "First release"),
        ("staging", "deploy", None, 1, "bob@acme.test", None),
    ]
    assert p2.source_id == d2.pk
    assert p1.source_id == d1.pk
    assert [s.pk for s in deployments.history(acme.course, "staging")] == [d2.pk, d1.pk]
    # and no earlier step changed (a launch session may point at any of them)
    assert snapshot()[:4] == before
    # and each step wrote one audit row with who, from and to, and the reason
    events = list(AuditEvent.objects.filter(object_type="deployment").order_by("seq"))
    assert [(e.action, e.actor_label, e.before["version"], e.after["version"],
             e.after["reason"]) for e in events] == [
        ("deployment.deployed", "bob@acme.test", None, 1, ""),
        ("deployment.promoted", "alice@acme.test", None, 1, "First release"),
        ("deployment.deployed", "bob@acme.test", 1, 2, "fire drill screen"),
        ("deployment.promoted", "alice@acme.test", 1, 2, "Adds the fire drill"),
        ("deployment.rolled_back", "alice@acme.test", 2, 1, "v2 has a broken question"),
    ]
    assert events[-1].after["channel"] == "production"
    assert events[-1].object_id == str(r.pk)


def test_the_reason_is_stored_encrypted(people: People, acme: Acme) -> None:
    released(people, acme)
    raw = [row[6] for row in snapshot() if row[3] == "promote"]
    assert len(raw) == 2
    for blob in raw:
        assert isinstance(blob, bytes)
        assert b"First release" not in blob
        assert b"fire drill" not in blob
    assert {d.reason for d in Deployment.objects.filter(action="promote")} == {
        "First release", "Adds the fire drill"}


# --- refusals: reasons, versions, targets -------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   \n\t "])
def test_promote_and_rollback_need_a_reason(people: People, acme: Acme, reason: str) -> None:
    _, p1, _, _ = released(people, acme)
    deployments.deploy_to_staging(acme.v1, actor=bob(people))  # something to promote
    before, audit = snapshot(), AuditEvent.objects.count()

    with pytest.raises(Invalid) as refused:
        deployments.promote(acme.course, actor=alice(people), reason=reason)
    assert refused.value.code == "reason_required"
    assert refused.value.status == 422
    with pytest.raises(Invalid) as refused:
        deployments.rollback(acme.course, "production", p1, actor=alice(people), reason=reason)
    assert refused.value.code == "reason_required"
    assert snapshot() == before
    assert AuditEvent.objects.count() == audit


def test_a_reason_has_a_length_limit(people: People, acme: Acme) -> None:
    deployments.deploy_to_staging(acme.v1, actor=bob(people))
    with pytest.raises(Invalid) as refused:
        deployments.promote(acme.course, actor=alice(people), reason="x" * 501)
    assert refused.value.code == "reason_too_long"
    deployments.promote(acme.course, actor=alice(people), reason="x" * 500)


def test_only_approved_or_published_versions_deploy(people: People, acme: Acme) -> None:
    # a draft and a version in review are refused
    draft = actions.start_new_draft(acme.course, actor=bob(people))
    for version in (draft, actions.submit_for_review(draft, actor=bob(people))):
        with pytest.raises(Conflict) as refused:
            deployments.deploy_to_staging(version, actor=bob(people))
        assert refused.value.code == "not_approved"
    assert not Deployment.objects.exists()
    # a published version deploys like an approved one
    published = actions.publish_version(acme.v1, actor=bob(people))
    assert deployments.deploy_to_staging(published, actor=bob(people)).version_id == acme.v1.pk


def test_moves_that_change_nothing_are_refused(people: People, acme: Acme) -> None:
    with pytest.raises(Conflict) as empty:
        deployments.promote(acme.course, actor=alice(people), reason="go")
    assert empty.value.code == "staging_empty"
    d1 = deployments.deploy_to_staging(acme.v1, actor=bob(people))
    with pytest.raises(Conflict) as same:
        deployments.deploy_to_staging(acme.v1, actor=bob(people))
    assert same.value.code == "already_deployed"
    deployments.promote(acme.course, actor=alice(people), reason="go")
    with pytest.raises(Conflict) as again:
        deployments.promote(acme.course, actor=alice(people), reason="go again")
    assert again.value.code == "already_in_production"
    with pytest.raises(Conflict) as current:
        deployments.rollback(acme.course, "staging", d1, actor=bob(people), reason="undo")
    assert current.value.code == "already_current"
    assert Deployment.objects.count() == 2


def test_rollback_target_must_be_in_that_channels_history(people: People, acme: Acme) -> None:
    d1, p1, _, _ = released(people, acme)
    other = make_acme(people, "Other course")
    elsewhere = deployments.deploy_to_staging(other.v1, actor=bob(people))
    count = Deployment.objects.count()
    # a staging step is not production's history, nor the other way round
    with pytest.raises(Invalid) as wrong_channel:
        deployments.rollback(acme.course, "production", d1, actor=alice(people), reason="x")
    assert wrong_channel.value.code == "not_in_history"
    with pytest.raises(Invalid):
        deployments.rollback(acme.course, "staging", p1, actor=alice(people), reason="x")
    # another course's step is not this course's history
    with pytest.raises(Invalid) as wrong_course:
        deployments.rollback(acme.course, "staging", elsewhere, actor=alice(people),
                             reason="x")
    assert wrong_course.value.code == "not_in_history"
    with pytest.raises(Invalid) as unknown:
        deployments.rollback(acme.course, "preview", d1, actor=alice(people), reason="x")
    assert unknown.value.code == "unknown_channel"
    assert Deployment.objects.count() == count


# --- concurrency ----------------------------------------------------------------------------


def test_of_two_concurrent_promoters_only_one_wins(people: People, acme: Acme,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # given v1 in production and v2 in staging, and a second promoter who read production
    # (v1) before the first one promoted
    deployments.deploy_to_staging(acme.v1, actor=bob(people))
    deployments.promote(acme.course, actor=alice(people), reason="v1")
    deployments.deploy_to_staging(acme.v2, actor=bob(people))
    stale = {name: deployments._current(acme.course, name) for name in ("staging",
                                                                       "production")}
    winner = deployments.promote(acme.course, actor=alice(people), reason="first")
    steps, audit = Deployment.objects.count(), AuditEvent.objects.count()

    # when the second promoter's conditional update runs with what it read
    monkeypatch.setattr(deployments, "_current", lambda course, name: stale[name])
    with pytest.raises(Conflict) as lost:
        deployments.promote(acme.course, actor=alice(people), reason="second")

    # then it loses: 409 conflict, no history row, no audit row, production unchanged
    assert lost.value.code == "conflict"
    assert lost.value.status == 409
    assert Deployment.objects.count() == steps
    assert AuditEvent.objects.count() == audit
    assert DeliveryChannel.objects.get(course=acme.course, name="production").current == winner


def test_the_first_deploy_creates_the_channel_once(people: People, acme: Acme,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # given a deployer who saw staging empty while another created the channel
    deployments.deploy_to_staging(acme.v1, actor=bob(people))
    monkeypatch.setattr(deployments, "_current", lambda course, name: None)
    with pytest.raises(Conflict) as lost:
        deployments.deploy_to_staging(acme.v2, actor=bob(people))
    assert lost.value.code == "conflict"
    assert DeliveryChannel.objects.filter(course=acme.course).count() == 1
    assert Deployment.objects.count() == 1


def test_promote_refuses_when_staging_moved_since_it_was_seen(people: People,
                                                             acme: Acme) -> None:
    seen = deployments.deploy_to_staging(acme.v1, actor=bob(people))
    deployments.deploy_to_staging(acme.v2, actor=bob(people))
    with pytest.raises(Conflict) as moved:
        deployments.promote(acme.course, actor=alice(people), reason="v1 is good",
                            expected_staging=seen)
    assert moved.value.code == "staging_changed"
    assert serves(acme.course)["production"] is None


# --- who may ----------------------------------------------------------------------------


def _actor(people: People, who: str) -> Actor:
    return {"alice": Actor.person(people.alice), "bob": Actor.person(people.bob),
            "rita": Actor.person(people.rita), "mallory": Actor.person(people.mallory),
            "key": Actor.key(ApiKey.objects.get(org=people.acme)),
            "globex_key": Actor.key(ApiKey.objects.get(org=people.globex)),
            "system": Actor.system(Channel.CLI)}[who]


@pytest.mark.parametrize(("who", "allowed"), [
    ("alice", True), ("bob", True), ("key", True), ("rita", False), ("mallory", False),
    ("globex_key", False), ("system", False)])
def test_who_deploys_to_and_rolls_back_staging(people: People, acme: Acme, who: str,
                                               allowed: bool) -> None:
    actor = _actor(people, who)
    if not allowed:
        with pytest.raises(Forbidden):
            deployments.deploy_to_staging(acme.v1, actor=actor)
        return
    d1 = deployments.deploy_to_staging(acme.v1, actor=actor)
    deployments.deploy_to_staging(acme.v2, actor=actor)
    assert deployments.rollback(acme.course, "staging", d1, actor=actor,
                                reason="back").version_id == acme.v1.pk


@pytest.mark.parametrize(("who", "allowed"), [
    ("alice", True), ("bob", False), ("key", False), ("rita", False), ("mallory", False),
    ("system", False)])
def test_only_owners_and_admins_move_production(people: People, acme: Acme, who: str,
                                                allowed: bool) -> None:
    deployments.deploy_to_staging(acme.v1, actor=bob(people))
    actor = _actor(people, who)
    if allowed:
        p1 = deployments.promote(acme.course, actor=actor, reason="release")
        deployments.deploy_to_staging(acme.v2, actor=bob(people))
        deployments.promote(acme.course, actor=actor, reason="release 2")
        deployments.rollback(acme.course, "production", p1, actor=actor, reason="back")
        return
    with pytest.raises(Forbidden) as refused:
        deployments.promote(acme.course, actor=actor, reason="release")
    if who in ("key", "system"):
        assert refused.value.code == "person_required"
    p1 = deployments.promote(acme.course, actor=alice(people), reason="release")
    deployments.deploy_to_staging(acme.v2, actor=bob(people))
    deployments.promote(acme.course, actor=alice(people), reason="release 2")
    with pytest.raises(Forbidden):
        deployments.rollback(acme.course, "production", p1, actor=actor, reason="back")
    assert serves(acme.course)["production"] == 2


def test_an_admin_moves_production(people: People, acme: Acme) -> None:
    from coursewright.orgs.models import Membership

    Membership.objects.filter(org=people.acme, user=people.bob).update(role="admin")
    deployments.deploy_to_staging(acme.v1, actor=bob(people))
    assert deployments.promote(acme.course, actor=bob(people), reason="ok").channel == \
        "production"


# --- the API ------------------------------------------------------------------------------


def test_api_path_with_history_and_errors(people: People, acme: Acme) -> None:
    key, owner = key_client(people.acme_key), client_for(people.alice)
    course_url = f"/api/v1/courses/{acme.course.pk}"

    # the API key deploys v1 and v2 to staging (a body is optional)
    deployed = key.post(f"/api/v1/versions/{acme.v1.pk}/deploy")
    assert deployed.status_code == 201, deployed.content
    assert deployed.json()["channel"] == "staging"
    assert deployed.json()["actor"].startswith("api-key:")

    # but cannot promote
    refused = key.post(f"{course_url}/promote", {"reason": "go"},
                       content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "person_required"

    # Alice cannot promote without a reason, or with only spaces
    for body in ({"reason": ""}, {"reason": "   "}):
        refused = owner.post(f"{course_url}/promote", body, content_type="application/json")
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "reason_required"
    assert owner.post(f"{course_url}/promote", {}, content_type="application/json"
                      ).status_code == 422

    # with one she promotes, naming the staging deployment she saw
    staged = deployed.json()["id"]
    promoted = owner.post(f"{course_url}/promote",
                          {"reason": "First release", "staging_deployment_id": staged},
                          content_type="application/json")
    assert promoted.status_code == 201, promoted.content
    assert promoted.json()["source_deployment_id"] == staged
    p1 = promoted.json()["id"]
    assert key.post(f"/api/v1/versions/{acme.v2.pk}/deploy", {"reason": "v2"},
                    content_type="application/json").status_code == 201
    stale = owner.post(f"{course_url}/promote",
                       {"reason": "late", "staging_deployment_id": staged},
                       content_type="application/json")
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "staging_changed"
    assert owner.post(f"{course_url}/promote", {"reason": "v2 out"},
                      content_type="application/json").status_code == 201

    # rollback needs its reason too, and a target in that channel's history
    body = {"channel": "production", "deployment_id": p1, "reason": " "}
    refused = owner.post(f"{course_url}/rollback", body, content_type="application/json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "reason_required"
    refused = owner.post(f"{course_url}/rollback",
                         {**body, "channel": "staging", "reason": "undo"},
                         content_type="application/json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "not_in_history"
    rolled = owner.post(f"{course_url}/rollback", {**body, "reason": "undo v2"},
                        content_type="application/json")
    assert rolled.status_code == 201, rolled.content
    assert (rolled.json()["from_version_number"], rolled.json()["version_number"]) == (2, 1)

    # then the listing shows both channels and the history, newest first
    listing = key.get(f"{course_url}/deployments").json()
    assert {c["name"]: c["current"]["version_number"] for c in listing["channels"]} == {
        "staging": 2, "production": 1}
    assert listing["history_count"] == 5
    assert [(h["action"], h["reason"]) for h in listing["history"]] == [
        ("rollback", "undo v2"), ("promote", "v2 out"), ("deploy", "v2"),
        ("promote", "First release"), ("deploy", "")]
    page = key.get(f"{course_url}/deployments?limit=2&offset=1").json()
    assert [h["action"] for h in page["history"]] == ["promote", "deploy"]


def test_api_refuses_unapproved_versions_and_other_courses_targets(people: People,
                                                                  acme: Acme) -> None:
    owner = client_for(people.alice)
    draft = actions.start_new_draft(acme.course, actor=bob(people))
    refused = owner.post(f"/api/v1/versions/{draft.pk}/deploy")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_approved"
    other = make_acme(people, "Other")
    theirs = deployments.deploy_to_staging(other.v1, actor=bob(people))
    deployments.deploy_to_staging(acme.v1, actor=bob(people))
    refused = owner.post(f"/api/v1/courses/{acme.course.pk}/rollback",
                         {"channel": "staging", "deployment_id": theirs.pk, "reason": "x"},
                         content_type="application/json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "not_in_history"


def test_api_roles(people: People, acme: Acme) -> None:
    rita, bob_api = client_for(people.rita), client_for(people.bob)
    url = f"/api/v1/versions/{acme.v1.pk}/deploy"
    assert rita.post(url).status_code == 403
    assert bob_api.post(url).status_code == 201
    refused = bob_api.post(f"/api/v1/courses/{acme.course.pk}/promote", {"reason": "go"},
                           content_type="application/json")
    assert refused.status_code == 403
    # any member reads the history
    assert rita.get(f"/api/v1/courses/{acme.course.pk}/deployments").status_code == 200


def test_mallory_sees_nothing_of_acmes_deployments(people: People, acme: Acme) -> None:
    d1, p1, _, _ = released(people, acme)
    course = acme.course.pk
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        for method, url, body in [
            ("get", f"/api/v1/courses/{course}/deployments", None),
            ("get", f"/api/v1/courses/{course}/deployments?format=csv", None),
            ("get", f"/api/v1/courses/{course}/deployments?format=json", None),
            ("post", f"/api/v1/versions/{acme.v1.pk}/deploy", None),
            ("post", f"/api/v1/courses/{course}/promote", {"reason": "x"}),
            ("post", f"/api/v1/courses/{course}/rollback",
             {"channel": "production", "deployment_id": p1.pk, "reason": "x"}),
        ]:
            response = (client.get(url) if method == "get" else client.post(
                url, json.dumps(body or {}), content_type="application/json"))
            assert response.status_code == 404, (url, response.status_code)
            assert response.json()["error"]["code"] == "not_found"
    # nor can she roll her own course back to one of Acme's deployments
    globex = approve_globex(people)
    deployments.deploy_to_staging(globex, actor=Actor.person(people.mallory))
    response = client_for(people.mallory).post(
        f"/api/v1/courses/{globex.course_id}/rollback",
        {"channel": "staging", "deployment_id": d1.pk, "reason": "x"},
        content_type="application/json")
    assert response.status_code == 404
    # and Acme's pages are 404 for her
    mallory = client_for(people.mallory)
    base = f"/o/acme/courses/{course}/deployments/"
    for url in (base, f"{base}export.csv", f"{base}export.json",
                f"{base}rollback/?to={p1.pk}"):
        assert mallory.get(url).status_code == 404, url
    for url in (f"{base}deploy/", f"{base}promote/", f"{base}rollback/"):
        assert mallory.post(url, {"version": acme.v1.pk, "to": p1.pk,
                                  "promote-reason": "x"}).status_code == 404, url
    assert serves(acme.course) == {"staging": 2, "production": 2}


def approve_globex(people: People) -> CourseVersion:
    """A Globex course approved by a second Globex member (the submitter cannot)."""
    from coursewright.accounts.models import User
    from coursewright.orgs.actions import add_member

    reviewer = User.objects.create_user("rex@globex.test", "x" * 20, display_name="Rex")
    add_member(people.globex, reviewer, "reviewer", actor=Actor.system(Channel.CLI))
    mallory = Actor.person(people.mallory)
    version = actions.create_course(people.globex, content=content("Cypress"), actor=mallory)
    version = actions.submit_for_review(version, actor=mallory)
    return actions.approve_version(version, actor=Actor.person(reviewer),
                                   confirm_unsupported=True)


# --- exports ------------------------------------------------------------------------------


def _body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def test_history_exports_as_csv_and_json(people: People, acme: Acme) -> None:
    deployments.deploy_to_staging(acme.v1, actor=bob(people))
    deployments.promote(acme.course, actor=alice(people), reason="=HYPERLINK(\"x\"), v1")
    rita = client_for(people.rita)  # any member may export
    for url in (f"/api/v1/courses/{acme.course.pk}/deployments?format=csv",
                f"/o/acme/courses/{acme.course.pk}/deployments/export.csv"):
        response = rita.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/csv")
        assert response["Content-Disposition"].startswith("attachment;")
        rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
        assert [(r["channel"], r["action"], r["from_version"], r["to_version"], r["actor"])
                for r in rows] == [("production", "promote", "", "1", "alice@acme.test"),
                                   ("staging", "deploy", "", "1", "bob@acme.test")]
        # a reason that looks like a formula is quoted as text
        assert rows[0]["reason"] == "'=HYPERLINK(\"x\"), v1"
        assert rows[0]["time_utc"].endswith("+00:00")
    for url in (f"/api/v1/courses/{acme.course.pk}/deployments?format=json",
                f"/o/acme/courses/{acme.course.pk}/deployments/export.json"):
        response = rita.get(url)
        assert response.status_code == 200, url
        assert response["Content-Disposition"].startswith("attachment;")
        data = json.loads(_body(response))
        assert data["course_id"] == acme.course.pk
        assert [(h["action"], h["from_version"], h["to_version"], h["actor"], h["reason"])
                for h in data["history"]] == [
            ("promote", None, 1, "alice@acme.test", "=HYPERLINK(\"x\"), v1"),
            ("deploy", None, 1, "bob@acme.test", "")]
    exports = AuditEvent.objects.filter(action="deployment_history.exported")
    assert sorted(e.after["format"] for e in exports) == ["csv", "csv", "json", "json"]
    assert bad_format(rita, acme).status_code == 422


def bad_format(client: Client, acme: Acme) -> Any:
    return client.get(f"/api/v1/courses/{acme.course.pk}/deployments?format=xlsx")


# --- deletion and the organisation export ------------------------------------------------------


def test_deleting_a_course_with_deployments_works(people: People, acme: Acme) -> None:
    released(people, acme)
    other = make_acme(people, "Kept")
    kept = deployments.deploy_to_staging(other.v1, actor=bob(people))

    receipt = delete_course(acme.course, actor=alice(people), reason="retired")

    assert receipt.counts["deployments"] == 4
    assert receipt.counts["versions"] == 2
    assert not Deployment.objects.filter(course_id=acme.course.pk).exists()
    assert not DeliveryChannel.objects.filter(course_id=acme.course.pk).exists()
    assert not CourseVersion.objects.filter(course_id=acme.course.pk).exists()
    assert list(Deployment.objects.all()) == [kept]
    assert AuditEvent.objects.get(action="deletion.course").after["counts"][
        "deployments"] == 4


def test_deleting_a_course_from_the_page_with_deployments_works(people: People,
                                                                acme: Acme) -> None:
    released(people, acme)
    response = client_for(people.bob).post(
        f"/o/acme/courses/{acme.course.pk}/delete/", {"confirm": "yes"})
    assert response.status_code == 302
    assert not Course.objects.filter(pk=acme.course.pk).exists()


def test_a_receipt_without_deployments_does_not_count_them(people: People,
                                                            acme: Acme) -> None:
    receipt = delete_course(acme.course, actor=alice(people))
    assert "deployments" not in receipt.counts


def test_deleting_an_organisation_with_deployments_works(people: People, acme: Acme) -> None:
    released(people, acme)
    acme_id = people.acme.pk
    receipt = delete_organisation(people.acme, actor=alice(people), confirm="acme")
    assert receipt.counts["deployments"] == 4
    assert not Organisation.objects.filter(pk=acme_id).exists()
    assert not Deployment.objects.filter(org_id=acme_id).exists()
    assert not DeliveryChannel.objects.filter(org_id=acme_id).exists()


def test_the_org_export_holds_the_deployment_history(people: People, acme: Acme) -> None:
    d1, p1, d2, p2 = released(people, acme)
    archive = zipfile.ZipFile(io.BytesIO(export_organisation(people.acme,
                                                             actor=alice(people))))
    data = json.loads(archive.read("organisation.json"))
    [course] = data["courses"]
    assert course["channels"] == {"staging": d2.pk, "production": p2.pk}
    assert [(d["id"], d["channel"], d["action"], d["from_version_number"],
             d["version_number"], d["actor"], d["reason"]) for d in course["deployments"]] == [
        (d1.pk, "staging", "deploy", None, 1, "bob@acme.test", ""),
        (p1.pk, "production", "promote", None, 1, "alice@acme.test", "First release"),
        (d2.pk, "staging", "deploy", 1, 2, "bob@acme.test", "fire drill screen"),
        (p2.pk, "production", "promote", 1, 2, "alice@acme.test", "Adds the fire drill"),
    ]
    assert data["counts"]["deployments"] == 4


# --- the dashboard ----------------------------------------------------------------------------


def _page(client: Client, acme: Acme, suffix: str = "", **data: Any) -> Any:
    url = f"/o/acme/courses/{acme.course.pk}/deployments/{suffix}"
    return client.post(url, data) if data else client.get(url)


def test_page_path_deploy_promote_rollback(people: People, acme: Acme) -> None:
    bob_web, alice_web = client_for(people.bob), client_for(people.alice)

    # the course page links to the deployments
    course_page = alice_web.get(f"/o/acme/courses/{acme.course.pk}/").content.decode()
    assert f"/o/acme/courses/{acme.course.pk}/deployments/" in course_page

    # Bob deploys v1 to staging from the page; he is offered no promotion
    page = _page(bob_web, acme).content.decode()
    assert "Deploy version 1 to staging" in page
    assert "Deploy version 2 to staging" in page
    response = _page(bob_web, acme, "deploy/", version=acme.v1.pk)
    assert response.status_code == 302
    page = _page(bob_web, acme).content.decode()
    assert "Only owners and admins can promote it to production." in page
    assert 'name="promote-reason"' not in page
    assert _page(bob_web, acme, "promote/", **{"promote-reason": "go"}).status_code == 403

    # Alice's promotion without a reason (or with only spaces) comes back with the error
    page = _page(alice_web, acme).content.decode()
    staged = Deployment.objects.get(channel="staging").pk
    assert f'name="promote-staging_deployment" value="{staged}"' in page
    for reason in ("", "   "):
        response = _page(alice_web, acme, "promote/", **{
            "promote-reason": reason, "promote-staging_deployment": staged})
        assert response.status_code == 422
        body = response.content.decode()
        assert 'class="error-summary" role="alert"' in body
        assert 'href="#id_promote-reason"' in body
        assert "Give a reason" in body
    assert not Deployment.objects.filter(channel="production").exists()

    # with a reason it works
    response = _page(alice_web, acme, "promote/", **{
        "promote-reason": "First release", "promote-staging_deployment": staged})
    assert response.status_code == 302
    assert serves(acme.course) == {"staging": 1, "production": 1}
    p1 = Deployment.objects.get(channel="production")

    # v2 goes the same way; the history shows who, when, from → to and why
    _page(bob_web, acme, "deploy/", version=acme.v2.pk)
    staged = deployments.current_deployments(acme.course)["staging"]
    assert staged is not None
    _page(alice_web, acme, "promote/", **{"promote-reason": "Fire drill",
                                          "promote-staging_deployment": staged.pk})
    page = _page(alice_web, acme).content.decode()
    assert "First release" in page
    assert "Fire drill" in page
    assert "alice@acme.test" in page
    assert "bob@acme.test" in page
    assert f"rollback/?to={p1.pk}" in page

    # rolling back asks for a reason on its own page
    confirm = _page(alice_web, acme, f"rollback/?to={p1.pk}")
    assert confirm.status_code == 200
    assert "Roll back production to version 1" in confirm.content.decode()
    response = _page(alice_web, acme, "rollback/", to=p1.pk, **{"rollback-reason": "  "})
    assert response.status_code == 422
    assert "Give a reason" in response.content.decode()
    response = _page(alice_web, acme, "rollback/", to=p1.pk,
                     **{"rollback-reason": "Typo in v2"})
    assert response.status_code == 302
    assert serves(acme.course) == {"staging": 2, "production": 1}
    assert Deployment.objects.first().reason == "Typo in v2"  # type: ignore[union-attr]


def test_page_roles_and_refusals(people: People, acme: Acme) -> None:
    d1, p1, _, _ = released(people, acme)
    rita_web, bob_web = client_for(people.rita), client_for(people.bob)
    # Rita reads the page but is offered nothing to change
    page = _page(rita_web, acme).content.decode()
    assert "Deploy version" not in page
    assert "Roll back to this" not in page
    assert _page(rita_web, acme, "deploy/", version=acme.v1.pk).status_code == 403
    # Bob may roll back staging, not production
    page = _page(bob_web, acme).content.decode()
    assert f"rollback/?to={d1.pk}" in page
    assert f"rollback/?to={p1.pk}" not in page
    assert _page(bob_web, acme, f"rollback/?to={p1.pk}").status_code == 403
    assert _page(bob_web, acme, "rollback/", to=p1.pk,
                 **{"rollback-reason": "x"}).status_code == 403
    # a draft cannot be deployed (the page says why, with its status)
    draft = actions.start_new_draft(acme.course, actor=bob(people))
    response = _page(bob_web, acme, "deploy/", version=draft.pk)
    assert response.status_code == 409
    assert "only an approved or published version can be deployed" in \
        response.content.decode()
    # another course's deployment is not found under this course
    other = make_acme(people, "Other")
    theirs = deployments.deploy_to_staging(other.v1, actor=bob(people))
    assert _page(client_for(people.alice), acme, f"rollback/?to={theirs.pk}"
                 ).status_code == 404
    # the rollback page without a target sends you back to the history
    assert _page(bob_web, acme, "rollback/").status_code == 302


def test_page_refuses_to_promote_what_was_not_seen(people: People, acme: Acme) -> None:
    # given Alice's page showing v1 in staging, and Bob deploying v2 before she submits
    seen = deployments.deploy_to_staging(acme.v1, actor=bob(people))
    alice_web = client_for(people.alice)
    assert f'value="{seen.pk}"' in _page(alice_web, acme).content.decode()
    now = deployments.deploy_to_staging(acme.v2, actor=bob(people))

    # when she promotes what she saw
    response = _page(alice_web, acme, "promote/", **{
        "promote-reason": "v1 checked", "promote-staging_deployment": seen.pk})

    # then nothing is promoted; the page says why and now offers what staging serves
    assert response.status_code == 409
    body = response.content.decode()
    assert "Staging changed while you were deciding" in body
    assert f'name="promote-staging_deployment" value="{now.pk}"' in body
    assert serves(acme.course)["production"] is None

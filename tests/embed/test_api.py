"""The embed API (/api/v1/embed: exchange, refresh, revoke) and embed tokens on the course
endpoints: scopes, courses, cross-organisation denial, refresh rotation and reuse
detection, revocation on the very next request, audit rows, privacy hooks, no cookies."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, cast

import pytest
from django.test import Client
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.courses import actions as course_actions
from coursewright.courses.models import CourseVersion, VersionState
from coursewright.embed import actions
from coursewright.embed.auth import authenticate_embed_token
from coursewright.embed.models import EmbedAccessToken, EmbedFamily, EmbedRefreshToken
from coursewright.orgs import actions as org_actions
from coursewright.orgs.models import ApiKey
from tests.conftest import People, client_for, key_client
from tests.delivery.test_licenses_fixtures import parts
from tests.embed.helpers import Courses, bearer, exchange, mint, post_json, reason, refresh

SCREEN = {"title": "Exits", "blocks": [{"type": "text", "id": "b1",
                                        "markdown": "Keep every exit clear."}]}


def course_url(course: Any) -> str:
    return f"/api/v1/courses/{course.pk}"


def edit(token: str, version: CourseVersion) -> Any:
    return bearer(token).put(f"/api/v1/versions/{version.pk}/screens/s1",
                             data=json.dumps(SCREEN), content_type="application/json")


def approve(client: Client, version: CourseVersion) -> Any:
    return post_json(client, f"/api/v1/versions/{version.pk}/approve",
                     {"confirm_unsupported": True})


def revoke(key: str, **body: Any) -> Any:
    return post_json(key_client(key), "/api/v1/embed/revoke", body)


def in_review(version: CourseVersion, people: People) -> CourseVersion:
    return course_actions.submit_for_review(version, actor=Actor.person(people.bob))


def audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- the exchange -------------------------------------------------------------------------


def test_the_exchange_answers_a_token_pair_and_audits_it(people: People,
                                                         courses: Courses) -> None:
    response = exchange(people.acme_key, user="u-1001", scope="learner",
                        courses=[courses.acme.pk, courses.acme.pk])
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    data = response.json()
    assert data["token_type"] == "Bearer"
    assert (data["expires_in"], data["refresh_expires_in"], data["scope"]) == (
        3600, 86400, "learner")
    assert data["refresh_token"].startswith("cwr_")
    family = EmbedFamily.objects.get()
    assert family.courses == [str(courses.acme.uid)]  # once, however often named
    # the refresh token is stored only as its SHA-256; the user only sealed and hashed
    stored = EmbedRefreshToken.objects.get()
    assert stored.token_hash == hashlib.sha256(data["refresh_token"].encode()).hexdigest()
    assert family.subject == "u-1001"
    sealed, digest = EmbedFamily.objects.values_list("subject", "subject_digest").get()
    assert b"u-1001" not in bytes(cast(Any, sealed).blob)  # a _Raw: the stored ciphertext
    assert "u-1001" not in digest
    (event,) = audit("embed.token_issued")
    assert event.org_id == people.acme.pk
    assert event.actor_api_key_id == ApiKey.objects.get(org=people.acme).pk
    assert event.after["user"] == "u-1001"
    assert event.after["scope"] == "learner"
    assert event.after["jti"] == parts(data["access_token"])[1]["jti"]


@pytest.mark.parametrize(("body", "code"), [
    ({"user": "alice@acme.test"}, "personal_data"),
    ({"user": "Alice Smith"}, "bad_user"),
    ({"user": ""}, "bad_user"),
    ({"user": "x" * 129}, "bad_user"),
    ({"scope": "owner"}, "invalid"),
    ({"scope": "learner", "courses": "*"}, "bad_courses"),
    ({"scope": "reviewer", "courses": "*"}, "bad_courses"),
    ({"courses": []}, "bad_courses"),
    ({"courses": list(range(1, 52))}, "bad_courses"),
    ({"courses": "all"}, "invalid"),
    ({"courses": [2**70]}, "invalid"),
    ({"courses": [0]}, "invalid"),
    ({"ttl": 3 * 3600 + 1}, "bad_ttl"),
])
def test_bad_exchanges_are_refused_clearly(people: People, courses: Courses,
                                           body: dict[str, Any], code: str) -> None:
    request = {"user": "u-1", "scope": "author", "courses": [courses.acme.pk], **body}
    response = exchange(people.acme_key, **request)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert not EmbedFamily.objects.exists()


def test_mallorys_key_cannot_mint_for_acme_courses(people: People, courses: Courses) -> None:
    for wanted in ([courses.acme.pk], [courses.globex.pk, courses.acme.pk], [999_999]):
        response = exchange(people.globex_key, user="u-1", scope="author", courses=wanted)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert not EmbedFamily.objects.exists()
    assert exchange(people.globex_key, user="u-1", scope="author",
                    courses=[courses.globex.pk]).status_code == 200


def test_only_an_api_key_exchanges(people: People, courses: Courses) -> None:
    body = {"user": "u-1", "scope": "author", "courses": "*"}
    # not a signed-in owner, not an embed token, not anonymous
    token = mint(people.acme_key)["access_token"]
    for client in (client_for(people.alice), bearer(token), Client()):
        response = post_json(client, "/api/v1/embed/token", body)
        assert response.status_code == 401
    revoked = ApiKey.objects.get(org=people.acme)
    org_actions.revoke_api_key(revoked, actor=Actor.person(people.alice))
    assert exchange(people.acme_key, **body).status_code == 401


# --- scopes and courses on the course endpoints ---------------------------------------------


def test_each_scope_reads_its_courses_only(people: People, courses: Courses) -> None:
    for scope in ("author", "reviewer", "learner"):
        token = mint(people.acme_key, scope=scope, courses=[courses.acme.pk])["access_token"]
        client = bearer(token)
        assert client.get(course_url(courses.acme)).status_code == 200, scope
        # another course of the same organisation is not there for this token
        other = client.get(course_url(courses.acme_other))
        assert other.status_code == 404, scope
        listed = client.get("/api/v1/courses").json()
        assert [c["id"] for c in listed["items"]] == [courses.acme.pk]


def test_an_author_star_token_reaches_every_course_of_its_organisation_only(
        people: People, courses: Courses) -> None:
    client = bearer(mint(people.acme_key, scope="author", courses="*")["access_token"])
    assert client.get(course_url(courses.acme)).status_code == 200
    assert client.get(course_url(courses.acme_other)).status_code == 200
    assert client.get(course_url(courses.globex)).status_code == 404
    assert client.get("/api/v1/courses").json()["count"] == 2


def test_mallorys_token_cannot_read_acme_courses(people: People, courses: Courses) -> None:
    star = mint(people.globex_key, scope="author", courses="*")["access_token"]
    own = mint(people.globex_key, scope="learner", courses=[courses.globex.pk])["access_token"]
    for token in (star, own):
        client = bearer(token)
        assert client.get(course_url(courses.acme)).status_code == 404
        assert client.get(f"/api/v1/versions/{courses.acme_draft.pk}").status_code == 404
        assert edit(token, courses.acme_draft).status_code == 404
        assert client.get(course_url(courses.globex)).status_code == 200


def test_a_token_naming_another_orgs_course_is_refused(people: People,
                                                       courses: Courses) -> None:
    # given Mallory's token with Acme's course uid written into it (signed by us, so
    # only the organisation check can refuse it)
    from coursewright.delivery import signing

    token = mint(people.globex_key, scope="author",
                 courses=[courses.globex.pk])["access_token"]
    _, claims, _ = parts(token)
    forged = signing.sign({**claims, "courses": [str(courses.acme.uid)]})[0]
    assert bearer(forged).get(course_url(courses.acme)).status_code == 404
    # nor can it pass for an Acme token by naming Acme
    renamed = signing.sign({**claims, "org": "acme"})[0]
    response = bearer(renamed).get(course_url(courses.acme))
    assert response.status_code == 401
    assert reason(response) == "revoked"


def test_a_learner_token_cannot_author(people: People, courses: Courses) -> None:
    token = mint(people.acme_key, scope="learner", courses=[courses.acme.pk])["access_token"]
    response = bearer(token).post(f"{course_url(courses.acme)}/drafts")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert "learner" in response.json()["error"]["message"]
    # a draft is not even there for a learner, so editing it is a 404
    assert edit(token, courses.acme_draft).status_code == 404
    assert bearer(token).get(f"/api/v1/versions/{courses.acme_draft.pk}").status_code == 404
    assert CourseVersion.objects.get(pk=courses.acme_draft.pk).content["screens"][0][
        "title"] == "Exits"
    assert courses.acme.versions.count() == 1


def test_a_reviewer_token_cannot_author(people: People, courses: Courses) -> None:
    token = mint(people.acme_key, scope="reviewer", courses=[courses.acme.pk])["access_token"]
    assert bearer(token).get(f"/api/v1/versions/{courses.acme_draft.pk}").status_code == 200
    response = edit(token, courses.acme_draft)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


def test_an_author_token_edits_and_the_audit_names_the_partners_user(
        people: People, courses: Courses) -> None:
    token = mint(people.acme_key, user="editor-7", scope="author",
                 courses=[courses.acme.pk])["access_token"]
    response = edit(token, courses.acme_draft)
    assert response.status_code == 200, response.content
    assert response.json()["content"]["screens"][0]["blocks"][0]["markdown"] == (
        "Keep every exit clear.")
    (event,) = audit("version.screen_edited")
    assert event.actor_label == "embed-user:editor-7"
    assert event.actor_api_key_id == ApiKey.objects.get(org=people.acme).pk


def test_learners_read_only_approved_versions(people: People, courses: Courses) -> None:
    token = mint(people.acme_key, scope="learner", courses=[courses.acme.pk])["access_token"]
    url = f"/api/v1/versions/{courses.acme_draft.pk}"
    assert bearer(token).get(url).status_code == 404
    CourseVersion.objects.filter(pk=courses.acme_draft.pk).update(state=VersionState.PUBLISHED)
    assert bearer(token).get(url).status_code == 200


# --- approval --------------------------------------------------------------------------------


def test_the_api_key_itself_cannot_approve(people: People, courses: Courses) -> None:
    version = in_review(courses.acme_draft, people)
    response = approve(key_client(people.acme_key), version)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "person_required"
    assert CourseVersion.objects.get(pk=version.pk).state == VersionState.IN_REVIEW


@pytest.mark.parametrize(("scope", "status", "code"), [
    ("author", 403, "insufficient_scope"),
    ("learner", 404, "not_found"),  # a version in review is not there for a learner
])
def test_only_a_reviewer_token_approves(people: People, courses: Courses, scope: str,
                                        status: int, code: str) -> None:
    version = in_review(courses.acme_draft, people)
    token = mint(people.acme_key, scope=scope, courses=[courses.acme.pk])["access_token"]
    response = approve(bearer(token), version)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert CourseVersion.objects.get(pk=version.pk).state == VersionState.IN_REVIEW


def test_a_reviewer_token_approves(people: People, courses: Courses) -> None:
    version = in_review(courses.acme_draft, people)
    token = mint(people.acme_key, user="rev-3", scope="reviewer",
                 courses=[courses.acme.pk])["access_token"]
    response = approve(bearer(token), version)
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "approved"
    assert response.json()["approved_via"] == "api"
    (event,) = audit("version.approved")
    assert event.actor_label == "embed-user:rev-3"
    assert event.after["approved_by"] == "embed-user:rev-3"


def test_a_partner_user_cannot_approve_their_own_submission(people: People,
                                                            courses: Courses) -> None:
    author = mint(people.acme_key, user="same-9", scope="author",
                  courses=[courses.acme.pk])["access_token"]
    submitted = bearer(author).post(f"/api/v1/versions/{courses.acme_draft.pk}/submit")
    assert submitted.status_code == 200
    assert submitted.json()["submitted_by"] == "embed-user:same-9"
    reviewer = mint(people.acme_key, user="same-9", scope="reviewer",
                    courses=[courses.acme.pk])["access_token"]
    response = approve(bearer(reviewer), courses.acme_draft)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "own_submission"
    other = mint(people.acme_key, user="other-2", scope="reviewer",
                 courses=[courses.acme.pk])["access_token"]
    assert approve(bearer(other), courses.acme_draft).status_code == 200


def test_a_reviewer_token_cannot_approve_another_course(people: People,
                                                        courses: Courses) -> None:
    version = in_review(courses.acme_draft, people)
    token = mint(people.acme_key, scope="reviewer",
                 courses=[courses.acme_other.pk])["access_token"]
    assert approve(bearer(token), version).status_code == 404


# --- refresh ----------------------------------------------------------------------------------


def test_refresh_rotates_the_pair(people: People, courses: Courses) -> None:
    first = mint(people.acme_key, user="u-5", scope="learner", courses=[courses.acme.pk],
                 ttl=600)
    response = refresh(first["refresh_token"])
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 600  # the lifetime the partner asked for
    old_claims, new_claims = parts(first["access_token"])[1], parts(second["access_token"])[1]
    assert new_claims["fam"] == old_claims["fam"]
    assert new_claims["jti"] != old_claims["jti"]
    for name in ("sub", "org", "scope", "courses", "key"):
        assert new_claims[name] == old_claims[name]
    assert bearer(second["access_token"]).get(course_url(courses.acme)).status_code == 200
    # the old access token lives on until it expires: rotation is not revocation
    assert bearer(first["access_token"]).get(course_url(courses.acme)).status_code == 200
    (event,) = audit("embed.token_refreshed")
    assert event.actor_label == "embed-user:u-5"
    assert event.after["jti"] == new_claims["jti"]
    # and the new refresh token rotates again
    assert refresh(second["refresh_token"]).status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_family(people: People,
                                                          courses: Courses) -> None:
    # given a session refreshed once, and another session of the same user
    first = mint(people.acme_key, user="u-6", scope="author", courses=[courses.acme.pk])
    second = refresh(first["refresh_token"]).json()
    unrelated = mint(people.acme_key, user="u-6", scope="author", courses=[courses.acme.pk])
    # when the spent refresh token is presented again (a thief, or the user after a thief)
    response = refresh(first["refresh_token"])
    assert response.status_code == 401
    assert reason(response) == "refresh_reused"
    # then every token of the family is refused on the very next request
    for token in (first["access_token"], second["access_token"]):
        denied = bearer(token).get(course_url(courses.acme))
        assert denied.status_code == 401
        assert reason(denied) == "revoked"
    assert reason(refresh(second["refresh_token"])) == "revoked"
    # the other session is untouched
    assert bearer(unrelated["access_token"]).get(course_url(courses.acme)).status_code == 200
    (event,) = audit("embed.refresh_reused")
    family = EmbedFamily.objects.get(uid=parts(first["access_token"])[1]["fam"])
    assert (event.org_id, event.object_id) == (people.acme.pk, str(family.pk))
    assert event.after["family_revoked_now"] is True
    assert family.revoked_reason == "refresh_reused"
    assert not EmbedAccessToken.objects.filter(family=family, revoked_at__isnull=True).exists()


def test_a_second_use_racing_the_first_counts_as_reuse(people: People,
                                                       courses: Courses) -> None:
    # the read sees an unused token, but another request spends it before our update
    pair = mint(people.acme_key, scope="learner", courses=[courses.acme.pk])
    row = EmbedRefreshToken.objects.get()
    original = EmbedRefreshToken.objects.filter

    def spent_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("used_at__isnull") is True:
            EmbedRefreshToken.objects.filter(pk=row.pk).update(used_at=timezone.now())
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EmbedRefreshToken.objects, "filter", spent_meanwhile)
        response = refresh(pair["refresh_token"])
    assert reason(response) == "refresh_reused"
    assert reason(bearer(pair["access_token"]).get(course_url(courses.acme))) == "revoked"


@pytest.mark.parametrize("value", ["", "cwr_", "cwr_unknown", "not-a-refresh-token",
                                   "cwr_" + "x" * 300])
def test_unknown_refresh_tokens_are_refused(db: None, value: str) -> None:
    response = refresh(value)
    assert response.status_code == 401
    assert reason(response) == "bad_refresh_token"
    assert "Set-Cookie" not in response.headers


def test_an_expired_refresh_token_is_refused(people: People, courses: Courses) -> None:
    pair = mint(people.acme_key)
    EmbedRefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reason(refresh(pair["refresh_token"])) == "expired"


def test_no_token_outlives_its_family(people: People, courses: Courses, settings: Any) -> None:
    settings.EMBED_SESSION_HOURS = 1
    pair = mint(people.acme_key, ttl=10800)
    family = EmbedFamily.objects.get()
    exp = parts(pair["access_token"])[1]["exp"]
    assert exp <= int(family.expires_at.timestamp())
    assert pair["expires_in"] <= 3600
    assert pair["refresh_expires_in"] <= 3600


# --- revocation ---------------------------------------------------------------------------------


def test_revoking_a_jti_is_effective_on_the_very_next_request(people: People,
                                                              courses: Courses) -> None:
    pair = mint(people.acme_key, scope="learner", courses=[courses.acme.pk])
    sibling = refresh(pair["refresh_token"]).json()
    client = bearer(pair["access_token"])
    assert client.get(course_url(courses.acme)).status_code == 200
    jti = parts(pair["access_token"])[1]["jti"]
    response = revoke(people.acme_key, jti=jti)
    assert response.status_code == 200
    assert response.json() == {"revoked": 1}
    assert "Set-Cookie" not in response.headers
    denied = client.get(course_url(courses.acme))
    assert denied.status_code == 401
    assert reason(denied) == "revoked"
    # only that token: the family's newer one still works
    assert bearer(sibling["access_token"]).get(course_url(courses.acme)).status_code == 200
    assert revoke(people.acme_key, jti=jti).json() == {"revoked": 0}
    events = audit("embed.revoked")
    assert [e.after["by"] for e in events] == ["jti", "jti"]


def test_revoking_a_user_ends_all_their_sessions(people: People, courses: Courses) -> None:
    # given two sessions of u-7 (one minted by a second key) and one of u-8
    _, second_key = org_actions.create_api_key(people.acme, name="second",
                                               actor=Actor.person(people.alice))
    mine = [mint(people.acme_key, user="u-7"), mint(second_key, user="u-7")]
    theirs = mint(people.acme_key, user="u-8")
    response = revoke(people.acme_key, user="u-7")
    assert response.json() == {"revoked": 2}
    for pair in mine:
        assert reason(bearer(pair["access_token"]).get(course_url(courses.acme))) == "revoked"
        assert reason(refresh(pair["refresh_token"])) == "revoked"
    assert bearer(theirs["access_token"]).get(course_url(courses.acme)).status_code == 200
    # a new exchange for the user works again (revocation is of what exists now)
    fresh = mint(people.acme_key, user="u-7")
    assert bearer(fresh["access_token"]).get(course_url(courses.acme)).status_code == 200
    (event,) = audit("embed.revoked")
    assert (event.after["by"], event.after["user"], event.after["families"]) == (
        "user", "u-7", 2)
    assert revoke(people.acme_key, user="u-7@acme.test").status_code == 422


def test_revoking_all_of_a_keys_tokens_spares_other_keys(people: People,
                                                         courses: Courses) -> None:
    _, second_key = org_actions.create_api_key(people.acme, name="second",
                                               actor=Actor.person(people.alice))
    first = [mint(people.acme_key, user="a"), mint(people.acme_key, user="b")]
    other = mint(second_key, user="a")
    assert revoke(people.acme_key, all=True).json() == {"revoked": 2}
    for pair in first:
        assert reason(bearer(pair["access_token"]).get(course_url(courses.acme))) == "revoked"
    assert bearer(other["access_token"]).get(course_url(courses.acme)).status_code == 200


def test_revoking_or_deleting_the_api_key_revokes_its_tokens(people: People,
                                                             courses: Courses) -> None:
    key = ApiKey.objects.get(org=people.acme)
    pair = mint(people.acme_key)
    org_actions.revoke_api_key(key, actor=Actor.person(people.alice))
    assert reason(bearer(pair["access_token"]).get(course_url(courses.acme))) == "revoked"
    assert reason(refresh(pair["refresh_token"])) == "revoked"
    # a deleted key takes its sessions with it
    _, second_key = org_actions.create_api_key(people.acme, name="second",
                                               actor=Actor.person(people.alice))
    pair = mint(second_key)
    ApiKey.objects.filter(name="second").delete()
    assert reason(bearer(pair["access_token"]).get(course_url(courses.acme))) == "revoked"
    assert reason(refresh(pair["refresh_token"])) == "bad_refresh_token"


def test_mallory_cannot_revoke_acme_tokens(people: People, courses: Courses) -> None:
    pair = mint(people.acme_key, user="shared-id")
    jti = parts(pair["access_token"])[1]["jti"]
    response = revoke(people.globex_key, jti=jti)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert revoke(people.globex_key, user="shared-id").json() == {"revoked": 0}
    assert revoke(people.globex_key, all=True).json() == {"revoked": 0}
    assert bearer(pair["access_token"]).get(course_url(courses.acme)).status_code == 200
    assert refresh(pair["refresh_token"]).status_code == 200


@pytest.mark.parametrize("body", [{}, {"all": False}, {"jti": "x", "user": "u"},
                                  {"user": "u", "all": True}])
def test_revoke_needs_exactly_one_target(people: People, body: dict[str, Any]) -> None:
    response = revoke(people.acme_key, **body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "bad_revoke"


def test_only_an_api_key_revokes(people: People, courses: Courses) -> None:
    token = mint(people.acme_key)["access_token"]
    for client in (bearer(token), client_for(people.alice), Client()):
        response = post_json(client, "/api/v1/embed/revoke", {"all": True})
        assert response.status_code == 401


# --- the check on every request ---------------------------------------------------------------


def test_the_live_check_is_one_query(people: People, courses: Courses,
                                     django_assert_num_queries: Any) -> None:
    token = mint(people.acme_key, scope="learner", courses=[courses.acme.pk])["access_token"]
    with django_assert_num_queries(1):
        principal = authenticate_embed_token(token)
    assert principal.org.slug == "acme"
    assert principal.actor.api_key is not None
    assert principal.actor.api_key.prefix
    assert principal.user == "u-1001"


# --- what is recorded, and what is not -------------------------------------------------------


def test_no_secret_reaches_the_audit_log(people: People, courses: Courses) -> None:
    first = mint(people.acme_key, user="u-9", scope="learner", courses=[courses.acme.pk])
    second = refresh(first["refresh_token"]).json()
    refresh(first["refresh_token"])  # reuse
    revoke(people.acme_key, user="u-9")
    actions_seen = {e.action for e in AuditEvent.objects.all()}
    assert {"embed.token_issued", "embed.token_refreshed", "embed.refresh_reused",
            "embed.revoked"} <= actions_seen
    payloads = json.dumps([e.payload_data for e in AuditEvent.objects.all()])
    secrets = [people.acme_key]
    for pair in (first, second):
        refresh_token = pair["refresh_token"]
        secrets += [pair["access_token"], pair["access_token"].rsplit(".", 1)[1],
                    refresh_token, refresh_token[4:],
                    hashlib.sha256(refresh_token.encode()).hexdigest()]
    for secret in secrets:
        assert secret not in payloads


def test_no_embed_answer_sets_a_cookie(people: People, courses: Courses) -> None:
    pair = mint(people.acme_key, scope="author", courses=[courses.acme.pk])
    token = pair["access_token"]
    answers = [
        exchange(people.acme_key, user="u-1", scope="author", courses="*"),
        exchange(people.acme_key, user="a@b.c", scope="author", courses="*"),
        refresh(pair["refresh_token"]),
        refresh("cwr_nope"),
        revoke(people.acme_key, all=True),
        bearer(token).get(course_url(courses.acme)),
        bearer(mint(people.acme_key)["access_token"]).get(course_url(courses.acme)),
        bearer(mint(people.acme_key)["access_token"]).get("/api/v1/courses"),
        edit(mint(people.acme_key)["access_token"], courses.acme_draft),
        bearer("a.b.c").get(course_url(courses.acme)),
    ]
    for response in answers:
        assert "Set-Cookie" not in response.headers, response.request
        assert not response.cookies, response.request


# --- privacy hooks and expiry ------------------------------------------------------------------


def test_a_users_sessions_are_exported_and_deleted_with_their_records(
        people: People, courses: Courses) -> None:
    pair = mint(people.acme_key, user="lms-1", scope="learner", courses=[courses.acme.pk])
    mint(people.acme_key, user="lms-2")
    owner = client_for(people.alice)
    exported = post_json(owner, "/api/v1/organisations/acme/learners/export",
                         {"learner_id": "lms-1"})
    assert exported.status_code == 200, exported.content
    (session,) = exported.json()["embed_sessions"]
    assert (session["scope"], session["courses"]) == ("learner", [str(courses.acme.uid)])
    assert pair["refresh_token"] not in exported.content.decode()
    deleted = post_json(owner, "/api/v1/organisations/acme/learners/delete",
                        {"learner_id": "lms-1"})
    assert deleted.status_code == 200, deleted.content
    assert deleted.json()["counts"]["embed_sessions"] == 1
    # the session ends at once; the other user's stays
    assert reason(bearer(pair["access_token"]).get(course_url(courses.acme))) == "revoked"
    assert reason(refresh(pair["refresh_token"])) == "bad_refresh_token"
    assert EmbedFamily.objects.count() == 1


def test_the_org_export_lists_sessions_without_tokens(people: People,
                                                      courses: Courses) -> None:
    import io
    import zipfile

    from coursewright.privacy.export import export_organisation

    pair = mint(people.acme_key, user="u-3", scope="reviewer", courses=[courses.acme.pk])
    mint(people.globex_key, user="globex-user", scope="author", courses="*")
    archive = zipfile.ZipFile(io.BytesIO(export_organisation(
        people.acme, actor=Actor.person(people.alice))))
    text = archive.read("organisation.json").decode()
    data = json.loads(text)
    (session,) = data["embed_sessions"]
    assert (session["user"], session["scope"]) == ("u-3", "reviewer")
    assert data["counts"]["embed_sessions"] == 1
    for secret in (pair["access_token"], pair["refresh_token"],
                   hashlib.sha256(pair["refresh_token"].encode()).hexdigest(), "globex-user"):
        assert secret not in text


def test_deleting_the_organisation_deletes_its_sessions(people: People,
                                                        courses: Courses) -> None:
    from coursewright.privacy.deletion import delete_organisation

    mint(people.acme_key)
    kept = mint(people.globex_key)
    delete_organisation(people.acme, actor=Actor.person(people.alice), confirm="acme")
    assert EmbedFamily.objects.count() == 1
    assert EmbedAccessToken.objects.count() == EmbedRefreshToken.objects.count() == 1
    assert bearer(kept["access_token"]).get(course_url(courses.globex)).status_code == 200


def test_expired_rows_are_purged(people: People, courses: Courses) -> None:
    old = mint(people.acme_key, user="old")
    live = mint(people.acme_key, user="live")
    old_family = EmbedFamily.objects.get(uid=parts(old["access_token"])[1]["fam"])
    past = timezone.now() - timedelta(seconds=1)
    EmbedAccessToken.objects.filter(family=old_family).update(expires_at=past)
    EmbedRefreshToken.objects.filter(family=old_family).update(expires_at=past)
    counts = actions.purge_expired()
    assert counts == {"access_tokens": 1, "refresh_tokens": 1, "families": 1, "codes": 0}
    assert list(EmbedFamily.objects.values_list("pk", flat=True)) != [old_family.pk]
    assert bearer(live["access_token"]).get(course_url(courses.acme)).status_code == 200
    (event,) = audit("embed.expired_purged")
    assert event.after == counts
    assert actions.purge_expired() == {"access_tokens": 0, "refresh_tokens": 0,
                                       "families": 0, "codes": 0}


# --- rate limits ----------------------------------------------------------------------------


def test_embed_tokens_spend_their_keys_budget(people: People, courses: Courses,
                                              settings: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    # given a limit of 3 a minute, and the clock 20 seconds into the next window (the
    # token is minted by the real clock: it must be fresh by the fixed one too)
    settings.API_RATE_PER_MINUTE = 3
    settings.REDIS_URL = ""
    moment = (int(time.time()) // 60 + 1) * 60 + 20.0  # a little ahead, never behind
    monkeypatch.setattr(time, "time", lambda: moment)
    token = mint(people.acme_key, scope="learner",
                 courses=[courses.acme.pk])["access_token"]  # the key's first request
    learner = bearer(token)
    assert learner.get(course_url(courses.acme)).status_code == 200
    assert learner.get(course_url(courses.acme)).status_code == 200

    # when the token makes one more request than the key's budget holds
    response = learner.get(course_url(courses.acme))

    # then it is refused like the key itself would be, and the key is out of budget too
    assert response.status_code == 429
    assert response["Retry-After"] == "40"
    assert response.json()["error"]["code"] == "rate_limited"
    assert key_client(people.acme_key).get("/api/v1/courses").status_code == 429
    # another organisation's key is unaffected
    assert key_client(people.globex_key).get("/api/v1/courses").status_code == 200

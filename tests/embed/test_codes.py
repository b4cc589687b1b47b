"""One-time codes: issued by the API key only (checked like an exchange), stored as a
hash, traded once within 60 seconds for a token pair; a second use is refused and closes
the session the first opened; an expired one is refused; each audited."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.embed import actions
from coursewright.embed.codes import CODE_TTL
from coursewright.embed.models import EmbedCode, EmbedFamily, RevokeReason
from coursewright.orgs import actions as org_actions
from coursewright.orgs.models import ApiKey
from tests.conftest import People, client_for, key_client
from tests.embed.helpers import Courses, bearer, post_json, reason


def issue(key: str, **body: Any) -> Any:
    request = {"user": "learner-5", "scope": "learner", "courses": [], **body}
    return post_json(key_client(key), "/api/v1/embed/code", request)


def code_for(key: str, courses: list[int], **body: Any) -> str:
    response = issue(key, courses=courses, **body)
    assert response.status_code == 200, response.content
    code: str = response.json()["code"]
    return code


def trade(code: Any) -> Any:
    return post_json(Client(), "/api/v1/embed/code/exchange", {"code": code})


def audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_a_code_is_traded_once_for_a_token_pair(people: People, courses: Courses) -> None:
    response = issue(people.acme_key, courses=[courses.acme.pk])
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["expires_in"] == CODE_TTL == 60
    assert body["scope"] == "learner"
    code = body["code"]
    assert code.startswith("cwc_")
    row = EmbedCode.objects.get()
    # only the hash of the code is kept; the user sealed and keyed-hashed
    assert row.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert row.subject == "learner-5"
    assert "learner-5" not in row.subject_digest
    assert row.courses == [str(courses.acme.uid)]
    (issued,) = audit("embed.code_issued")
    assert issued.after["user"] == "learner-5"
    assert code not in str(issued.after)

    traded = trade(code)
    assert traded.status_code == 200, traded.content
    assert traded["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in traded.headers
    pair = traded.json()
    assert pair["scope"] == "learner"
    client = bearer(pair["access_token"])
    assert client.get(f"/api/v1/courses/{courses.acme.pk}").status_code == 200
    assert client.get(f"/api/v1/courses/{courses.acme_other.pk}").status_code == 404
    family = EmbedFamily.objects.get()
    assert EmbedCode.objects.get().family == family
    (token_issued,) = audit("embed.token_issued")
    assert token_issued.after["via"] == "code"
    assert token_issued.after["code"] == str(row.uid)


def test_a_second_use_is_refused_and_closes_the_session_the_first_opened(
        people: People, courses: Courses) -> None:
    code = code_for(people.acme_key, [courses.acme.pk])
    first = trade(code).json()
    # when the same code comes again (a copied address, a thief, or the page after one)
    again = trade(code)
    assert again.status_code == 401
    assert reason(again) == "code_used"
    assert "used already" in again.json()["error"]["message"]
    # then the session the first use opened is over too: its token and refresh token
    assert bearer(first["access_token"]).get(
        f"/api/v1/courses/{courses.acme.pk}").status_code == 401
    refreshed = post_json(Client(), "/api/v1/embed/refresh",
                          {"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 401
    family = EmbedFamily.objects.get()
    assert family.revoked_reason == RevokeReason.CODE_REUSED
    (refused,) = audit("embed.code_refused")
    assert refused.after["reason"] == "used"
    assert refused.after["family_revoked_now"] is True
    assert refused.org_id == people.acme.pk
    assert trade(code).status_code == 401
    assert len(audit("embed.code_refused")) == 2
    assert audit("embed.code_refused")[1].after["family_revoked_now"] is False


def test_an_expired_code_is_refused(people: People, courses: Courses) -> None:
    code = code_for(people.acme_key, [courses.acme.pk])
    EmbedCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = trade(code)
    assert response.status_code == 401
    assert reason(response) == "code_expired"
    assert not EmbedFamily.objects.exists()
    (refused,) = audit("embed.code_refused")
    assert refused.after["reason"] == "expired"
    # it is gone with the next purge
    assert actions.purge_expired()["codes"] == 1
    assert reason(trade(code)) == "unknown_code"


@pytest.mark.parametrize(("code", "why"), [
    ("cwc_" + "A" * 43, "unknown_code"),
    ("cwr_" + "A" * 43, "bad_code"),
    ("", "bad_code"),
    ("cwc_" + "A" * 200, "bad_code"),
])
def test_unknown_and_malformed_codes_are_refused(people: People, code: str,
                                                 why: str) -> None:
    response = trade(code)
    assert response.status_code == 401
    assert reason(response) == why
    assert not audit("embed.code_refused")


def test_codes_are_checked_like_exchanges_when_issued(people: People,
                                                      courses: Courses) -> None:
    assert issue(people.acme_key, courses=[courses.acme.pk],
                 user="ada@example.com").json()["error"]["code"] == "personal_data"
    assert issue(people.acme_key, courses="*").json()["error"]["code"] == "bad_courses"
    assert issue(people.acme_key, courses=[courses.acme.pk],
                 ttl=99999).json()["error"]["code"] == "bad_ttl"
    assert not EmbedCode.objects.exists()


def test_only_the_api_key_issues_codes_and_mallory_gets_none_for_acme(
        people: People, courses: Courses) -> None:
    body = {"user": "u-1", "scope": "learner", "courses": [courses.acme.pk]}
    for client in (client_for(people.alice), Client()):
        assert post_json(client, "/api/v1/embed/code", body).status_code == 401
    response = issue(people.globex_key, courses=[courses.acme.pk])
    assert response.status_code == 404
    assert not EmbedCode.objects.exists()
    # and a Globex code opens Globex's course only
    pair = trade(code_for(people.globex_key, [courses.globex.pk])).json()
    assert bearer(pair["access_token"]).get(
        f"/api/v1/courses/{courses.acme.pk}").status_code == 404


def test_a_revoked_key_s_code_is_refused(people: People, courses: Courses) -> None:
    code = code_for(people.acme_key, [courses.acme.pk])
    org_actions.revoke_api_key(ApiKey.objects.get(org=people.acme),
                               actor=Actor.person(people.alice))
    response = trade(code)
    assert response.status_code == 401
    assert reason(response) == "revoked"
    assert not EmbedFamily.objects.exists()

"""Embed access tokens: their claims, and every way a token that is not a live embed
token of ours is refused (each checked on a real endpoint, GET /api/v1/courses/{id},
with a 401 naming the reason).

Tokens with a bad claim are signed with our own key, so only the claim check can be
what refuses them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import OKPKey

from coursewright.delivery import gatekeeper, signing
from coursewright.delivery.licenses import read_token
from coursewright.embed import tokens
from coursewright.errors import Invalid
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import b64, deploy, forge, issue, parts, unb64
from tests.embed.helpers import Courses, bearer, mint, reason


def course_url(course: Any) -> str:
    return f"/api/v1/courses/{course.pk}"


def read(token: str, course: Any) -> Any:
    return bearer(token).get(course_url(course))


def resigned(token: str, **changes: Any) -> str:
    """The token's claims with ``changes`` (None removes a claim), signed by our key."""
    _, claims, _ = parts(token)
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return signing.sign(claims)[0]


@pytest.fixture
def token(people: People, courses: Courses) -> str:
    return str(mint(people.acme_key, scope="learner", courses=[courses.acme.pk])["access_token"])


def test_a_token_says_who_what_and_until_when(people: People, courses: Courses,
                                              settings: Any) -> None:
    before = int(time.time())
    pair = mint(people.acme_key, user="partner-user:42", scope="reviewer",
                courses=[courses.acme.pk, courses.acme_other.pk], ttl=1800)
    header, claims, _ = parts(pair["access_token"])
    assert header == {"alg": "EdDSA", "kid": signing.active_kid(), "typ": "JWT"}
    assert claims["iss"] == settings.EMBED_ISSUER == settings.BASE_URL
    assert (claims["aud"], claims["token_use"]) == ("coursewright:embed", "embed")
    assert (claims["sub"], claims["org"], claims["scope"]) == ("partner-user:42", "acme",
                                                               "reviewer")
    assert claims["courses"] == [str(courses.acme.uid), str(courses.acme_other.uid)]
    assert before <= claims["iat"] == claims["nbf"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == pair["expires_in"] == 1800
    assert len(unb64(claims["jti"])) == 16
    from coursewright.orgs.models import ApiKey

    assert claims["key"] == ApiKey.objects.get(org=people.acme).pk
    uuid.UUID(claims["fam"])
    # verifiable by anyone with the published key set, like a license token
    assert tokens.read_access_token(pair["access_token"]).subject == "partner-user:42"


def test_the_default_lifetime_is_an_hour_and_three_hours_is_the_most(
        people: People, courses: Courses) -> None:
    assert mint(people.acme_key)["expires_in"] == 3600
    assert mint(people.acme_key, ttl=10800)["expires_in"] == 10800
    from tests.embed.helpers import exchange

    for ttl in (10801, 59, 0, -1):
        response = exchange(people.acme_key, user="u", scope="author", courses="*", ttl=ttl)
        assert response.status_code == 422, ttl
        assert response.json()["error"]["code"] == "bad_ttl"


def test_a_live_token_reads_its_course(token: str, courses: Courses) -> None:
    response = read(token, courses.acme)
    assert response.status_code == 200
    assert response.json()["title"] == "Fire safety"


def test_an_expired_token_is_refused(token: str, courses: Courses) -> None:
    now = int(time.time())
    expired = resigned(token, iat=now - 3600, nbf=now - 3600, exp=now - 1)
    response = read(expired, courses.acme)
    assert response.status_code == 401
    assert reason(response) == "expired"
    # and so is one at its very second of expiry (no leeway on exp)
    assert reason(read(resigned(token, exp=now), courses.acme)) == "expired"


def test_a_token_for_later_is_refused(token: str, courses: Courses) -> None:
    later = int(time.time()) + 600
    assert reason(read(resigned(token, nbf=later, iat=later, exp=later + 60),
                       courses.acme)) == "not_yet_valid"


def test_a_lifetime_over_three_hours_is_refused(token: str, courses: Courses) -> None:
    now = int(time.time())
    assert reason(read(resigned(token, iat=now, nbf=now, exp=now + 3 * 3600 + 1),
                       courses.acme)) == "bad_token"


@pytest.mark.parametrize("audience", ["coursewright:gatekeeper", "https://elsewhere.example",
                                      ["coursewright:embed"], ""])
def test_a_wrong_audience_is_refused(token: str, courses: Courses, audience: Any) -> None:
    response = read(resigned(token, aud=audience), courses.acme)
    assert response.status_code == 401
    assert reason(response) == "wrong_audience"
    assert reason(read(resigned(token, aud=None), courses.acme)) == "wrong_audience"


@pytest.mark.parametrize("issuer", ["https://evil.example", "http://127.0.0.1:8000/", ""])
def test_a_wrong_issuer_is_refused(token: str, courses: Courses, issuer: str) -> None:
    response = read(resigned(token, iss=issuer), courses.acme)
    assert response.status_code == 401
    assert reason(response) == "wrong_issuer"


def test_the_issuer_follows_the_setting(token: str, courses: Courses, settings: Any) -> None:
    settings.EMBED_ISSUER = "https://courses.example.com"
    assert reason(read(token, courses.acme)) == "wrong_issuer"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(token: str, courses: Courses, alg: str) -> None:
    header, claims, _ = parts(token)
    for signature in ("", "x"):
        response = read(forge({**header, "alg": alg}, claims, signature), courses.acme)
        assert response.status_code == 401
        assert reason(response) == "bad_token"


def test_hs256_keyed_with_the_public_key_is_refused(token: str, courses: Courses) -> None:
    header, claims, _ = parts(token)
    public = signing.jwks()["keys"][0]
    # the usual confusions: the JWK's x, the whole JWK, the raw public key bytes
    for secret in (public["x"].encode(), json.dumps(public).encode(), unb64(public["x"])):
        signing_input = forge({**header, "alg": "HS256"}, claims).rsplit(".", 1)[0]
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        response = read(f"{signing_input}.{b64(mac)}", courses.acme)
        assert response.status_code == 401
        assert reason(response) == "bad_token"


def test_an_unknown_kid_is_refused(token: str, courses: Courses) -> None:
    header, claims, signature = parts(token)
    response = read(forge({**header, "kid": "not-one-of-ours"}, claims, signature),
                    courses.acme)
    assert response.status_code == 401
    assert reason(response) == "unknown_key"


def test_a_retired_key_kid_is_refused(token: str, courses: Courses) -> None:
    # given a token signed by a key that is rotated out and then retired
    old = signing.active_kid()
    signing.rotate()
    assert read(token, courses.acme).status_code == 200  # a verifying key still verifies
    signing.retire(old)
    # then its tokens are refused as signed by an unknown key
    assert reason(read(token, courses.acme)) == "unknown_key"


def test_a_token_signed_by_another_key_with_our_kid_is_refused(token: str,
                                                               courses: Courses) -> None:
    header, claims, _ = parts(token)
    stranger = OKPKey.generate_key("Ed25519")
    forged = jws.serialize_compact(header, json.dumps(claims), stranger,
                                   registry=signing.REGISTRY)
    assert reason(read(forged, courses.acme)) == "bad_token"


def test_a_tampered_token_is_refused(people: People, courses: Courses, token: str) -> None:
    # a learner token whose scope and courses are rewritten, keeping the signature
    header, claims, signature = parts(token)
    forged = forge(header, {**claims, "scope": "author", "courses": "*"}, signature)
    response = bearer(forged).post(f"/api/v1/courses/{courses.acme.pk}/drafts")
    assert response.status_code == 401
    assert reason(response) == "bad_token"


def test_a_license_token_is_not_an_embed_token(people: People, courses: Courses) -> None:
    # given a license token: same keys, same issuer, the Gatekeeper's audience
    from tests.delivery.test_licenses_fixtures import course_of

    version = course_of(people.acme, people.bob, "Licensed")
    _, license_token = issue(people, [version.course])
    assert parts(license_token)[0]["kid"] == signing.active_kid()
    # then no embed endpoint takes it
    response = read(license_token, version.course)
    assert response.status_code == 401
    assert reason(response) == "wrong_token_use"
    # not even with the embed audience written in, if token_use is missing
    assert reason(read(resigned(license_token, aud="coursewright:embed"),
                       version.course)) == "wrong_token_use"


def test_an_embed_token_is_not_a_license_token(people: People, courses: Courses) -> None:
    from tests.delivery.test_licenses_fixtures import course_of

    version = course_of(people.acme, people.bob, "Licensed")
    deploy(version)
    pair = mint(people.acme_key, scope="learner", courses=[version.course.pk])
    # the Gatekeeper refuses it before looking at anything else
    with pytest.raises(signing.TokenRefused, match="not meant for the Gatekeeper"):
        read_token(pair["access_token"])
    decision = gatekeeper.launch(pair["access_token"], course_uid=str(version.course.uid),
                                 learner_id="u-1")
    assert (decision.allowed, decision.reason) == (False, "bad_token")


@pytest.mark.parametrize("changes", [
    {"token_use": "license"}, {"token_use": None}, {"scope": "admin"}, {"scope": None},
    {"sub": "alice@acme.test"}, {"sub": ""}, {"sub": None}, {"courses": []},
    {"courses": ["not-a-uuid"]}, {"courses": "*"},  # "*" with the learner scope
    {"exp": "tomorrow"}, {"exp": True}, {"jti": None}, {"key": "1"}, {"key": 10**30},
    {"key": -1}, {"fam": "x"},
    {"iat": 2**70}, {"org": ["acme"]},
])
def test_malformed_claims_are_refused(token: str, courses: Courses,
                                      changes: dict[str, Any]) -> None:
    response = read(resigned(token, **changes), courses.acme)
    assert response.status_code == 401
    assert reason(response) in {"bad_token", "wrong_token_use", "not_yet_valid"}


def test_other_bearer_values_are_not_taken_for_tokens(courses: Courses) -> None:
    for value in ("", "x", "a.b", "a.b.c", "a.b.c.d", "cw_abc_def", "é.é.é", "x" * 10_000):
        response = bearer(value).get(course_url(courses.acme))
        assert response.status_code == 401, value[:40]


# --- the user id is opaque --------------------------------------------------------------

SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:~-"


@given(st.text(alphabet=SAFE, min_size=1, max_size=128))
def test_opaque_ids_are_accepted(value: str) -> None:
    assert tokens.validate_subject(value) == value


@given(st.emails() | st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=20),
                               st.text(max_size=20)))
def test_anything_like_an_email_is_refused_as_personal_data(value: str) -> None:
    with pytest.raises(Invalid) as refused:
        tokens.validate_subject(value)
    assert refused.value.code == "personal_data"
    assert "e-mail" in refused.value.message


@given(st.text(min_size=1, max_size=200).filter(
    lambda v: "@" not in v and not (len(v) <= 128 and set(v) <= set(SAFE))))
def test_anything_else_is_refused_with_the_rule(value: str) -> None:
    with pytest.raises(Invalid) as refused:
        tokens.validate_subject(value)
    assert refused.value.code == "bad_user"
    assert "opaque id" in refused.value.message


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.emails())
def test_the_exchange_refuses_emails_with_a_clear_422(people: People, courses: Courses,
                                                     user: str) -> None:
    from coursewright.embed.models import EmbedFamily
    from tests.embed.helpers import exchange

    response = exchange(people.acme_key, user=user, scope="learner",
                        courses=[courses.acme.pk])
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "personal_data"
    assert "e-mail" in error["message"]
    assert not EmbedFamily.objects.exists()

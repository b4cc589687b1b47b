"""The Gatekeeper: every launch checked against the token and the license row, every
attempt recorded, learners kept as pseudonyms.

Token attacks (tampered, wrong key, ``alg: none``, HS256 with the public key, unknown
kid, expired, another organisation's license, a disallowed origin) are all refused, and
each refusal is in the launch log with its reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from joserfc import jws
from joserfc.jwk import OKPKey

from coursewright.audit.actor import Actor
from coursewright.delivery import gatekeeper, licenses, signing
from coursewright.delivery.models import (
    LaunchEvent,
    LaunchSession,
    License,
    LicenseLearner,
)
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import (
    ORIGIN,
    Live,
    b64,
    course_of,
    deployed_course,
    forge,
    issue,
    parts,
    unb64,
)


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


@pytest.fixture
def licensed(people: People, live: Live) -> tuple[License, str]:
    return issue(people, [live.course], allowed_origins=[ORIGIN])


def go(token: str, live: Live, learner: str = "lms-user-42",
       origin: str | None = ORIGIN) -> gatekeeper.LaunchDecision:
    return gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id=learner,
                             origin=origin)


def last_event() -> LaunchEvent:
    event = LaunchEvent.objects.order_by("-id").first()
    assert event is not None
    return event


def alice(people: People) -> Actor:
    return Actor.person(people.alice)


# --- the allowed path ------------------------------------------------------------------


def test_a_good_launch_opens_a_session_and_is_recorded(people: People, live: Live,
                                                       licensed: tuple[License, str]) -> None:
    license, token = licensed
    decision = go(token, live)

    assert decision.allowed
    assert decision.reason == ""
    assert decision.origin_allowed
    assert decision.course_uid == str(live.course.uid)
    assert decision.deployment_uid == str(live.deployment.uid)
    assert decision.version == live.version.number
    # the session credential is returned once and stored only as its hash
    session = LaunchSession.objects.get()
    assert session.secret_hash == hashlib.sha256(decision.session.encode()).hexdigest()
    assert decision.session not in str(list(LaunchSession.objects.values()))
    assert session.version == live.version
    assert session.deployment == live.deployment
    assert session.expires_at == decision.session_expires_at
    assert gatekeeper.live_session(decision.session) == session
    event = last_event()
    assert (event.outcome, event.reason, event.license, event.course, event.deployment,
            event.org, event.origin) == ("launched", "", license, live.course,
                                         live.deployment, people.acme, ORIGIN)
    license.refresh_from_db()
    assert (license.launches, license.learners) == (1, 1)


def test_the_course_may_be_named_by_id(live: Live, licensed: tuple[License, str]) -> None:
    _, token = licensed
    assert gatekeeper.launch(token, course_id=live.course.pk, learner_id="x",
                             origin=ORIGIN).allowed


def test_the_allowed_path_is_a_handful_of_queries(live: Live,
                                                  licensed: tuple[License, str]) -> None:
    # given a learner who launched before (the common case) and warm caches
    _, token = licensed
    assert go(token, live).allowed
    # when they launch again
    with CaptureQueriesContext(connection) as queries:
        assert go(token, live).allowed
    # then: one read (license, course on it, production deployment), the learner's
    # latest attempt, the session, the event, the learner upsert and the launch counter
    # (+ the transaction's savepoint and its release: the test itself runs in one)
    statements = [q["sql"] for q in queries.captured_queries
                  if "SAVEPOINT" not in q["sql"].upper()]
    assert len(statements) == 6, statements
    assert statements[0].startswith("SELECT")
    assert statements[1].startswith("SELECT")


# --- token attacks ---------------------------------------------------------------------


def test_a_tampered_payload_is_refused(people: People, live: Live,
                                       licensed: tuple[License, str]) -> None:
    # given a token of Globex's license and Acme's token with its signature
    globex_live = deployed_course(people.globex, people.mallory, "Globex course")
    globex_license, _ = issue(people, [globex_live.course])
    _, token = licensed
    header, claims, signature = parts(token)
    # when the payload is changed to name another license (or a later expiry)
    for changed in ({**claims, "sub": str(globex_license.uid)},
                    {**claims, "exp": int(time.time()) + 10**8}):
        decision = go(forge(header, changed, signature), live)
        # then the signature no longer matches
        assert (decision.allowed, decision.reason) == (False, "bad_token")
    assert last_event().license is None


def test_a_token_signed_by_another_key_with_our_kid_is_refused(
        live: Live, licensed: tuple[License, str]) -> None:
    # given the same header (our kid) and claims, signed by a key not in our set
    _, token = licensed
    header, claims, _ = parts(token)
    stranger = OKPKey.generate_key("Ed25519")
    forged = jws.serialize_compact(header, json.dumps(claims), stranger,
                                   registry=signing.REGISTRY)
    assert parts(forged)[0]["kid"] == header["kid"]
    # then the signature does not verify with our key of that kid
    assert go(forged, live).reason == "bad_token"


def test_alg_none_is_refused(live: Live, licensed: tuple[License, str]) -> None:
    _, token = licensed
    header, claims, _ = parts(token)
    for alg in ("none", "None", "NONE"):
        assert go(forge({**header, "alg": alg}, claims, ""), live).reason == "bad_token"
        assert go(forge({**header, "alg": alg}, claims, "x"), live).reason == "bad_token"


def test_hs256_with_the_public_key_as_secret_is_refused(live: Live,
                                                       licensed: tuple[License, str]) -> None:
    _, token = licensed
    header, claims, _ = parts(token)
    public = signing.jwks()["keys"][0]
    # the usual confusions: the JWK's x, the whole JWK, the raw public key bytes
    for secret in (public["x"].encode(), json.dumps(public).encode(), unb64(public["x"])):
        forged_header = {**header, "alg": "HS256"}
        signing_input = forge(forged_header, claims).rsplit(".", 1)[0]
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        decision = go(f"{signing_input}.{b64(mac)}", live)
        assert decision.reason == "bad_token"


def test_other_algorithms_and_header_tricks_are_refused(live: Live,
                                                        licensed: tuple[License, str]) -> None:
    _, token = licensed
    header, claims, signature = parts(token)
    stranger = OKPKey.generate_key("Ed25519")
    cases = [
        forge({**header, "alg": "Ed25519"}, claims, signature),  # joserfc's newer name
        forge({**header, "alg": "RS256"}, claims, signature),
        forge({**header, "alg": "ES256"}, claims, signature),
        # a key embedded in the header must never be used to verify
        forge({**header, "jwk": stranger.as_dict(private=False)}, claims, signature),
        forge({**header, "crit": ["exp"]}, claims, signature),
        forge({k: v for k, v in header.items() if k != "kid"}, claims, signature),
        "", "not-a-token", "a.b", "a.b.c.d", token + "x", "é.é.é", "x" * 10_000,
    ]
    for forged in cases:
        assert go(forged, live).reason == "bad_token", forged[:80]


def test_an_unknown_kid_is_refused(live: Live, licensed: tuple[License, str]) -> None:
    _, token = licensed
    header, claims, signature = parts(token)
    decision = go(forge({**header, "kid": "no-such-key"}, claims, signature), live)
    assert (decision.allowed, decision.reason) == (False, "unknown_key")


def test_issuer_audience_and_subject_are_checked(settings: Any, live: Live,
                                                 licensed: tuple[License, str]) -> None:
    license, _ = licensed
    good = {"iss": settings.BASE_URL, "aud": licenses.AUDIENCE, "sub": str(license.uid),
            "iat": int(time.time()), "jti": "j"}
    assert go(signing.sign(good)[0], live).allowed
    for claims in ({**good, "iss": "https://evil.example"},
                   {**good, "aud": "someone-else"},
                   {k: v for k, v in good.items() if k != "aud"},
                   {**good, "sub": "not-a-uuid"},
                   {**good, "exp": "tomorrow"}):
        assert go(signing.sign(claims)[0], live).reason == "bad_token", claims
    # a well-formed token naming no license (deleted with its organisation)
    assert go(signing.sign({**good, "sub": str(uuid.uuid4())})[0], live).reason == "revoked"


def test_expired_by_the_license_row_or_by_the_token(settings: Any, live: Live,
                                                    people: People) -> None:
    # given a license that expires in an hour, and a token of it (which names no expiry)
    license, token = issue(people, [live.course],
                           expires_at=timezone.now() + timedelta(hours=1))
    assert "exp" not in parts(token)[1]
    assert go(token, live, origin=None).allowed
    # when the row's expiry passes: refused
    License.objects.filter(pk=license.pk).update(expires_at=timezone.now())
    assert go(token, live, origin=None).reason == "expired"
    # when the license is extended, the same token launches again
    licenses.update_license(license, actor=alice(people),
                            expires_at=timezone.now() + timedelta(days=1))
    assert go(token, live, origin=None).allowed
    # a token that carries an exp is refused after it, whatever the row says
    License.objects.filter(pk=license.pk).update(
        expires_at=timezone.now() + timedelta(days=1))
    stale = signing.sign({"iss": settings.BASE_URL, "aud": licenses.AUDIENCE,
                          "sub": str(license.uid), "iat": 1, "jti": "j",
                          "exp": int(time.time()) - 1})[0]
    assert go(stale, live, origin=None).reason == "expired"
    event = last_event()
    assert (event.reason, event.license) == ("expired", license)


def test_another_organisations_license_cannot_launch_our_course(people: People,
                                                               live: Live) -> None:
    # given Globex's license for Globex's own course
    globex_live = deployed_course(people.globex, people.mallory, "Globex course")
    globex_license, globex_token = issue(people, [globex_live.course])
    assert go(globex_token, globex_live).allowed
    # when its token is used to launch Acme's course
    decision = go(globex_token, live)
    # then it is not on the license, and the event names no Acme course
    assert decision.reason == "wrong_course"
    event = last_event()
    assert (event.license, event.org, event.course) == (globex_license, people.globex, None)
    assert not LaunchSession.objects.filter(course=live.course).exists()


# --- the license row decides -----------------------------------------------------------


def test_origins(people: People, live: Live, licensed: tuple[License, str]) -> None:
    _license, token = licensed
    assert go(token, live, origin="https://LMS.Example.com:443").allowed  # normalised
    for origin in ("https://evil.example", "http://lms.example.com",
                   "https://lms.example.com:8443", "https://lms.example.com.evil.example",
                   "null", "", None, "not an origin"):
        decision = go(token, live, origin=origin)
        assert decision.reason == "origin_not_allowed", origin
        assert not decision.origin_allowed
    assert last_event().origin == "not an origin"  # as sent, for the log
    # an empty list accepts any origin, or none
    _open_license, open_token = issue(people, [live.course])
    for origin in ("https://anywhere.example", None):
        decision = go(open_token, live, origin=origin)
        assert decision.allowed
        assert decision.origin_allowed


def test_revoke_blocks_the_very_next_launch(people: People, live: Live,
                                            licensed: tuple[License, str]) -> None:
    license, token = licensed
    assert go(token, live).allowed
    licenses.revoke_license(license, actor=alice(people), reason="contract ended")
    decision = go(token, live)
    assert (decision.allowed, decision.reason) == (False, "revoked")
    assert decision.origin_allowed  # the LMS may read why
    event = last_event()
    assert event.reason == "revoked"
    assert event.course_id == live.course.pk  # so it shows in the course's logs


def test_suspend_then_reinstate(people: People, live: Live,
                                licensed: tuple[License, str]) -> None:
    license, token = licensed
    licenses.suspend_license(license, actor=alice(people))
    assert go(token, live).reason == "suspended"
    licenses.reinstate_license(license, actor=alice(people))
    assert go(token, live).allowed


def test_the_launch_cap(people: People, live: Live) -> None:
    license, token = issue(people, [live.course], max_launches=2)
    assert go(token, live, learner="a").allowed
    assert go(token, live, learner="b").allowed
    decision = go(token, live, learner="a")
    assert decision.reason == "launch_cap"
    license.refresh_from_db()
    assert (license.launches, license.learners) == (2, 2)
    assert LaunchSession.objects.count() == 2  # the refused launch left no session
    # raising the cap lets launches through again, on the next launch
    licenses.update_license(license, actor=alice(people), max_launches=3)
    assert go(token, live, learner="c").allowed
    assert go(token, live, learner="c").reason == "launch_cap"
    license.refresh_from_db()
    assert (license.launches, license.learners) == (3, 3)  # "c" was rolled back once


def test_the_learner_cap(people: People, live: Live) -> None:
    license, token = issue(people, [live.course], max_learners=2)
    assert go(token, live, learner="ann").allowed
    assert go(token, live, learner="ben").allowed
    # a new learner at the cap is refused; known ones relaunch
    decision = go(token, live, learner="cat")
    assert decision.reason == "learner_cap"
    assert go(token, live, learner="ann").allowed
    assert go(token, live, learner="ben").allowed
    license.refresh_from_db()
    assert (license.learners, license.launches) == (2, 4)
    assert LicenseLearner.objects.filter(license=license).count() == 2
    refused = last_event() if not go(token, live, learner="cat").allowed else None
    assert refused is not None
    assert refused.learner == licenses.hash_learner(license, "cat")
    # a launch that names no learner cannot dodge the cap
    assert go(token, live, learner="").reason == "no_learner"


def test_learners_are_counted_without_a_cap_too(people: People, live: Live,
                                                licensed: tuple[License, str]) -> None:
    license, token = licensed
    for learner in ("a", "b", "a", "", "c"):
        assert go(token, live, learner=learner).allowed
    license.refresh_from_db()
    assert (license.learners, license.launches) == (3, 5)


def test_the_course_must_be_on_the_license_and_in_production(people: People,
                                                             live: Live) -> None:
    staged = course_of(people.acme, people.bob, "Not live yet")
    other = deployed_course(people.acme, people.bob, "Not licensed")
    _license, token = issue(people, [live.course, staged.course])
    assert go(token, other).reason == "wrong_course"
    decision = gatekeeper.launch(token, course_uid=str(staged.course.uid), learner_id="x")
    assert decision.reason == "not_deployed"
    assert last_event().course == staged.course
    for bad in ("not-a-uuid", str(uuid.uuid4()), ""):
        assert gatekeeper.launch(token, course_uid=bad, learner_id="x").reason == "wrong_course"


def test_every_attempt_leaves_an_event(people: People, live: Live,
                                       licensed: tuple[License, str]) -> None:
    _license, token = licensed
    attempts = [go(token, live), go("garbage", live), go(token, live, origin="https://x.example"),
                go(token, live), gatekeeper.launch(token, course_uid="nope")]
    assert LaunchEvent.objects.count() == len(attempts)
    assert [e.outcome for e in LaunchEvent.objects.order_by("id")] == [
        "launched" if d.allowed else "blocked" for d in attempts]
    assert [e.reason for e in LaunchEvent.objects.order_by("id")] == [
        d.reason for d in attempts]


def test_no_raw_learner_id_is_stored_anywhere(people: People, live: Live) -> None:
    raw = "learner-7f3a9c-jane.doe@example.com"
    license, token = issue(people, [live.course], max_learners=5, max_launches=3)
    go(token, live, learner=raw)
    go(token, live, learner=raw)
    go(token, live, learner=raw, origin="https://evil.example")
    go(token, live, learner=raw)
    go(token, live, learner=raw)  # over the launch cap
    assert LaunchEvent.objects.count() == 5
    expected = hmac.new(license.learner_salt.encode(), raw.encode(), hashlib.sha256).hexdigest()
    assert set(LaunchEvent.objects.values_list("learner", flat=True)) == {expected}
    assert list(LicenseLearner.objects.values_list("learner", flat=True)) == [expected]
    # scan every table of the database, not only ours
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    text = (bytes(value).decode("latin-1")
                            if isinstance(value, bytes | memoryview) else str(value))
                    assert raw not in text, table
                    assert "jane.doe" not in text, table


def test_the_same_learner_hashes_differently_per_license(people: People, live: Live) -> None:
    first, _ = issue(people, [live.course])
    second, _ = issue(people, [live.course])
    assert licenses.hash_learner(first, "u1") != licenses.hash_learner(second, "u1")


def test_a_session_dies_with_its_license(people: People, live: Live,
                                         licensed: tuple[License, str]) -> None:
    license, token = licensed
    decision = go(token, live)
    assert gatekeeper.live_session(decision.session) is not None
    licenses.suspend_license(license, actor=alice(people))
    assert gatekeeper.live_session(decision.session) is None
    licenses.reinstate_license(license, actor=alice(people))
    assert gatekeeper.live_session(decision.session) is not None
    LaunchSession.objects.update(expires_at=timezone.now())
    assert gatekeeper.live_session(decision.session) is None
    assert gatekeeper.live_session("") is None
    assert gatekeeper.live_session("x" * 500) is None

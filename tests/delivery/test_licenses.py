"""License actions: validation with clear 4xx, the token's claims, the status rules
(revoked is final), and one audit row per change."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.delivery import licenses
from coursewright.delivery.models import License, LicenseStatus
from coursewright.errors import Conflict, Invalid
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import Live, deployed_course, issue, parts


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


def alice(people: People) -> Actor:
    return Actor.person(people.alice)


def audit_rows(license: License) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(e.action, e.before, e.after) for e in
            AuditEvent.objects.filter(object_type="license", object_id=str(license.pk))
            .order_by("seq")]


def test_issue_makes_an_active_license_and_a_token(settings: Any, people: People,
                                                   live: Live) -> None:
    expiry = timezone.now() + timedelta(days=30)
    license, token = issue(people, [live.course], name="  Acme LMS  ", expires_at=expiry,
                           allowed_origins=["https://LMS.example.com:443/",
                                            "http://10.0.0.5:8080"],
                           max_learners=100, max_launches=1000)
    assert (license.name, license.status, license.org) == ("Acme LMS", "active", people.acme)
    assert license.allowed_origins == ["https://lms.example.com", "http://10.0.0.5:8080"]
    assert list(license.courses.all()) == [live.course]
    assert license.created_by == people.alice
    assert len(license.learner_salt) == 64
    header, claims, _ = parts(token)
    assert header == {"alg": "EdDSA", "kid": license.token_kid, "typ": "JWT"}
    # no expiry in the token: the license row's is checked on every launch
    assert set(claims) == {"iss", "aud", "sub", "iat", "jti"}
    assert (claims["iss"], claims["aud"], claims["sub"]) == (
        settings.BASE_URL, "coursewright:gatekeeper", str(license.uid))
    assert license.expires_at == expiry
    assert abs(claims["iat"] - time.time()) < 60
    # the token itself is stored nowhere
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM delivery_license")
        assert token not in str(cursor.fetchall())
    assert not any(token in str(row) for row in audit_rows(license))
    ((action, _, after),) = audit_rows(license)
    assert action == "license.issued"
    assert after["courses"] == [live.course.pk]
    assert after["token_kid"] == license.token_kid


def test_no_expiry_means_no_exp_claim(people: People, live: Live) -> None:
    _, token = issue(people, [live.course])
    assert "exp" not in parts(token)[1]


@pytest.mark.parametrize("origin", [
    "https://lms.example.com/path", "ftp://lms.example.com", "https://", "lms.example.com",
    "https://user:pw@lms.example.com", "https://lms.example.com?x=1",
    "https://lms.example.com#x", "*", "https://*.example.com", "https://lms.example.com:99999",
    "https://bücher.example", "https://lms example.com", "javascript:alert(1)", "null",
])
def test_bad_origins_are_refused(people: People, live: Live, origin: str) -> None:
    with pytest.raises(Invalid, match="is not an origin") as refused:
        issue(people, [live.course], allowed_origins=[origin])
    assert refused.value.status == 422
    assert refused.value.code == "bad_origin"
    assert not License.objects.exists()


def test_ipv6_and_ports_are_normalised() -> None:
    assert licenses.normalise_origin("http://[::1]:8000") == "http://[::1]:8000"
    assert licenses.normalise_origin("HTTP://LOCALHOST:80") == "http://localhost"
    assert licenses.normalise_origin("https://a.example:443") == "https://a.example"
    assert licenses.request_origin("https://a.example:8443") == "https://a.example:8443"
    assert licenses.request_origin("null") is None
    assert licenses.request_origin(None) is None


def test_other_bad_input_is_refused(people: People, live: Live) -> None:
    globex_course = deployed_course(people.globex, people.mallory, "Globex").course
    cases: list[tuple[dict[str, Any], str]] = [
        ({"courses": [globex_course]}, "bad_courses"),  # another organisation's course
        ({"courses": [999999]}, "bad_courses"),
        ({"courses": []}, "bad_courses"),
        ({"max_learners": 0}, "bad_cap"),
        ({"max_launches": -5}, "bad_cap"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "bad_expiry"),
        ({"expires_at": datetime(2099, 1, 1)}, "bad_expiry"),  # noqa: DTZ001 (naive on purpose)
        ({"name": "   "}, "bad_name"),
        ({"name": "x" * 201}, "bad_name"),
    ]
    for change, code in cases:
        settings = {"courses": [live.course], **change}
        courses = settings.pop("courses")
        with pytest.raises(Invalid) as refused:
            licenses.issue_license(people.acme, name=settings.pop("name", "LMS"),
                                   courses=courses, actor=alice(people), **settings)
        assert refused.value.code == code, change
    assert not License.objects.exists()


def test_status_rules(people: People, live: Live) -> None:
    license, _ = issue(people, [live.course])
    actor = alice(people)
    with pytest.raises(Conflict, match="Only a suspended or revoked license"):
        licenses.reinstate_license(license, actor=actor)
    licenses.suspend_license(license, actor=actor, reason="unpaid invoice")
    with pytest.raises(Conflict, match="Only an active license"):
        licenses.suspend_license(license, actor=actor)
    licenses.reinstate_license(license, actor=actor, reason="paid")
    licenses.suspend_license(license, actor=actor)
    licenses.revoke_license(license, actor=actor, reason="contract ended")
    # a revoked license can be neither suspended nor revoked again
    for action in (licenses.suspend_license, licenses.revoke_license):
        with pytest.raises(Conflict) as refused:
            action(license, actor=actor)
        assert refused.value.status == 409
    with pytest.raises(Conflict, match="revoked"):
        licenses.update_license(license, actor=actor, name="x")
    with pytest.raises(Conflict, match="revoked"):
        licenses.license_token(license, actor=actor)
    license.refresh_from_db()
    assert license.status == LicenseStatus.REVOKED
    assert license.status_changed_at
    # but it can be reinstated (the contract was renewed), straight from revoked
    assert licenses.reinstate_license(license, actor=actor, reason="renewed").status == (
        "active")
    assert [(a, b, af) for a, b, af in audit_rows(license)][1:] == [
        ("license.suspended", {"status": "active"},
         {"status": "suspended", "reason": "unpaid invoice"}),
        ("license.reinstated", {"status": "suspended"}, {"status": "active", "reason": "paid"}),
        ("license.suspended", {"status": "active"}, {"status": "suspended", "reason": ""}),
        ("license.revoked", {"status": "suspended"},
         {"status": "revoked", "reason": "contract ended"}),
        ("license.reinstated", {"status": "revoked"}, {"status": "active", "reason": "renewed"}),
    ]


def test_a_stale_object_cannot_undo_a_revocation(people: People, live: Live) -> None:
    license, _ = issue(people, [live.course])
    licenses.suspend_license(license, actor=alice(people))
    stale = License.objects.get(pk=license.pk)
    licenses.revoke_license(license, actor=alice(people))
    with pytest.raises(Conflict):
        licenses.reinstate_license(stale, actor=alice(people))  # it still says suspended
    assert License.objects.get(pk=license.pk).status == "revoked"


def test_update_records_what_changed(people: People, live: Live) -> None:
    second = deployed_course(people.acme, people.bob, "Second").course
    license, _ = issue(people, [live.course], max_learners=10)
    expiry = datetime(2099, 6, 30, tzinfo=UTC)
    licenses.update_license(license, actor=alice(people), name="Renamed", max_learners=None,
                            expires_at=expiry, allowed_origins=["https://a.example"],
                            courses=[live.course, second])
    license.refresh_from_db()
    assert (license.name, license.max_learners, license.expires_at,
            license.allowed_origins) == ("Renamed", None, expiry, ["https://a.example"])
    assert set(license.courses.all()) == {live.course, second}
    action, before, after = audit_rows(license)[-1]
    assert action == "license.updated"
    assert before == {"allowed_origins": [], "courses": [live.course.pk],
                      "expires_at": None, "max_learners": 10, "name": "Client LMS"}
    assert after["courses"] == sorted([live.course.pk, second.pk])
    # nothing changed: no row
    licenses.update_license(license, actor=alice(people), name="Renamed")
    assert len(audit_rows(license)) == 2


def test_a_new_token_for_the_same_license(people: People, live: Live) -> None:
    license, first = issue(people, [live.course])
    second = licenses.license_token(license, actor=alice(people))
    assert second != first
    assert parts(second)[1]["sub"] == parts(first)[1]["sub"] == str(license.uid)
    assert parts(second)[1]["jti"] != parts(first)[1]["jti"]
    for token in (first, second):  # both name the license: both launch
        assert licenses.read_token(token).license_uid == license.uid
    assert audit_rows(license)[-1][0] == "license.token_minted"

"""What a launched course reports back (delivery.reports): progress and runtime errors,
accepted only with a live launch session's credential, filed under that session; and
learners in the middle of an attempt stay on the version they started."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coursewright.audit.actor import Actor
from coursewright.delivery import gatekeeper, licenses
from coursewright.delivery.models import (
    Completion,
    LaunchProgress,
    LaunchSession,
    License,
    PlayerError,
    Success,
)
from coursewright.delivery.reports import MAX_ERRORS_PER_SESSION, interpret
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import (
    ORIGIN,
    Live,
    course_of,
    deploy,
    deployed_course,
    issue,
)

PROGRESS = "/launch/v1/progress"
ERRORS = "/launch/v1/errors"


@pytest.fixture
def live(people: People) -> Live:
    return deployed_course(people.acme, people.bob)


@pytest.fixture
def licensed(people: People, live: Live) -> tuple[License, str]:
    return issue(people, [live.course], allowed_origins=[ORIGIN])


def launch(token: str, live: Live, learner: str = "lms-user-42") -> gatekeeper.LaunchDecision:
    decision = gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id=learner,
                                 origin=ORIGIN)
    assert decision.allowed, decision.reason
    return decision


def post(path: str, body: Any, session: str | None) -> Any:
    headers = {"HTTP_X_COURSEWRIGHT_SESSION": session} if session is not None else {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client().post(path, raw, content_type="application/json", **headers)


def report(session: str, values: dict[str, str], fmt: str = "scorm2004") -> Any:
    return post(PROGRESS, {"format": fmt, "values": values}, session)


# --- interpreting the runtime ----------------------------------------------------------


@pytest.mark.parametrize(("status", "completion", "success"), [
    ("passed", Completion.COMPLETED, Success.PASSED),
    ("failed", Completion.COMPLETED, Success.FAILED),
    ("completed", Completion.COMPLETED, Success.UNKNOWN),
    ("incomplete", Completion.INCOMPLETE, Success.UNKNOWN),
    ("browsed", Completion.INCOMPLETE, Success.UNKNOWN),
    ("not attempted", Completion.NOT_ATTEMPTED, Success.UNKNOWN),
])
def test_scorm12_lesson_status(status: str, completion: str, success: str) -> None:
    facts = interpret("scorm12", {"cmi.core.lesson_status": status})
    assert (facts["completion"], facts["success"]) == (completion, success)


def test_scores_are_scaled() -> None:
    assert interpret("scorm12", {"cmi.core.score.raw": "80"})["score"] == 0.8
    assert interpret("scorm12", {"cmi.core.score.raw": "3", "cmi.core.score.min": "0",
                                 "cmi.core.score.max": "4"})["score"] == 0.75
    assert interpret("scorm2004", {"cmi.score.scaled": "0.5",
                                   "cmi.score.raw": "99"})["score"] == 0.5
    assert interpret("scorm2004", {"cmi.score.raw": "1", "cmi.score.min": "0",
                                   "cmi.score.max": "2"})["score"] == 0.5
    assert "score" not in interpret("scorm2004", {"cmi.score.scaled": "NaN"})
    assert "score" not in interpret("scorm12", {"cmi.core.score.raw": ""})


def test_scorm2004_statuses_and_progress() -> None:
    facts = interpret("scorm2004", {"cmi.completion_status": "incomplete",
                                    "cmi.success_status": "unknown",
                                    "cmi.progress_measure": "0.4", "cmi.location": "s2"})
    assert facts == {"completion": Completion.INCOMPLETE, "success": Success.UNKNOWN,
                     "progress": 0.4, "location": "s2"}
    assert interpret("scorm12", {"cmi.core.lesson_location": "s3"}) == {"location": "s3"}
    assert interpret("scorm12", {"cmi.core.lesson_location": "x" * 101}) == {}
    assert interpret("scorm2004", {"cmi.completion_status": "completed"})["progress"] == 1.0
    assert interpret("scorm2004", {"cmi.completion_status": "bogus"}) == {}


@given(st.dictionaries(st.sampled_from([
    "cmi.core.lesson_status", "cmi.core.score.raw", "cmi.core.score.min",
    "cmi.core.score.max", "cmi.completion_status", "cmi.success_status",
    "cmi.score.scaled", "cmi.score.raw", "cmi.score.min", "cmi.score.max",
    "cmi.progress_measure"]), st.one_of(st.text(max_size=40), st.integers(), st.none(),
                                        st.floats().map(str))),
       st.sampled_from(["scorm12", "scorm2004"]))
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_runtime_values_give_valid_facts(values: dict[str, Any], fmt: str) -> None:
    facts = interpret(fmt, values)
    for key in ("score", "progress"):
        if key in facts:
            assert 0.0 <= facts[key] <= 1.0
    assert facts.get("completion", Completion.UNKNOWN) in Completion.values
    assert facts.get("success", Success.UNKNOWN) in Success.values


# --- progress --------------------------------------------------------------------------


def test_progress_is_filed_under_the_session(people: People, live: Live,
                                            licensed: tuple[License, str]) -> None:
    license, token = licensed
    decision = launch(token, live)
    # the body cannot move the record elsewhere: extra keys are ignored
    response = post(PROGRESS, {"format": "scorm2004", "course": 999, "org": 1,
                               "values": {"cmi.completion_status": "incomplete",
                                          "cmi.progress_measure": "0.5"}}, decision.session)
    assert response.status_code == 204
    row = LaunchProgress.objects.get()
    session = LaunchSession.objects.get()
    assert (row.org_id, row.license_id, row.course_id, row.version_id, row.session_id) == (
        people.acme.pk, license.pk, live.course.pk, live.version.pk, session.pk)
    assert row.learner == session.learner
    assert len(row.learner) == 64
    assert (row.completion, row.progress, row.reports) == (Completion.INCOMPLETE, 0.5, 1)


def test_a_completed_attempt_stays_completed(live: Live,
                                             licensed: tuple[License, str]) -> None:
    _, token = licensed
    session = launch(token, live).session
    assert report(session, {"cmi.core.lesson_status": "passed",
                            "cmi.core.score.raw": "90"}, "scorm12").status_code == 204
    first = LaunchProgress.objects.get()
    assert (first.completion, first.success, first.score) == (
        Completion.COMPLETED, Success.PASSED, 0.9)
    assert first.location == ""
    assert first.completed_at is not None
    # a later report that says otherwise does not undo the completion
    assert report(session, {"cmi.core.lesson_status": "incomplete",
                            "cmi.core.score.raw": "70"}, "scorm12").status_code == 204
    row = LaunchProgress.objects.get()
    assert (row.completion, row.score, row.reports) == (Completion.COMPLETED, 0.7, 2)
    assert row.completed_at == first.completed_at


@pytest.mark.parametrize("credential", [None, "", "x" * 43, "y" * 500])
def test_without_a_live_session_credential_nothing_is_filed(
        live: Live, licensed: tuple[License, str], credential: str | None) -> None:
    launch(licensed[1], live)
    for path, body in ((PROGRESS, {"format": "scorm12", "values": {}}),
                       (ERRORS, {"kind": "script", "message": "boom"})):
        response = post(path, body, credential)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "session_expired"
    assert not LaunchProgress.objects.exists()
    assert not PlayerError.objects.exists()


def test_an_expired_session_or_a_revoked_license_cannot_report(
        people: People, live: Live, licensed: tuple[License, str]) -> None:
    license, token = licensed
    session = launch(token, live).session
    LaunchSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert report(session, {"cmi.completion_status": "completed"}).status_code == 403
    fresh = launch(token, live).session
    licenses.revoke_license(license, actor=Actor.person(people.alice), reason="ended")
    assert report(fresh, {"cmi.completion_status": "completed"}).status_code == 403
    assert post(ERRORS, {"kind": "script", "message": "x"}, fresh).status_code == 403
    assert not LaunchProgress.objects.exists()


@pytest.mark.parametrize(("body", "status"), [
    (b"not json", 400),
    (b"[1, 2]", 400),
    ({"format": "cmi5", "values": {}}, 400),
    ({"format": "scorm12", "values": "passed"}, 400),
    ({"format": "scorm12"}, 400),
    ({"format": "scorm12", "values": {"cmi.suspend_data": "x" * 9000}}, 413),
])
def test_bad_progress_reports_are_4xx(live: Live, licensed: tuple[License, str],
                                      body: Any, status: int) -> None:
    session = launch(licensed[1], live).session
    response = post(PROGRESS, body, session)
    assert response.status_code == status
    assert "error" in response.json()
    assert not LaunchProgress.objects.exists()


def test_reports_are_post_only_and_need_no_cookie(live: Live,
                                                  licensed: tuple[License, str]) -> None:
    session = launch(licensed[1], live).session
    client = Client(enforce_csrf_checks=True)
    assert client.get(PROGRESS, HTTP_X_COURSEWRIGHT_SESSION=session).status_code == 405
    response = client.post(PROGRESS, {"format": "scorm12", "values": {}},
                           content_type="application/json",
                           HTTP_X_COURSEWRIGHT_SESSION=session)
    assert response.status_code == 204
    assert not response.cookies


def test_another_organisations_session_reports_only_into_its_own(
        people: People, live: Live) -> None:
    theirs = deployed_course(people.globex, people.mallory, "Globex course")
    _, token = issue(people, [theirs.course], allowed_origins=[ORIGIN])
    session = launch(token, theirs).session
    assert report(session, {"cmi.completion_status": "completed"}).status_code == 204
    assert post(ERRORS, {"kind": "script", "message": "x"}, session).status_code == 204
    assert not LaunchProgress.objects.filter(org=people.acme).exists()
    assert not PlayerError.objects.filter(org=people.acme).exists()
    assert LaunchProgress.objects.get().course_id == theirs.course.pk


# --- runtime errors --------------------------------------------------------------------


def test_a_runtime_error_is_filed_sealed(people: People, live: Live,
                                        licensed: tuple[License, str]) -> None:
    session = launch(licensed[1], live).session
    response = post(ERRORS, {"kind": "lms", "message": "LMSCommit was refused by the LMS",
                             "detail": "error code 301"}, session)
    assert response.status_code == 204
    error = PlayerError.objects.get()
    assert (error.org_id, error.course_id, error.version_id, error.kind) == (
        people.acme.pk, live.course.pk, live.version.pk, "lms")
    assert (error.message, error.detail) == ("LMSCommit was refused by the LMS",
                                             "error code 301")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT message FROM {PlayerError._meta.db_table}")  # noqa: S608
        (raw,) = cursor.fetchone()
    assert b"refused" not in bytes(raw)


def test_messages_are_cut_and_a_session_has_a_quota(live: Live,
                                                    licensed: tuple[License, str]) -> None:
    session = launch(licensed[1], live).session
    assert post(ERRORS, {"kind": "script", "message": "m" * 600}, session).status_code == 204
    assert len(PlayerError.objects.get().message) == 500
    for _ in range(MAX_ERRORS_PER_SESSION - 1):
        assert post(ERRORS, {"kind": "content", "message": "img"}, session).status_code == 204
    over = post(ERRORS, {"kind": "content", "message": "img"}, session)
    assert over.status_code == 429
    assert over["Retry-After"]
    assert PlayerError.objects.count() == MAX_ERRORS_PER_SESSION


@pytest.mark.parametrize("body", [
    {"kind": "fatal", "message": "x"},
    {"kind": "script", "message": "   "},
    {"kind": "script", "message": 5},
    {"kind": "script", "message": "x", "detail": ["a"]},
])
def test_bad_error_reports_are_400(live: Live, licensed: tuple[License, str],
                                   body: dict[str, Any]) -> None:
    session = launch(licensed[1], live).session
    assert post(ERRORS, body, session).status_code == 400
    assert not PlayerError.objects.exists()


# --- mid-attempt learners stay on their version ----------------------------------------


def test_a_learner_mid_attempt_stays_on_the_version_they_started(
        people: People, live: Live, licensed: tuple[License, str]) -> None:
    _, token = licensed
    first = launch(token, live, learner="anna")
    assert first.version == live.version.number
    assert report(first.session, {"cmi.completion_status": "incomplete"}).status_code == 204
    # a newer version goes live
    newer = course_of(people.acme, people.bob)
    newer.course = live.course
    newer.course_id = live.course.pk
    newer.number = live.version.number + 1
    newer.save(update_fields=["course", "number"])
    deploy(newer)
    # anna, mid-attempt, relaunches: still the version she started
    again = launch(token, live, learner="anna")
    assert (again.version, again.deployment_uid) == (live.version.number,
                                                     str(live.deployment.uid))
    assert LaunchSession.objects.order_by("-id").first().version_id == live.version.pk
    # a learner who had not started gets the new one
    assert launch(token, live, learner="ben").version == newer.number
    # once anna completes, her next launch is on the new version
    assert report(again.session, {"cmi.completion_status": "completed"}).status_code == 204
    assert launch(token, live, learner="anna").version == newer.number

"""AGS grade passback (token by private_key_jwt, score, retries, failures in the course's
error log) and deep linking (picker, signed response), against the stub platform."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from coursewright.delivery.models import LaunchSession, PlayerError, PlayerErrorKind
from coursewright.delivery.reports import record_progress
from coursewright.lti import grades
from coursewright.lti.models import GradeState, LtiLaunch
from tests.conftest import People
from tests.lti.support import (
    AGS,
    CLIENT_ID,
    DEPLOYMENT,
    DL,
    INSTRUCTOR,
    SCORE_SCOPE,
    Setup,
    StubPlatform,
    launch,
    login,
    register,
    stub_platform,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def platform() -> Iterator[StubPlatform]:
    with stub_platform() as stub:
        yield stub


@pytest.fixture
def setup(people: People, platform: StubPlatform) -> Setup:
    return register(people, platform)


def tool_keys(client: Client) -> KeySet:
    return KeySet.import_key_set(client.get("/lti/jwks.json").json())


def graded_launch(setup: Setup, *, scopes: list[str] | None = None) -> LaunchSession:
    client = Client()
    state, nonce = login(client, setup)
    token = setup.platform.id_token(nonce=nonce, course=setup.course, **{AGS: {
        "scope": scopes if scopes is not None else [SCORE_SCOPE],
        "lineitem": f"{setup.platform.url}/lineitems/7"}})
    assert launch(client, setup, token, state).status_code == 200
    return LaunchSession.objects.get()


def test_completion_and_score_reach_the_line_item(setup: Setup, run_jobs: None,
                                                  client: Client) -> None:
    session = graded_launch(setup)
    platform = setup.platform
    # the course starts: an in-progress grade
    record_progress(session, "scorm2004", {"cmi.completion_status": "incomplete"})
    # and finishes with 80 %
    record_progress(session, "scorm2004", {"cmi.completion_status": "completed",
                                           "cmi.success_status": "passed",
                                           "cmi.score.scaled": "0.8"})
    assert [s["activityProgress"] for s in platform.scores] == ["Started", "Completed"]
    final = platform.scores[-1]
    assert final["path"] == "/lineitems/7/scores"
    assert final["type"] == "application/vnd.ims.lis.v1.score+json"
    assert (final["userId"], final["scoreGiven"], final["scoreMaximum"],
            final["gradingProgress"]) == ("lms-user-7", 80.0, 100, "FullyGraded")
    assert platform.score_auth[-1].startswith("Bearer at-")
    # the token came by a private_key_jwt assertion signed with the published tool key
    form = platform.token_requests[-1]
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == [SCORE_SCOPE]
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assertion = jwt.decode(form["client_assertion"][0], tool_keys(client),
                           algorithms=["RS256"])
    claims = assertion.claims
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == f"{platform.url}/token"
    assert claims["exp"] - claims["iat"] <= 300
    assert claims["jti"]
    record = LtiLaunch.objects.get()
    assert record.grade_state == GradeState.SENT
    assert record.attempts == 1
    # the same values again send nothing more
    record_progress(session, "scorm2004", {"cmi.completion_status": "completed"})
    assert len(platform.scores) == 2


def test_no_score_scope_no_line_item_no_grade(people: People, platform: StubPlatform,
                                              run_jobs: None) -> None:
    setup = register(people, platform)
    session = graded_launch(setup, scopes=[])
    record_progress(session, "scorm2004", {"cmi.completion_status": "completed"})
    assert platform.scores == []
    assert platform.token_requests == []
    # and the sub is not even kept when no grade can be sent
    assert LtiLaunch.objects.get().subject is None


def test_a_failing_platform_is_retried_with_backoff_and_logged(
        setup: Setup, run_jobs: None) -> None:
    session = graded_launch(setup)
    setup.platform.score_status = 503
    record_progress(session, "scorm2004", {"cmi.completion_status": "completed",
                                           "cmi.score.scaled": "1"})
    record = LtiLaunch.objects.get()
    assert record.grade_state == GradeState.PENDING
    assert record.attempts == 1
    assert record.last_status == 503
    assert "503" in record.last_error
    assert record.next_attempt_at is not None
    assert record.next_attempt_at > timezone.now()
    # the course's runtime error log shows it (the LMS call failed)
    error = PlayerError.objects.get(session=session)
    assert error.kind == PlayerErrorKind.LMS
    assert "grade passback failed" in error.message
    # not due yet: the periodic job leaves it
    assert grades.due_grades() == []
    # later, the platform is back
    setup.platform.score_status = 200
    later = record.next_attempt_at + timedelta(seconds=1)
    assert grades.due_grades(later) == [record.pk]
    assert grades.send_grade(record.pk, now=later) == "sent"
    assert LtiLaunch.objects.get().grade_state == GradeState.SENT


def test_it_gives_up_after_the_last_attempt(setup: Setup, run_jobs: None) -> None:
    session = graded_launch(setup)
    setup.platform.score_status = 500
    record_progress(session, "scorm2004", {"cmi.completion_status": "completed"})
    moment = timezone.now()
    for _ in range(grades.MAX_ATTEMPTS):
        moment += timedelta(days=1)
        grades.send_grade(LtiLaunch.objects.get().pk, now=moment)
    record = LtiLaunch.objects.get()
    assert record.grade_state == GradeState.FAILED
    assert record.attempts == grades.MAX_ATTEMPTS
    assert "gave up" in PlayerError.objects.filter(session=session).first().message


def test_the_outbound_guard_refuses_private_targets_for_grades(
        setup: Setup, run_jobs: None, settings: Any) -> None:
    session = graded_launch(setup)
    settings.OUTBOUND_ALLOW_PRIVATE = False
    record_progress(session, "scorm2004", {"cmi.completion_status": "completed"})
    record = LtiLaunch.objects.get()
    assert "outbound guard refused" in record.last_error
    assert setup.platform.scores == []


# --- deep linking -------------------------------------------------------------------------


def deep_link_token(setup: Setup, nonce: str, roles: list[str] | None = None,
                    data: Any = "opaque-42") -> str:
    settings_claim = {"deep_link_return_url": f"{setup.platform.url}/dl-return",
                      "accept_types": ["ltiResourceLink"],
                      "accept_presentation_document_targets": ["iframe", "window"]}
    if data is not None:
        settings_claim["data"] = data
    return setup.platform.id_token(
        nonce=nonce, roles=roles or [INSTRUCTOR],
        drop=("https://purl.imsglobal.org/spec/lti/claim/resource_link",),
        **{"https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiDeepLinkingRequest",
           DL + "deep_linking_settings": settings_claim})


def picker(setup: Setup, client: Client, **kwargs: Any) -> str:
    state, nonce = login(client, setup)
    response = launch(client, setup, deep_link_token(setup, nonce, **kwargs), state)
    assert response.status_code == 200, response.content[:400]
    page = response.content.decode()
    assert "Choose a course" in page
    assert "Fire safety" in page
    return page.split('name="context" value="')[1].split('"')[0]


def test_deep_linking_answers_a_signed_response_that_echoes_data(
        setup: Setup, client: Client) -> None:
    context = picker(setup, client)
    response = client.post(f"/lti/r/{setup.registration.uid}/deep-link", {
        "context": context, "course": str(setup.course.uid), "module": "s1",
        "graded": "yes"})
    assert response.status_code == 200
    page = response.content.decode()
    assert f'action="{setup.platform.url}/dl-return"' in page
    assert f"form-action {setup.platform.url}" in response["Content-Security-Policy"]
    token = page.split('name="JWT" value="')[1].split('"')[0]
    claims = jwt.decode(token, tool_keys(client), algorithms=["RS256"]).claims
    assert claims["iss"] == CLIENT_ID
    assert claims["aud"] == setup.platform.issuer
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == (
        "LtiDeepLinkingResponse")
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == DEPLOYMENT
    assert claims[DL + "data"] == "opaque-42"
    [item] = claims[DL + "content_items"]
    assert item["type"] == "ltiResourceLink"
    assert item["url"].endswith(f"/lti/r/{setup.registration.uid}/launch")
    assert item["custom"] == {"course": str(setup.course.uid), "module": "s1"}
    assert item["lineItem"]["scoreMaximum"] == 100


def test_no_data_no_data_claim_and_no_grade_no_line_item(setup: Setup,
                                                          client: Client) -> None:
    context = picker(setup, client, data=None)
    response = client.post(f"/lti/r/{setup.registration.uid}/deep-link", {
        "context": context, "course": str(setup.course.uid), "graded": "no"})
    token = response.content.decode().split('name="JWT" value="')[1].split('"')[0]
    claims = jwt.decode(token, tool_keys(client), algorithms=["RS256"]).claims
    assert DL + "data" not in claims
    assert "lineItem" not in claims[DL + "content_items"][0]


def test_deep_linking_is_for_teachers_and_a_forged_context_is_refused(
        setup: Setup, people: People, client: Client) -> None:
    from tests.delivery.test_licenses_fixtures import deployed_course
    from tests.lti.support import LEARNER

    state, nonce = login(client, setup)
    response = launch(client, setup, deep_link_token(setup, nonce, roles=[LEARNER]), state)
    assert response.status_code == 403
    assert "<code>not_instructor</code>" in (
        response.content.decode())
    context = picker(setup, client)
    url = f"/lti/r/{setup.registration.uid}/deep-link"
    # a made-up or altered context
    assert client.post(url, {"context": "x", "course": str(setup.course.uid)}
                       ).status_code == 400
    assert client.post(url, {"context": context[:-2] + "xx",
                             "course": str(setup.course.uid)}).status_code == 400
    # a course not on the license (here: another course of the same organisation)
    other = deployed_course(people.acme, people.bob, "Unlicensed")
    assert client.post(url, {"context": context, "course": str(other.course.uid)}
                       ).status_code == 400
    # a module that is not the course's
    assert client.post(url, {"context": context, "course": str(setup.course.uid),
                             "module": "nope"}).status_code == 400
    # the context of one registration is not another's
    other_setup = register(people, setup.platform, client_id="other-client")
    response = client.post(f"/lti/r/{other_setup.registration.uid}/deep-link", {
        "context": context, "course": str(setup.course.uid)})
    assert response.status_code == 400


def test_the_tool_configuration_lists_the_urls(setup: Setup, client: Client) -> None:
    data = client.get(f"/lti/r/{setup.registration.uid}/config.json").json()
    assert data["login_url"].endswith(f"/lti/r/{setup.registration.uid}/login")
    assert data["launch_url"].endswith(f"/lti/r/{setup.registration.uid}/launch")
    assert data["jwks_url"].endswith("/lti/jwks.json")
    assert client.get("/lti/r/nope/config.json").status_code == 404


def test_key_rotation_keeps_the_old_key_published_until_retired(client: Client) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.lti import keys

    first = client.get("/lti/jwks.json").json()["keys"][0]["kid"]
    new, old = keys.rotate_key(actor=Actor.system())
    assert old == first
    kids = [k["kid"] for k in client.get("/lti/jwks.json").json()["keys"]]
    assert kids == [new, first]
    with pytest.raises(keys.LtiKeyError):
        keys.retire(new)
    keys.retire_key(first, actor=Actor.system())
    assert [k["kid"] for k in client.get("/lti/jwks.json").json()["keys"]] == [new]
    # what is signed now verifies with the published set
    token = keys.sign({"x": 1})
    assert json.loads(json.dumps(jwt.decode(token, tool_keys(client),
                                            algorithms=["RS256"]).claims)) == {"x": 1}

"""The player token, CORS, switching learner AI on and off, cross-org isolation,
retention."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from coursewright.assist.models import AssistAccess, GradingRecord
from coursewright.audit.models import AuditEvent
from tests.assist.conftest import (
    Course,
    approved_course,
    ask,
    grading_reply,
    player,
    submit,
)
from tests.conftest import People, client_for, key_client
from tests.support.fake_providers import FakeProviders


def test_switching_on_mints_a_token_once_and_off_revokes_it(
        people: People, acme_course: Course, fake: FakeProviders) -> None:
    api = key_client(people.acme_key)
    url = f"/api/v1/versions/{acme_course.version.pk}/assist"
    assert api.get(url).json()["token"] is None

    on = api.post(url).json()
    assert (on["tutor"], on["grading"]) == (True, True)
    token = on["token"]
    assert token.startswith("cwa_")
    assert len(token) == 47
    assert on["endpoint"].endswith("/api/player/v1")
    # changing the features keeps the token (packages stay valid)
    again = api.post(url + "?grading=false").json()
    assert (again["token"], again["grading"]) == (token, False)
    assert AuditEvent.objects.filter(action="assist.enabled").count() == 2

    assert ask(player(token), "How do I report phishing?").status_code == 200
    assert api.delete(url).json() == {"revoked": True}
    assert not AssistAccess.objects.exists()
    refused = ask(player(token), "How do I report phishing?")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "bad_player_token"
    assert refused["Access-Control-Allow-Origin"] == "*"

    # switching on again mints a new token
    assert api.post(url).json()["token"] != token


def test_only_approved_versions_get_learner_ai(people: People) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.courses.actions import create_course
    from coursewright.courses.content import CourseContent
    from tests.assist.conftest import course_content

    draft = create_course(people.acme, content=CourseContent.model_validate(course_content()),
                          actor=Actor.person(people.bob))
    response = key_client(people.acme_key).post(f"/api/v1/versions/{draft.pk}/assist")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_approved"


def test_reviewers_cannot_switch_learner_ai_on(people: People, acme_course: Course) -> None:
    response = client_for(people.rita).post(f"/api/v1/versions/{acme_course.version.pk}/assist")
    assert response.status_code == 403


def test_the_player_api_answers_cors_without_credentials(acme_token: str,
                                                         fake: FakeProviders) -> None:
    client = player(None)
    for path in ("/api/player/v1/tutor/ask", "/api/player/v1/grading/submit"):
        preflight = client.options(path, headers={
            "Origin": "https://lms.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 204
        assert preflight["Access-Control-Allow-Origin"] == "*"
        assert "POST" in preflight["Access-Control-Allow-Methods"]
        assert "Authorization" in preflight["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in preflight
    answered = ask(player(acme_token), "How do I report phishing?")
    assert answered["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answered
    assert not answered.cookies
    assert ask(client, "How do I report phishing?").status_code == 401


def test_a_token_is_no_api_key_and_an_api_key_is_no_token(
        people: People, acme_course: Course, acme_token: str) -> None:
    assert player(acme_token).get("/api/v1/courses").status_code == 401
    assert ask(player(people.acme_key), "How do I report phishing?").status_code == 401
    # a dashboard session does not open the player API either
    session = client_for(people.alice)
    assert ask(session, "How do I report phishing?").status_code == 401


def test_globex_sees_nothing_of_acme(people: People, acme_course: Course, acme_token: str,
                                     fake_ai: FakeProviders) -> None:
    # given an Acme grade
    fake_ai.responder = grading_reply
    record = GradingRecord.objects.get(uid=submit(player(acme_token)).json()["id"])
    version_id = acme_course.version.pk
    course_id = acme_course.course.pk

    for client in (key_client(people.globex_key), client_for(people.mallory)):
        # Acme's token, its settings and its grades are all "not found"
        for response in (
                client.get(f"/api/v1/versions/{version_id}/assist"),
                client.post(f"/api/v1/versions/{version_id}/assist"),
                client.delete(f"/api/v1/versions/{version_id}/assist"),
                client.get(f"/api/v1/courses/{course_id}/gradings"),
                client.post(f"/api/v1/gradings/{record.pk}/review",
                            json.dumps({"score": 0}), content_type="application/json")):
            assert response.status_code == 404, response.content
            assert response.json()["error"]["code"] == "not_found"
    assert AssistAccess.objects.get().tutor is True
    record.refresh_from_db()
    assert record.final_score is None

    # and Globex's own player token reaches only Globex's course
    from coursewright.assist.actions import enable_assist
    from coursewright.audit.actor import Actor

    globex = approved_course(people.globex, people.mallory, people.mallory, content={
        "title": "Globex onboarding", "screens": [{"id": "s1", "title": "Badges", "blocks": [
            {"id": "g1", "type": "text", "markdown": "Wear your badge at all times."}]}]})
    globex_token = enable_assist(globex.version, actor=Actor.person(people.mallory)).token
    assert submit(player(globex_token), block_id="ft1").status_code == 404
    fake_ai.clear()
    fake_ai.responder = lambda call: "Wear your badge [P1]."
    answer = ask(player(globex_token), "When do I wear my badge or use the report button?")
    assert answer.status_code == 200
    assert [r["screen_id"] for r in answer.json()["references"]] == ["s1"]
    [call] = fake_ai.calls
    assert "Wear your badge" in call.prompt_text
    assert "security desk" not in call.prompt_text  # nothing of Acme's course


def test_retention_purges_old_grading_records(fake_ai: FakeProviders, acme_token: str,
                                              people: People) -> None:
    from coursewright.audit.actor import Actor
    from coursewright.privacy.retention import purge_org, set_retention

    fake_ai.responder = grading_reply
    submit(player(acme_token))
    GradingRecord.objects.update(created_at=timezone.now() - timedelta(days=40))
    submit(player(acme_token), session="another-session-12345")
    set_retention(people.acme, {"learner_records": 30}, actor=Actor.person(people.alice))
    report = purge_org(people.acme)
    assert report["learner_records"] == 1
    assert GradingRecord.objects.count() == 1


def test_a_licensed_launch_uses_its_session_credential_not_the_token(
        people: People, acme_course: Course, acme_token: str, fake: FakeProviders) -> None:
    from django.test import Client

    from coursewright.audit.actor import Actor
    from coursewright.delivery import gatekeeper, licenses
    from tests.delivery.test_licenses_fixtures import deploy, issue

    deploy(acme_course.version)
    license, token = issue(people, [acme_course.course])
    decision = gatekeeper.launch(token, course_uid=str(acme_course.course.uid),
                                 learner_id="lms-1", origin="")
    secret = decision.session
    # the play page carries the session's credential, never the version's assist token
    page = Client().get(f"/launch/v1/play/{secret}/").content.decode()
    assert secret in page
    assert acme_token not in page
    # the credential opens the tutor for that version while the session lives
    assert ask(player(secret), "How do I report phishing?").status_code == 200
    # and stops the moment the license is revoked (the token itself still works)
    licenses.revoke_license(license, actor=Actor.person(people.alice))
    refused = ask(player(secret), "How do I report phishing?")
    assert refused.status_code == 401
    assert ask(player(acme_token), "How do I report phishing?").status_code == 200
    # a made-up credential of the same shape opens nothing
    assert ask(player("A" * 43), "How do I report phishing?").status_code == 401

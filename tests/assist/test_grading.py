"""AI grading of free-text answers: the rubric, the schema, a person's final word."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from coursewright.assist.models import GradingRecord, GradingStatus
from coursewright.audit.models import AuditEvent
from tests.assist.conftest import (
    ANSWER_TEXT,
    SESSION,
    Course,
    grading_reply,
    player,
    submit,
)
from tests.conftest import People, client_for, key_client
from tests.support.fake_providers import Call, FakeProviders


def test_grading_scores_the_answer_against_the_rubric(
        fake_ai: FakeProviders, acme_token: str, acme_course: Course) -> None:
    # given the provider's verdicts
    fake_ai.responder = grading_reply

    # when the learner submits an answer
    response = submit(player(acme_token))

    # then the score is the points of the met criteria, computed here
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["score"], body["max_score"], body["status"]) == (2, 3, "ai_graded")
    assert [(c["id"], c["met"]) for c in body["criteria"]] == [("report", True),
                                                               ("noclick", False)]
    record = GradingRecord.objects.get(uid=body["id"])
    assert record.answer == ANSWER_TEXT
    assert record.version_id == acme_course.version.pk
    assert record.provider == "fake"

    # and the request carried the rubric and the answer, asked for the schema, and
    # nothing about who the learner is
    [request] = fake_ai.requests
    call = request.call
    assert call is not None
    assert ANSWER_TEXT in (call.last_user or "")
    assert "Says to report it with the report button" in (call.last_user or "")
    assert SESSION not in request.body_text
    assert acme_token not in request.body_text
    system = call.system or ""
    assert "emotions, sentiment" in system
    assert call.json_schema is not None
    schema_text = json.dumps(call.json_schema).lower()
    for word in ("emotion", "sentiment", "mood", "tone"):
        assert word not in schema_text
    assert set(call.json_schema["properties"]) == {"criteria", "total_score"}
    assert set(call.json_schema["properties"]["criteria"]["items"]["properties"]) == {
        "id", "met", "justification"}


def test_anything_beyond_the_rubric_is_stripped(fake_ai: FakeProviders,
                                                acme_token: str) -> None:
    def chatty(call: Call) -> str:
        return json.dumps({
            "criteria": [
                {"id": "report", "met": True, "justification": "Names the button.",
                 "sentiment": "confident"},
                {"id": "noclick", "met": True, "justification": "Says not to click.",
                 "emotion": "calm"},
                {"id": "invented", "met": True, "justification": "Extra points."}],
            "total_score": 99, "learner_mood": "anxious"})

    fake_ai.responder = chatty
    body = submit(player(acme_token)).json()
    assert body["score"] == 3  # not the model's 99, not the invented criterion
    record = GradingRecord.objects.get(uid=body["id"])
    assert record.result == {"criteria": [
        {"id": "report", "met": True, "justification": "Names the button."},
        {"id": "noclick", "met": True, "justification": "Says not to click."}]}
    assert "confident" not in json.dumps(body)
    assert "anxious" not in json.dumps(body)


def test_an_answer_missing_a_verdict_fails_over_and_is_not_stored(
        fake_ai: FakeProviders, acme_token: str) -> None:
    fake_ai.responder = lambda call: json.dumps({"criteria": [
        {"id": "report", "met": True, "justification": "x"}], "total_score": 2})
    response = submit(player(acme_token))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "ai_unavailable"
    assert not GradingRecord.objects.exists()


def test_grading_is_refused_with_only_the_offline_engine(fake: FakeProviders,
                                                         acme_token: str) -> None:
    response = submit(player(acme_token))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "grading_unavailable"
    assert "offline engine" in error["message"]
    assert fake.requests == []
    assert not GradingRecord.objects.exists()


def test_grading_is_refused_when_the_feature_is_off(fake_ai: FakeProviders, acme_token: str,
                                                    people: People) -> None:
    from coursewright.ai.policy import update_policy
    from coursewright.audit.actor import Actor

    update_policy(people.acme, actor=Actor.person(people.alice), features={"grading": False})
    response = submit(player(acme_token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "feature_disabled"
    assert fake_ai.requests == []


def test_answers_are_checked_before_anything_is_sent(fake_ai: FakeProviders,
                                                     acme_token: str) -> None:
    client = player(acme_token)
    assert submit(client, answer="x" * 501).status_code == 422  # max_length is 500
    assert submit(client, answer="  ").status_code == 422
    assert submit(client, block_id="q1").status_code == 404  # not a free-text question
    assert submit(client, block_id="nope").status_code == 404
    assert fake_ai.requests == []


def test_grading_rate_limit(fake_ai: FakeProviders, acme_token: str, settings: Any) -> None:
    settings.ASSIST_GRADING_PER_LEARNER = 1
    fake_ai.responder = grading_reply
    client = player(acme_token)
    assert submit(client).status_code == 200
    refused = submit(client)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1


def _graded(fake_ai: FakeProviders, token: str) -> GradingRecord:
    fake_ai.responder = grading_reply
    body = submit(player(token)).json()
    return GradingRecord.objects.get(uid=body["id"])


def test_reviewer_overrides_the_score_and_it_is_audited(
        fake_ai: FakeProviders, acme_token: str, acme_course: Course, people: People) -> None:
    record = _graded(fake_ai, acme_token)
    rita = client_for(people.rita)

    # the reviewer lists the course's grades
    listed = rita.get(f"/api/v1/courses/{acme_course.course.pk}/gradings").json()
    assert listed["count"] == 1
    item = listed["items"][0]
    assert item["answer"] == ANSWER_TEXT
    assert item["learner"] == record.learner_ref[:12]
    assert SESSION not in json.dumps(listed)

    # and sets the final score with a note
    response = rita.post(f"/api/v1/gradings/{record.pk}/review",
                         json.dumps({"score": 3, "note": "Mentions not clicking."}),
                         content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["score"], body["ai_score"], body["final_score"]) == (
        "reviewed", 3, 2, 3)
    assert body["reviewed_by"] == "rita@acme.test"
    record.refresh_from_db()
    assert record.status == GradingStatus.REVIEWED
    assert record.review_note == (
        "Mentions not clicking.")
    event = AuditEvent.objects.filter(action="assist.grading_reviewed").get()
    assert event.object_id == str(record.pk)
    assert event.actor_user_id == people.rita.pk
    assert AuditEvent.objects.filter(action="assist.answer_graded").count() == 1
    assert AuditEvent.objects.filter(action="grading_records.read").count() == 1


def test_only_reviewing_people_may_review(fake_ai: FakeProviders, acme_token: str,
                                          acme_course: Course, people: People) -> None:
    record = _graded(fake_ai, acme_token)
    url = f"/api/v1/gradings/{record.pk}/review"
    body = json.dumps({"score": 1})
    for client in (client_for(people.bob), key_client(people.acme_key)):
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 403
    assert client_for(people.bob).get(
        f"/api/v1/courses/{acme_course.course.pk}/gradings").status_code == 403
    out_of_range = client_for(people.alice).post(url, json.dumps({"score": 4}),
                                                 content_type="application/json")
    assert out_of_range.status_code == 422
    record.refresh_from_db()
    assert record.status == GradingStatus.AI_GRADED


def test_answers_and_results_are_encrypted_at_rest(fake_ai: FakeProviders, acme_token: str,
                                                   people: People) -> None:
    record = _graded(fake_ai, acme_token)
    from coursewright.assist.actions import review_grading
    from coursewright.audit.actor import Actor

    review_grading(record, actor=Actor.person(people.rita), score=1, note="ZQX-review-note")
    with connection.cursor() as cursor:
        cursor.execute("SELECT answer, result, review_note, learner_ref FROM "
                       "assist_gradingrecord WHERE id = %s", [record.pk])
        answer, result, note, ref = cursor.fetchone()
        cursor.execute("SELECT token FROM assist_assistaccess")
        (token,) = cursor.fetchone()
    assert b"ZQX-learner-answer" not in bytes(answer)
    assert b"report button" not in bytes(result).lower()
    assert b"ZQX-review-note" not in bytes(note)
    assert acme_token.encode() not in bytes(token)
    assert SESSION not in ref

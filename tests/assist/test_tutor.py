"""The AI tutor: grounded answers through the gate, refusals, the offline engine, limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coursewright.ai.models import LedgerEntry
from tests.assist.conftest import SESSION, Course, ask, player
from tests.conftest import People
from tests.support.fake_providers import Call, FakeProviders


def cite_first(call: Call) -> str:
    return "Use the report button to send it to the security desk [P2][P4]. [P99]"


def test_tutor_answers_from_the_course_through_the_openai_sdk(
        fake_ai: FakeProviders, acme_token: str) -> None:
    # given the fake provider answering with citations (one invented)
    fake_ai.responder = cite_first

    # when a learner asks through the player API
    response = ask(player(acme_token), "How do I report a phishing email?")

    # then the answer comes back with the passages it cited (the invented one dropped)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["mode"] == "ai"
    assert body["found"] is True
    assert "[P99]" not in body["answer"]
    refs = {r["ref"]: r for r in body["references"]}
    assert set(refs) <= {"P2", "P4"}
    assert refs
    assert any(r["screen_id"] == "report" for r in refs.values())

    # and the provider got one request from the real openai SDK
    [request] = fake_ai.requests
    assert request.path == "/openai/v1/chat/completions"
    assert request.headers["user-agent"].startswith("OpenAI/Python")
    assert request.headers["authorization"] == "Bearer sk-operator-test"
    call = request.call
    assert call is not None
    assert "ONLY the numbered passages" in (call.system or "")
    prompt = call.last_user or ""
    assert "How do I report a phishing email?" in prompt
    assert "report button" in prompt  # the course's own text
    assert "Forward suspicious emails to the security desk" in prompt  # a cited source
    # and nothing about the learner or the player credential left the server
    assert SESSION not in request.body_text
    assert acme_token not in request.body_text
    assert acme_token not in json.dumps(request.headers)
    from coursewright.assist.access import learner_ref

    assert learner_ref(SESSION) not in request.body_text


def test_quiz_blocks_are_not_sent(fake_ai: FakeProviders, acme_token: str) -> None:
    ask(player(acme_token), "Should I forward phishing to colleagues?")
    [call] = fake_ai.calls
    assert "warn them" not in call.prompt_text  # the true/false question's prompt
    assert "Report it with the report button and do not click" not in call.prompt_text


def test_question_with_no_match_is_not_sent(fake_ai: FakeProviders, acme_token: str) -> None:
    response = ask(player(acme_token), "Quantenchromodynamik Gluonen?")
    assert response.status_code == 200
    assert response.json() == {"mode": "ai", "found": False, "answer": "",
                               "references": []}
    assert fake_ai.requests == []


def test_tutor_refuses_when_the_feature_is_off(fake_ai: FakeProviders, acme_token: str,
                                                people: People) -> None:
    from coursewright.ai.policy import update_policy
    from coursewright.audit.actor import Actor

    # given the owner switched the tutor off in Acme's AI policy
    update_policy(people.acme, actor=Actor.person(people.alice), features={"tutor": False})

    # when a learner asks
    response = ask(player(acme_token), "How do I report a phishing email?")

    # then it is refused with the reason, recorded, and nothing was sent
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "feature_disabled"
    assert "switched off" in error["message"]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert fake_ai.requests == []
    entry = LedgerEntry.objects.get(org=people.acme, feature="tutor")
    assert (entry.outcome, entry.reason) == ("blocked", "feature_disabled")


def test_offline_engine_answers_extractively_without_sending(
        fake: FakeProviders, acme_token: str, people: People) -> None:
    # given Acme's default policy: the offline engine only
    response = ask(player(acme_token), "How do I report a phishing email?")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["mode"] == "extractive"
    assert body["found"] is True
    assert "report button" in body["answer"]
    assert body["references"][0]["excerpt"] in body["answer"]
    assert fake.requests == []
    entry = LedgerEntry.objects.get(org=people.acme, feature="tutor")
    assert (entry.provider, entry.outcome, entry.region) == ("offline", "ok", "local")


def test_rate_limit_per_learner_and_per_version(fake_ai: FakeProviders, acme_token: str,
                                                settings: Any) -> None:
    settings.ASSIST_TUTOR_PER_LEARNER = 2
    settings.ASSIST_TUTOR_PER_VERSION = 3
    client = player(acme_token)
    for _ in range(2):
        assert ask(client, "How do I report phishing?").status_code == 200

    # the same session: refused, with when to come back
    refused = ask(client, "How do I report phishing?")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Retry-After" in refused["Access-Control-Expose-Headers"]

    # another session may ask once more, then the whole version is at its limit
    assert ask(client, "How do I report phishing?", session="other-session-123456").status_code \
        == 200
    assert ask(client, "How do I report phishing?", session="third-session-1234567").status_code \
        == 429
    assert len(fake_ai.requests) == 3


@pytest.mark.parametrize("body", [
    {"session_id": "short", "question": "x y z"},
    {"session_id": SESSION, "question": "   "},
    {"session_id": SESSION, "question": "x" * 1001},
])
def test_bad_questions_are_refused(fake_ai: FakeProviders, acme_token: str,
                                   body: dict[str, str]) -> None:
    response = player(acme_token).post("/api/player/v1/tutor/ask", json.dumps(body),
                                       content_type="application/json")
    assert response.status_code == 422
    assert fake_ai.requests == []


def test_tutor_off_for_the_version(fake_ai: FakeProviders, acme_course: Course,
                                   acme_token: str, people: People) -> None:
    from coursewright.assist.actions import enable_assist
    from coursewright.audit.actor import Actor

    enable_assist(acme_course.version, actor=Actor.person(people.bob), tutor=False,
                  grading=True)
    response = ask(player(acme_token), "How do I report phishing?")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tutor_off"
    assert fake_ai.requests == []

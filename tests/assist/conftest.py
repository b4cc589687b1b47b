"""Fixtures for learner-facing AI: an approved course with a free-text question and cited
source passages, a fake AI provider (tests/support/fake_providers.py) configured for
the server, and a player client that carries the version's token and nothing else."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.conftest import People
from tests.support.fake_providers import Call, FakeProviders

CHUNKS = {
    "hb#c1": (["Phishing", "Reporting"], "Forward suspicious emails to the security desk "
              "with the report button, then delete them. Never forward them to colleagues."),
    "hb#c2": (["Phishing", "Passwords"], "The service desk will never ask for your password "
              "by email or phone."),
    "hb#c3": (["Travel", "Expenses"], "Hotel receipts are submitted within 30 days."),
}
SESSION = "k3Jq9sTq1xVbN2mZ8rPw4A"  # what the player makes up: random, not an LMS id
ANSWER_TEXT = "I would report it with the button ZQX-learner-answer and not click the link."


def _ai(*sources: str) -> dict[str, Any]:
    return {"kind": "ai", "engine": "openai-compatible", "model": "m",
            "generated_at": "2026-01-01T00:00:00Z", "sources": list(sources)}


def course_content() -> dict[str, Any]:
    return {
        "title": "Phishing basics",
        "screens": [
            {"id": "intro", "title": "What phishing is", "blocks": [
                {"id": "t1", "type": "text", "provenance": _ai("hb#c2"),
                 "markdown": "Phishing emails imitate **trusted senders**, such as the "
                             "service desk, to steal your password."},
            ]},
            {"id": "report", "title": "Reporting a phishing email", "blocks": [
                {"id": "h1", "type": "heading", "text": "The report button"},
                {"id": "t2", "type": "text", "provenance": _ai("hb#c1"),
                 "markdown": "Use the **report button** in your mail program to send a "
                             "suspicious email to the security desk."},
                {"id": "q1", "type": "true_false", "prompt": "You should forward phishing "
                 "to colleagues to warn them.", "answer": False},
                {"id": "ft1", "type": "free_text",
                 "prompt": "What do you do with a suspicious email?",
                 "rubric": [{"id": "report", "text": "Says to report it with the report "
                             "button", "points": 2},
                            {"id": "noclick", "text": "Says not to click links or open "
                             "attachments", "points": 1}],
                 "model_answer": "Report it with the report button and do not click.",
                 "max_length": 500},
            ]},
        ],
    }


@dataclass
class Course:
    version: Any
    course: Any
    document: Any


def approved_course(org: Any, author: Any, reviewer: Any,
                    content: dict[str, Any] | None = None) -> Course:
    from coursewright.audit.actor import Actor
    from coursewright.courses import actions
    from coursewright.courses.content import CourseContent
    from coursewright.ingest.models import Document, DocumentChunk

    source = b"# Handbook\n"
    document = Document.objects.create(
        org=org, uploaded_by=author, filename="handbook.md", source_format="md",
        size=len(source), sha256=hashlib.sha256(source).hexdigest(),
        storage_path=f"{org.region}/org-{org.pk}/uploads/x.md", title="Handbook",
        markdown=source.decode(), outline=[])
    DocumentChunk.objects.bulk_create(
        DocumentChunk(org=org, document=document, chunk_id=cid, ordinal=i,
                      section_path=path, text=text, page=None)
        for i, (cid, (path, text)) in enumerate(CHUNKS.items()))
    version = actions.create_course(
        org, content=CourseContent.model_validate(content or course_content()),
        actor=Actor.person(author), source_document=document)
    # (one-person organisations: the submission comes through a job, so the owner may
    # approve it)
    submitter = Actor.person(author) if author != reviewer else Actor.system()
    actions.submit_for_review(version, actor=submitter)
    # the reviewer has checked the sentences the grounding check could not match
    version = actions.approve_version(version, actor=Actor.person(reviewer),
                                      confirm_unsupported=True)
    return Course(version=version, course=version.course, document=document)


@pytest.fixture
def acme_course(people: People) -> Course:
    return approved_course(people.acme, people.bob, people.rita)


@pytest.fixture
def acme_token(people: People, acme_course: Course) -> str:
    from coursewright.assist.actions import enable_assist
    from coursewright.audit.actor import Actor

    access = enable_assist(acme_course.version, actor=Actor.person(people.alice))
    return str(access.token)


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with FakeProviders() as server:
        yield server


def providers_toml(fake: FakeProviders) -> str:
    return (f'[providers.fake]\nkind = "openai"\nlabel = "Fake AI"\nmodel = "fake-model"\n'
            f'regions = ["eu", "us"]\nbase_url = "{fake.openai_base_url}"\n'
            f'api_key_env = "CW_TEST_FAKE_KEY"\n')


@pytest.fixture
def fake_ai(fake: FakeProviders, settings: Any, tmp_path: Path, people: People,
            monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    """The fake provider configured on this server and allowed by both orgs' policies."""
    from coursewright.ai.policy import update_policy
    from coursewright.audit.actor import Actor

    path = tmp_path / "ai-providers.toml"
    path.write_text(providers_toml(fake), encoding="utf-8")
    settings.AI_PROVIDERS_FILE = str(path)
    monkeypatch.setenv("CW_TEST_FAKE_KEY", "sk-operator-test")
    update_policy(people.acme, actor=Actor.person(people.alice), providers=["fake"])
    update_policy(people.globex, actor=Actor.person(people.mallory), providers=["fake"])
    return fake


def player(token: str | None) -> Client:
    """A client as the player is: no cookies, only the token header."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(headers=headers)


def ask(client: Client, question: str, session: str = SESSION) -> Any:
    return client.post("/api/player/v1/tutor/ask",
                       json.dumps({"session_id": session, "question": question}),
                       content_type="application/json")


def submit(client: Client, answer: str = ANSWER_TEXT, block_id: str = "ft1",
           session: str = SESSION) -> Any:
    return client.post("/api/player/v1/grading/submit",
                       json.dumps({"session_id": session, "block_id": block_id,
                                   "answer": answer}),
                       content_type="application/json")


def grading_reply(call: Call) -> str:
    return json.dumps({"criteria": [
        {"id": "report", "met": True, "justification": "Mentions the report button."},
        {"id": "noclick", "met": False, "justification": "Does not mention attachments."},
    ], "total_score": 2})

"""Regenerate a screen, refine, add questions and translate — through the API, the real
SDK clients and the local fake endpoints that record every request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coursewright.ai import actions as ai_actions
from coursewright.ai.models import LedgerEntry
from coursewright.ai.policy import update_policy
from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent
from coursewright.courses import actions as course_actions
from coursewright.courses.content import CourseContent
from coursewright.courses.models import CourseVersion
from coursewright.ingest.actions import ingest_document
from tests.conftest import client_for
from tests.support.fake_providers import FakeProviders

HANDBOOK = (Path(__file__).resolve().parent.parent / "fixtures" / "documents"
            / "handbook.html").read_bytes()


@pytest.fixture
def draft(people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None
          ) -> CourseVersion:
    """An offline-engine draft of the handbook; the org then allows every fake provider."""
    document = ingest_document(people.acme, filename="handbook.html", data=HANDBOOK,
                               actor=Actor.person(people.bob))
    job = ai_actions.start_generation(document, actor=Actor.person(people.bob),
                                      target_screens=6)
    job.refresh_from_db()
    update_policy(people.acme, actor=Actor.person(people.alice),
                  providers=["fake-openai", "fake-azure", "fake-gemini", "offline"])
    return job.course.versions.get()


def _post(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _content(version_id: int) -> CourseContent:
    return CourseContent.model_validate(CourseVersion.objects.get(pk=version_id).content)


@pytest.mark.parametrize(("provider", "flavour"), [("fake-openai", "openai"),
                                              ("fake-azure", "azure"),
                                              ("fake-gemini", "gemini")])
def test_regenerate_a_screen(people: Any, draft: CourseVersion, fake: FakeProviders,
                             provider: str, flavour: str) -> None:
    bob = client_for(people.bob)
    before = _content(draft.pk)
    screen = next(s for s in before.screens if any(b.provenance.sources for b in s.blocks))
    response = _post(bob, f"/api/v1/versions/{draft.pk}/ai/regenerate-screen",
                     {"screen_id": screen.id, "instruction": "Keep it short",
                      "provider": provider})
    assert response.status_code == 200, response.content
    after = _content(draft.pk)
    new = next(s for s in after.screens if s.id == screen.id)
    assert {b.provenance.engine for b in new.blocks} == {provider}
    assert any(b.provenance.sources for b in new.blocks)
    # Other screens are untouched.
    assert [s for s in after.screens if s.id != screen.id] == [
        s for s in before.screens if s.id != screen.id]
    [request] = fake.requests
    assert request.flavour == flavour
    assert "Keep it short" in request.call.prompt_text
    # The passages the screen cited were sent (as short refs), nothing else of the course.
    assert "[P1]" in request.call.prompt_text
    assert AuditEvent.objects.filter(action="version.ai_regenerate_screen").exists()
    assert LedgerEntry.objects.filter(feature="regenerate_screen", provider=provider,
                                      outcome="ok").count() == 1


def test_refine_keeps_sources_and_marks_the_provider(people: Any, draft: CourseVersion,
                                                     fake: FakeProviders) -> None:
    bob = client_for(people.bob)
    before = _content(draft.pk)
    target = before.screens[1]
    response = _post(bob, f"/api/v1/versions/{draft.pk}/ai/refine",
                     {"screen_ids": [target.id], "tone": "friendly",
                      "reading_level": "simpler"})
    assert response.status_code == 200, response.content
    after = next(s for s in _content(draft.pk).screens if s.id == target.id)
    texts = [b for b in after.blocks if b.type in ("text", "callout")]
    assert texts
    assert all(b.markdown.startswith("Simply put:") for b in texts)
    old = {b.id: b for b in target.blocks}
    assert all(b.provenance.sources == old[b.id].provenance.sources for b in after.blocks)
    assert {b.provenance.engine for b in texts} == {"fake-openai"}
    system = fake.requests[0].call.system
    assert "warm, friendly" in system
    assert "simpler words" in system
    bad = _post(bob, f"/api/v1/versions/{draft.pk}/ai/refine", {"tone": "sarcastic"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "bad_tone"


def test_add_questions_to_a_screen(people: Any, draft: CourseVersion,
                                   fake: FakeProviders) -> None:
    bob = client_for(people.bob)
    screen = next(s for s in _content(draft.pk).screens
                  if any(b.provenance.sources for b in s.blocks))
    response = _post(bob, f"/api/v1/versions/{draft.pk}/ai/questions",
                     {"screen_id": screen.id, "count": 1, "provider": "fake-gemini"})
    assert response.status_code == 200, response.content
    after = next(s for s in _content(draft.pk).screens if s.id == screen.id)
    added = [b for b in after.blocks if b.id not in {x.id for x in screen.blocks}]
    assert len(added) == 1
    assert added[0].type == "multiple_choice"
    assert added[0].provenance.engine == "fake-gemini"
    assert added[0].provenance.sources


def test_translate_an_approved_version_into_a_new_draft(people: Any, draft: CourseVersion,
                                                        fake: FakeProviders) -> None:
    bob = client_for(people.bob)
    refused = _post(bob, f"/api/v1/versions/{draft.pk}/ai/translate", {"language": "de"})
    assert refused.status_code == 409  # a draft is translated once approved
    course_actions.submit_for_review(draft, actor=Actor.person(people.bob))
    course_actions.approve_version(CourseVersion.objects.get(pk=draft.pk),
                                   actor=Actor.person(people.rita), confirm_unsupported=True)
    response = _post(bob, f"/api/v1/versions/{draft.pk}/ai/translate",
                     {"language": "de", "provider": "fake-azure"})
    assert response.status_code == 201, response.content
    new = response.json()
    assert new["number"] == 2
    assert new["state"] == "draft"
    content = _content(new["id"])
    assert content.language == "de"
    assert all(s.title.endswith("(German)") for s in content.screens)
    assert {fake.requests[0].flavour} == {"azure"}
    assert "into German" in fake.requests[0].call.system
    # The approved version is untouched.
    assert _content(draft.pk).language == "en"


def test_ai_edits_respect_roles_policy_and_state(people: Any, draft: CourseVersion,
                                                 fake: FakeProviders) -> None:
    url = f"/api/v1/versions/{draft.pk}/ai/refine"
    rita = _post(client_for(people.rita), url, {"tone": "formal"})
    assert rita.status_code == 403
    update_policy(people.acme, actor=Actor.person(people.alice), features={"refine": False})
    off = _post(client_for(people.bob), url, {"tone": "formal"})
    assert off.status_code == 403
    assert off.json()["error"]["code"] == "feature_disabled"
    assert "switched off" in off.json()["error"]["message"]
    update_policy(people.acme, actor=Actor.person(people.alice), providers=["offline"],
                  features={"refine": True})
    offline = _post(client_for(people.bob), url, {"tone": "formal"})
    assert offline.status_code == 403
    assert offline.json()["error"]["code"] == "no_provider"
    assert not fake.requests

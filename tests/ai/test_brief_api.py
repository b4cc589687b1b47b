"""A course from a prompt over the partner API: brief, audience, tone, screen count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coursewright.ai.models import GenerationJob
from coursewright.ai.policy import update_policy
from coursewright.audit.actor import Actor
from coursewright.courses.actions import validate_content
from coursewright.courses.models import CourseVersion
from tests.conftest import client_for, key_client
from tests.support.fake_providers import FakeProviders

URL = "/api/v1/ai/generate?org=acme"


def _allow(people: Any) -> None:
    update_policy(people.acme, actor=Actor.person(people.alice),
                  providers=["offline", "fake-gemini"])


def test_brief_with_audience_tone_and_screen_count(
        people: Any, fake: FakeProviders, providers_file: Path, run_jobs: None) -> None:
    # given an organisation that allows an LLM provider
    _allow(people)

    # when the partner asks for a course from a prompt with its API key
    response = key_client(people.acme_key).post(URL, json.dumps({
        "brief": "Fire safety for the night shift", "audience": "new  warehouse staff",
        "tone": "friendly", "target_screens": 4}), content_type="application/json")

    # then the model reads the brief with the audience and the tone, and drafts 4 screens
    assert response.status_code == 202, response.json()
    call = fake.requests[0].call
    assert call is not None
    prompt = call.prompt_text
    assert "Audience: new warehouse staff" in prompt
    assert "Tone: friendly" in prompt
    assert "Fire safety for the night shift" in prompt
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded"
    assert job.course_id is not None
    version = CourseVersion.objects.get(course_id=job.course_id)
    assert len(validate_content(version.content).screens) == 4


def test_brief_refusals(people: Any, fake: FakeProviders, providers_file: Path,
                        run_jobs: None) -> None:
    _allow(people)
    api = key_client(people.acme_key)
    too_long = api.post(URL, json.dumps({"brief": "x" * 4990, "audience": "y" * 20}),
                        content_type="application/json")
    assert too_long.status_code == 422
    assert too_long.json()["error"]["code"] == "brief_too_long"
    few = api.post(URL, json.dumps({"brief": "x", "target_screens": 1}),
                   content_type="application/json")
    assert few.status_code == 422
    assert few.json()["error"]["code"] == "bad_target_screens"
    tone = api.post(URL, json.dumps({"brief": "x", "tone": "t" * 101}),
                    content_type="application/json")
    assert tone.status_code == 422
    assert not fake.requests
    assert not GenerationJob.objects.exists()


def test_mallory_cannot_generate_in_acme(people: Any, fake: FakeProviders,
                                         providers_file: Path, run_jobs: None) -> None:
    _allow(people)
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        response = client.post(URL, json.dumps({"brief": "x", "audience": "y"}),
                               content_type="application/json")
        assert response.status_code == 404
    assert not GenerationJob.objects.exists()

"""The fake AI providers, driven by the real SDK clients (openai, google-genai).

The client constructions here are the ones documented in ``fake_providers`` (and meant
to be copied by production code): retries off, explicit timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from pydantic import BaseModel

from tests.support.fake_providers import (
    GARBAGE_TEXT,
    OFF_SCHEMA_TEXT,
    Call,
    FailureKind,
    FakeProviders,
    Flavour,
    count_tokens,
)

OPENAI_KEY = "sk-test-openai"
AZURE_KEY = "azure-test-key"
GEMINI_KEY = "gemini-test-key"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "modules": {"type": "integer"}},
    "required": ["title", "modules"],
    "additionalProperties": False,
}


class Outline(BaseModel):
    title: str
    modules: int


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with FakeProviders(timeout_delay=3.0) as server:
        yield server


def openai_client(fake: FakeProviders, *, timeout: float = 10.0,
                  api_key: str = OPENAI_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key=api_key, max_retries=0,
                         timeout=timeout)


def azure_client(fake: FakeProviders, *, timeout: float = 10.0,
                 api_key: str = AZURE_KEY) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=fake.azure_endpoint, api_key=api_key,
                              api_version="2024-10-21", max_retries=0, timeout=timeout)


def gemini_client(fake: FakeProviders, *, timeout: float = 10.0,
                  api_key: str = GEMINI_KEY) -> genai.Client:
    return genai.Client(api_key=api_key, http_options=genai_types.HttpOptions(
        base_url=fake.gemini_base_url, api_version="v1beta",
        timeout=round(timeout * 1000),  # milliseconds
        retry_options=genai_types.HttpRetryOptions(attempts=1)))


def chat(fake: FakeProviders, flavour: Flavour, *, timeout: float = 10.0) -> str:
    """One plain chat call through the real SDK of ``flavour``; returns the reply text."""
    if flavour == "gemini":
        # keep the Client referenced: its __del__ closes the transport under .models
        gemini = gemini_client(fake, timeout=timeout)
        response = gemini.models.generate_content(model="gemini-2.5-flash", contents="Hello")
        return response.text or ""
    client = (openai_client(fake, timeout=timeout) if flavour == "openai"
              else azure_client(fake, timeout=timeout))
    completion = client.chat.completions.create(
        model="gpt-4o-mini" if flavour == "openai" else "course-deploy",
        messages=[{"role": "user", "content": "Hello"}])
    return completion.choices[0].message.content or ""


# -- happy paths -------------------------------------------------------------------------

def test_openai_plain_chat(fake: FakeProviders) -> None:
    fake.responder = lambda call: f"echo: {call.last_user}"
    completion = openai_client(fake).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "You write courses."},
                  {"role": "user", "content": "Summarise the handbook"}],
        temperature=0.2, max_tokens=300)

    assert completion.choices[0].message.content == "echo: Summarise the handbook"
    assert completion.model == "gpt-4o-mini"
    prompt = count_tokens("You write courses.\nSummarise the handbook")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == prompt == 7
    assert completion.usage.completion_tokens == count_tokens("echo: Summarise the handbook")
    assert completion.usage.total_tokens == prompt + completion.usage.completion_tokens

    [request] = fake.requests
    assert request.flavour == "openai"
    assert request.path == "/openai/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.body_json["model"] == "gpt-4o-mini"
    assert request.outcome == "ok"
    assert request.call == Call(
        flavour="openai", model="gpt-4o-mini",
        messages=[{"role": "system", "content": "You write courses."},
                  {"role": "user", "content": "Summarise the handbook"}],
        temperature=0.2, max_tokens=300, body=request.body_json)
    assert fake.calls == [request.call]


def test_openai_json_schema(fake: FakeProviders) -> None:
    fake.responder = lambda call: json.dumps({"title": "Intro", "modules": 3})
    completion = openai_client(fake).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Outline it"}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "outline", "schema": SCHEMA,
                                         "strict": True}})

    assert json.loads(completion.choices[0].message.content or "") == {"title": "Intro",
                                                                       "modules": 3}
    [call] = fake.calls
    assert call.json_schema == SCHEMA
    assert call.schema_name == "outline"
    assert call.json_mode


def test_azure_plain_chat_uses_the_deployment(fake: FakeProviders) -> None:
    completion = azure_client(fake).chat.completions.create(
        model="course-deploy", messages=[{"role": "user", "content": "Hi there"}])

    assert completion.choices[0].message.content == "ok"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2
    assert completion.usage.completion_tokens == 1
    [request] = fake.requests
    assert request.flavour == "azure"
    assert request.path == "/openai/deployments/course-deploy/chat/completions"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == AZURE_KEY
    assert "authorization" not in request.headers
    assert request.call is not None
    assert request.call.model == "course-deploy"
    assert request.call.messages == [{"role": "user", "content": "Hi there"}]


def test_azure_client_with_fixed_deployment(fake: FakeProviders) -> None:
    client = openai.AzureOpenAI(azure_endpoint=fake.azure_endpoint, api_key=AZURE_KEY,
                                api_version="2024-10-21", azure_deployment="pinned",
                                max_retries=0, timeout=10.0)
    client.chat.completions.create(model="ignored-model",
                                   messages=[{"role": "user", "content": "x"}])
    [request] = fake.requests
    assert request.path == "/openai/deployments/pinned/chat/completions"
    assert request.call is not None
    assert request.call.model == "pinned"


def test_azure_json_schema(fake: FakeProviders) -> None:
    fake.responder = lambda call: '{"title": "T", "modules": 1}'
    completion = azure_client(fake).chat.completions.create(
        model="course-deploy", messages=[{"role": "user", "content": "x"}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "outline", "schema": SCHEMA}})
    assert json.loads(completion.choices[0].message.content or "")["modules"] == 1
    [call] = fake.calls
    assert (call.flavour, call.json_schema, call.schema_name) == ("azure", SCHEMA, "outline")


def test_gemini_plain_chat(fake: FakeProviders) -> None:
    fake.responder = lambda call: f"{call.system} / {call.last_user}"
    client = gemini_client(fake)
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[genai_types.Content(role="user", parts=[genai_types.Part(text="Hi")]),
                  genai_types.Content(role="model", parts=[genai_types.Part(text="Hello!")]),
                  genai_types.Content(role="user", parts=[genai_types.Part(text="Go on")])],
        config=genai_types.GenerateContentConfig(system_instruction="Be brief.",
                                                 temperature=0.1, max_output_tokens=64))

    assert response.text == "Be brief. / Go on"
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == count_tokens("Be brief.\nHi\nHello!\nGo on") == 8
    assert usage.candidates_token_count == count_tokens("Be brief. / Go on")
    assert usage.total_token_count == (usage.prompt_token_count
                                       + (usage.candidates_token_count or 0))

    [request] = fake.requests
    assert request.flavour == "gemini"
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert request.call is not None
    assert request.call.model == "gemini-2.5-flash"
    assert request.call.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Go on"},
    ]
    assert (request.call.temperature, request.call.max_tokens) == (0.1, 64)
    assert request.call.json_schema is None
    assert not request.call.json_mode


def test_gemini_response_json_schema(fake: FakeProviders) -> None:
    fake.responder = lambda call: '{"title": "Intro", "modules": 2}'
    client = gemini_client(fake)
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="Outline it",
        config=genai_types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema={**SCHEMA, "title": "outline"}))

    assert response.parsed == {"title": "Intro", "modules": 2}
    [request] = fake.requests
    assert request.body_json["generationConfig"]["responseJsonSchema"]["title"] == "outline"
    assert request.call is not None
    assert request.call.json_schema == {**SCHEMA, "title": "outline"}
    assert request.call.schema_name == "outline"
    assert request.call.json_mode


def test_gemini_response_schema_from_pydantic(fake: FakeProviders) -> None:
    fake.responder = lambda call: '{"title": "Intro", "modules": 2}'
    client = gemini_client(fake)
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="Outline it",
        config=genai_types.GenerateContentConfig(response_mime_type="application/json",
                                                 response_schema=Outline))

    assert response.parsed == Outline(title="Intro", modules=2)
    [call] = fake.calls
    # the SDK converts the model into Gemini's OpenAPI-subset schema (upper-case types)
    assert call.json_schema is not None
    assert call.json_schema["type"] == "OBJECT"
    assert set(call.json_schema["properties"]) == {"title", "modules"}
    assert call.schema_name == "Outline"


def test_client_helpers_match_the_documented_constructions(fake: FakeProviders) -> None:
    assert fake.openai_client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]).choices[0].message.content \
        == "ok"
    assert fake.azure_client().chat.completions.create(
        model="d", messages=[{"role": "user", "content": "x"}]).choices[0].message.content \
        == "ok"
    gemini = fake.gemini_client()
    assert gemini.models.generate_content(model="g", contents="x").text == "ok"
    assert [r.flavour for r in fake.requests] == ["openai", "azure", "gemini"]


# -- failure injection -------------------------------------------------------------------

ALL: list[Flavour] = ["openai", "azure", "gemini"]


@pytest.mark.parametrize("flavour", ALL)
def test_500(fake: FakeProviders, flavour: Flavour) -> None:
    fake.fail_next(1, "500", flavour=flavour)
    expected = genai_errors.ServerError if flavour == "gemini" else openai.InternalServerError
    with pytest.raises(expected) as info:
        chat(fake, flavour)
    if isinstance(info.value, genai_errors.APIError):
        assert info.value.code == 500
    [request] = fake.requests  # exactly one attempt: retries are off
    assert request.outcome == "500"
    assert chat(fake, flavour) == "ok"  # only the next request failed


@pytest.mark.parametrize("flavour", ALL)
def test_429_with_retry_after(fake: FakeProviders, flavour: Flavour) -> None:
    fake.fail_next(1, "429", flavour=flavour)
    expected = genai_errors.ClientError if flavour == "gemini" else openai.RateLimitError
    with pytest.raises(expected) as info:
        chat(fake, flavour)
    error: Any = info.value
    if flavour == "gemini":
        assert error.code == 429
        assert error.status == "RESOURCE_EXHAUSTED"
    assert error.response.headers["retry-after"] == "1"
    assert len(fake.requests) == 1


@pytest.mark.parametrize("flavour", ALL)
def test_timeout(fake: FakeProviders, flavour: Flavour) -> None:
    fake.fail_next(1, "timeout", flavour=flavour)
    expected: tuple[type[BaseException], ...] = (
        (httpx2.TimeoutException, httpx.TimeoutException) if flavour == "gemini"
        else (openai.APITimeoutError,))
    started = time.monotonic()
    with pytest.raises(expected):
        chat(fake, flavour, timeout=0.3)
    assert time.monotonic() - started < 2.5  # the client gave up before the fake replied
    [request] = fake.requests
    assert request.outcome == "timeout"


def test_timeout_delay_elapses_then_replies(fake: FakeProviders) -> None:
    fake.fail_next(1, "timeout", flavour="openai", delay=0.2)
    started = time.monotonic()
    assert chat(fake, "openai", timeout=5.0) == "ok"
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("flavour", ALL)
def test_malformed_body(fake: FakeProviders, flavour: Flavour) -> None:
    fake.fail_next(1, "malformed", flavour=flavour)
    with pytest.raises(json.JSONDecodeError):
        chat(fake, flavour)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("flavour", ALL)
@pytest.mark.parametrize(("kind", "text"), [("garbage", GARBAGE_TEXT),
                                            ("off_schema", OFF_SCHEMA_TEXT)])
def test_bad_content_in_a_good_reply(fake: FakeProviders, flavour: Flavour,
                                     kind: FailureKind, text: str) -> None:
    fake.fail_next(1, kind, flavour=flavour)
    assert chat(fake, flavour) == text
    if kind == "garbage":
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
    else:
        assert "title" not in json.loads(text)


def test_fail_next_counts_and_scopes(fake: FakeProviders) -> None:
    fake.fail_next(2, "500", flavour="openai")
    fake.fail_next(1, "429", flavour="azure", model="other-deploy")
    assert chat(fake, "azure") == "ok"  # different deployment: not affected
    assert chat(fake, "gemini") == "ok"
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            chat(fake, "openai")
    assert chat(fake, "openai") == "ok"
    with pytest.raises(openai.RateLimitError):
        azure_client(fake).chat.completions.create(
            model="other-deploy", messages=[{"role": "user", "content": "x"}])
    assert [r.outcome for r in fake.requests] == ["ok", "ok", "500", "500", "ok", "429"]


def test_always_fail_until_recover(fake: FakeProviders) -> None:
    fake.always_fail("500", flavour="gemini")
    for _ in range(3):
        with pytest.raises(genai_errors.ServerError):
            chat(fake, "gemini")
    assert chat(fake, "openai") == "ok"
    fake.recover(flavour="gemini")
    assert chat(fake, "gemini") == "ok"


def test_unknown_kind_is_rejected(fake: FakeProviders) -> None:
    with pytest.raises(ValueError, match="unknown failure kind"):
        fake.fail_next(1, "503")  # type: ignore[arg-type]


# -- retries: what the SDK settings really do ------------------------------------------

def test_gemini_default_client_makes_one_attempt(fake: FakeProviders) -> None:
    client = genai.Client(api_key=GEMINI_KEY, http_options=genai_types.HttpOptions(
        base_url=fake.gemini_base_url, api_version="v1beta", timeout=10_000))
    fake.fail_next(1, "500")
    with pytest.raises(genai_errors.ServerError):
        client.models.generate_content(model="g", contents="x")
    assert len(fake.requests) == 1


def test_gemini_retry_options_do_retry(fake: FakeProviders) -> None:
    client = genai.Client(api_key=GEMINI_KEY, http_options=genai_types.HttpOptions(
        base_url=fake.gemini_base_url, api_version="v1beta", timeout=10_000,
        retry_options=genai_types.HttpRetryOptions(attempts=2, initial_delay=0.0,
                                                   jitter=0.0)))
    fake.fail_next(1, "500")
    assert client.models.generate_content(model="g", contents="x").text == "ok"
    assert [r.outcome for r in fake.requests] == ["500", "ok"]


# -- auth, recording, odd requests -------------------------------------------------------

@pytest.mark.parametrize("flavour", ALL)
def test_wrong_key_is_rejected(flavour: Flavour) -> None:
    with FakeProviders(api_key="the-right-key") as fake:
        expected = genai_errors.ClientError if flavour == "gemini" else \
            openai.AuthenticationError
        with pytest.raises(expected):
            chat(fake, flavour)
        [request] = fake.requests
        assert request.outcome == "unauthorised"
        assert request.call is None


def test_right_key_is_accepted() -> None:
    with FakeProviders(api_key="the-right-key") as fake:
        client = openai_client(fake, api_key="the-right-key")
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}])
        assert reply.choices[0].message.content == "ok"


def test_responder_error_becomes_a_500(fake: FakeProviders) -> None:
    def broken(call: Call) -> str:
        raise RuntimeError("boom")

    fake.responder = broken
    with pytest.raises(openai.InternalServerError, match="boom"):
        chat(fake, "openai")


def test_unknown_path_is_404_and_recorded(fake: FakeProviders) -> None:
    response = httpx2.post(f"{fake.url}/openai/v1/embeddings", json={"input": "x"})
    assert response.status_code == 404
    [request] = fake.requests
    assert (request.flavour, request.outcome, request.body_json) == (None, "not_found",
                                                                     {"input": "x"})


def test_clear_and_reset(fake: FakeProviders) -> None:
    fake.responder = lambda call: "custom"
    fake.always_fail("500", flavour="azure")
    chat(fake, "openai")
    fake.clear()
    assert fake.requests == []
    with pytest.raises(openai.InternalServerError):
        chat(fake, "azure")
    fake.reset()
    assert fake.requests == []
    assert chat(fake, "azure") == "ok"


def test_stop_does_not_wait_for_a_sleeping_timeout() -> None:
    fake = FakeProviders(timeout_delay=30.0).start()
    fake.fail_next(1, "timeout")
    with pytest.raises(openai.APITimeoutError):
        chat(fake, "openai", timeout=0.2)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 5

"""Fixtures for AI provider tests: local fake endpoints and a providers file naming them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_providers import FakeProviders
from tests.support.scripted_llm import respond


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with FakeProviders(respond, timeout_delay=3.0) as server:
        yield server


def providers_toml(fake: FakeProviders, *, timeout: float = 10) -> str:
    return f"""
[providers.fake-openai]
kind = "openai"
label = "Fake OpenAI (EU)"
base_url = "{fake.openai_base_url}"
api_key_env = "FAKE_OPENAI_KEY"
model = "gpt-test"
regions = ["eu", "uk"]
timeout = {timeout}
[providers.fake-openai.commitments]
training_opt_out = true
processing_regions = ["EU"]
retention = "30 days abuse monitoring"
certifications = ["SOC 2 Type II"]
legal_entity = "Fake OpenAI Ireland Ltd"

[providers.fake-azure]
kind = "azure"
label = "Fake Azure OpenAI (Sweden)"
azure_endpoint = "{fake.azure_endpoint}"
api_version = "2024-10-21"
api_key_env = "FAKE_AZURE_KEY"
model = "gpt-deploy"
regions = ["eu"]
timeout = {timeout}

[providers.fake-gemini]
kind = "gemini"
label = "Fake Gemini"
base_url = "{fake.gemini_base_url}"
api_version = "v1beta"
api_key_env = "FAKE_GEMINI_KEY"
model = "gemini-test"
regions = ["eu", "us"]
timeout = {timeout}

[providers.fake-us]
kind = "openai"
label = "Fake US-only endpoint"
base_url = "{fake.openai_base_url}"
model = "gpt-us"
regions = ["us"]
timeout = {timeout}
"""


@pytest.fixture
def providers_file(fake: FakeProviders, settings: Any, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ai-providers.toml"
    path.write_text(providers_toml(fake, timeout=2), encoding="utf-8")
    settings.AI_PROVIDERS_FILE = str(path)
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-fake-openai")
    monkeypatch.setenv("FAKE_AZURE_KEY", "azure-fake")
    monkeypatch.setenv("FAKE_GEMINI_KEY", "gemini-fake")
    return path

"""The public subprocessor list (API and trust page) is generated from the provider file:
what an operator declares there is what a visitor reads, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.test import Client

from coursewright.ai.config import parse_hosting, parse_providers
from coursewright.ai.models import AiPolicy
from coursewright.audit.models import AuditEvent
from tests.ai.test_policy_api import PROVIDERS, use_providers
from tests.conftest import People, client_for, key_client

HOSTING = """
[hosting]
label = "Hetzner Online"
purpose = "Hosting, storage and backups"
legal_entity = "Hetzner Online GmbH, Gunzenhausen, Germany"
processing_regions = ["Germany", "Finland"]
certifications = ["ISO 27001"]
dpa_url = "https://www.hetzner.com/legal/terms-and-conditions"
"""


def test_anyone_reads_the_list_generated_from_the_provider_file(
        db: None, settings: Any, tmp_path: Path) -> None:
    # given a provider file with three providers
    use_providers(settings, tmp_path)

    # when someone who is not signed in asks
    response = Client().get("/api/v1/subprocessors")

    # then every configured provider is listed with its declared commitments, the
    # offline engine (which runs on this server) is not, and nobody's policy is shown
    assert response.status_code == 200
    items = {s["name"]: s for s in response.json()["subprocessors"]}
    assert list(items) == ["mistral", "azure-eu", "openai-us"]
    mistral = items["mistral"]
    assert mistral["label"] == "Mistral (EU)"
    assert mistral["legal_entity"] == "Mistral AI SAS, Paris, France"
    assert mistral["processing_regions"] == ["EU (France, Sweden)"]
    assert mistral["serves_regions"] == ["eu"]
    assert mistral["training_opt_out"] is True
    assert mistral["retention"] == "30 days, for abuse monitoring"
    assert mistral["certifications"] == ["ISO 27001", "SOC 2 Type II"]
    assert mistral["dpa_url"].startswith("https://legal.mistral.ai/")
    assert mistral["allowed_by_your_organisations"] is None
    assert items["azure-eu"]["retention"] == ""  # not declared, and not made up


def test_the_list_follows_the_file_when_it_changes(db: None, settings: Any,
                                                   tmp_path: Path) -> None:
    use_providers(settings, tmp_path)
    assert len(Client().get("/api/v1/subprocessors").json()["subprocessors"]) == 3
    only_mistral = PROVIDERS.split("[providers.azure-eu]")[0]
    (tmp_path / "v2").mkdir()
    use_providers(settings, tmp_path / "v2", only_mistral)  # another path: read afresh
    names = [s["name"] for s in Client().get("/api/v1/subprocessors").json()["subprocessors"]]
    assert names == ["mistral"]


def test_no_file_means_no_subprocessors(db: None, settings: Any, tmp_path: Path) -> None:
    settings.AI_PROVIDERS_FILE = str(tmp_path / "absent.toml")
    assert Client().get("/api/v1/subprocessors").json()["subprocessors"] == []
    page = Client().get("/trust/subprocessors")
    assert page.status_code == 200
    assert "uses no subprocessors" in page.content.decode()


def test_the_hosting_line_comes_first_when_configured(db: None, settings: Any,
                                                      tmp_path: Path) -> None:
    from tests.ai.test_policy_api import PROVIDERS

    use_providers(settings, tmp_path, PROVIDERS + HOSTING)
    items = Client().get("/api/v1/subprocessors").json()["subprocessors"]
    assert items[0]["name"] == "hosting"
    assert items[0]["legal_entity"] == "Hetzner Online GmbH, Gunzenhausen, Germany"
    assert items[0]["training_opt_out"] is None
    assert "Hetzner Online GmbH" in Client().get("/trust/subprocessors").content.decode()


def test_members_learn_which_of_their_organisations_allow_each(
        people: People, settings: Any, tmp_path: Path) -> None:
    use_providers(settings, tmp_path)
    AiPolicy.objects.create(org=people.acme, providers=["mistral", "offline"])
    AiPolicy.objects.create(org=people.globex, providers=["openai-us"])

    def allowed(client: Client) -> dict[str, Any]:
        body = client.get("/api/v1/subprocessors").json()
        return {s["name"]: s["allowed_by_your_organisations"] for s in body["subprocessors"]}

    assert allowed(client_for(people.bob)) == {"mistral": ["acme"], "azure-eu": [],
                                               "openai-us": []}
    assert allowed(key_client(people.acme_key))["mistral"] == ["acme"]
    assert allowed(client_for(people.mallory)) == {"mistral": [], "azure-eu": [],
                                                   "openai-us": ["globex"]}
    # a wrong key is no error on a public list: it is simply anonymous
    assert set(allowed(key_client("cw_nope_nope")).values()) == {None}
    # the call is in Acme's API-call log under the key that made it
    assert AuditEvent.objects.filter(org=people.acme, action="api.call",
                                     actor_api_key__isnull=False).exists()


def test_the_trust_page_is_public_and_shows_the_commitments(
        people: People, settings: Any, tmp_path: Path) -> None:
    use_providers(settings, tmp_path)
    AiPolicy.objects.create(org=people.acme, providers=["mistral", "offline"])

    page = Client().get("/trust/subprocessors")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("Mistral (EU)", "Mistral AI SAS, Paris, France", "EU (France, Sweden)",
                 "Content is not used to train models", "ISO 27001, SOC 2 Type II",
                 'href="https://legal.mistral.ai/terms/data-processing-addendum"',
                 "Azure OpenAI (Sweden Central)", "OpenAI, L.L.C."):
        assert text in html, text
    assert "Offline engine" not in html
    assert "Allowed by" not in html  # nothing about anyone's organisation

    signed_in = client_for(people.bob).get("/trust/subprocessors").content.decode()
    assert "Allowed by Acme" in signed_in


def test_the_documented_examples_are_valid_provider_files() -> None:
    # docs/ai-providers.md shows one TOML block per kind of provider; each must load
    docs = Path(__file__).resolve().parents[2] / "docs" / "ai-providers.md"
    blocks = re.findall(r"```toml\n(.*?)```", docs.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 6  # five providers and the [hosting] table
    found = parse_providers("\n".join(blocks), str(docs))
    assert parse_hosting("\n".join(blocks), str(docs)) is not None
    assert {cfg.kind for cfg in found.values()} == {"offline", "openai", "azure", "gemini"}
    assert all(cfg.regions for cfg in found.values())

"""The AI policy API: who may read and change the policy, own provider keys, the ledger
and the provider list, with the people on the permission edges.

Alice owns Acme (region eu), Bob authors and Rita reviews there, Mallory owns Globex
(region us). The providers come from a file written by each test (``use_providers``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from coursewright.ai.models import AiPolicy, LedgerEntry, ProviderCredential, ProviderState
from coursewright.ai.policy import get_policy
from coursewright.audit.models import AuditEvent
from tests.conftest import People, client_for, key_client

PROVIDERS = """
[providers.mistral]
kind = "openai"
label = "Mistral (EU)"
base_url = "https://api.mistral.ai/v1"
model = "mistral-large-latest"
regions = ["eu"]
api_key_env = "CW_TEST_NO_SUCH_KEY"

[providers.mistral.commitments]
training_opt_out = true
processing_regions = ["EU (France, Sweden)"]
retention = "30 days, for abuse monitoring"
certifications = ["ISO 27001", "SOC 2 Type II"]
legal_entity = "Mistral AI SAS, Paris, France"
dpa_url = "https://legal.mistral.ai/terms/data-processing-addendum"

[providers.azure-eu]
kind = "azure"
label = "Azure OpenAI (Sweden Central)"
azure_endpoint = "https://acme-se.openai.azure.com"
api_version = "2024-10-21"
model = "gpt-4o-mini-se"
regions = ["eu", "uk"]

[providers.azure-eu.commitments]
training_opt_out = true
processing_regions = ["EU (Sweden)"]
legal_entity = "Microsoft Ireland Operations Ltd"

[providers.openai-us]
kind = "openai"
label = "OpenAI (US)"
base_url = "https://api.openai.com/v1"
model = "gpt-4o-mini"
regions = ["us"]

[providers.openai-us.commitments]
training_opt_out = true
processing_regions = ["US"]
legal_entity = "OpenAI, L.L.C."
"""

SECRET = "sk-test-DO-NOT-LEAK-0123456789"


def use_providers(settings: Any, tmp_path: Path, text: str = PROVIDERS) -> Path:
    """Point the server at a provider file of this test's own (``providers()`` caches
    by path and modification time, so a new file is read at once)."""
    path = tmp_path / "ai-providers.toml"
    path.write_text(text, encoding="utf-8")
    settings.AI_PROVIDERS_FILE = str(path)
    return path


@pytest.fixture
def providers_file(settings: Any, tmp_path: Path) -> Path:
    return use_providers(settings, tmp_path)


def put(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.put(url, data=json.dumps(body), content_type="application/json")


def error(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"])


def clients(people: People) -> dict[str, Client]:
    return {"alice": client_for(people.alice), "bob": client_for(people.bob),
            "rita": client_for(people.rita), "acme-key": key_client(people.acme_key)}


# --- the policy ------------------------------------------------------------------------


def test_every_member_and_the_key_read_the_policy(people: People, providers_file: Path) -> None:
    for name, client in clients(people).items():
        response = client.get("/api/v1/ai/policy")
        assert response.status_code == 200, name
        body = response.json()
        assert body["org"] == "acme"
        assert body["providers"] == ["offline"]
        assert body["features"]["tutor"] is True
        assert body["feature_labels"]["tutor"] == "AI tutor for learners"
        assert body["disclosure_text"] == ""
        assert body["disclosure_shown"].startswith("This screen was drafted with AI")


def test_owner_changes_the_policy_and_it_is_audited(people: People,
                                                    providers_file: Path) -> None:
    # when Alice allows two providers, switches the tutor off and rewords the disclosure
    response = put(client_for(people.alice), "/api/v1/ai/policy", {
        "features": {"tutor": False}, "providers": ["azure-eu", "mistral", "offline"],
        "store_prompts": True, "disclosure_text": "  Drafted   with AI, checked by us. "})

    # then the policy says so, other features are untouched, and the audit log has it
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["providers"] == ["azure-eu", "mistral", "offline"]
    assert body["features"]["tutor"] is False
    assert body["features"]["refine"] is True
    assert body["store_prompts"] is True
    assert body["disclosure_text"] == "Drafted with AI, checked by us."
    event = AuditEvent.objects.get(org=people.acme, action="ai.policy_changed")
    assert event.actor_user_id == people.alice.pk
    assert event.before["providers"] == ["offline"]
    assert event.after["providers"] == ["azure-eu", "mistral", "offline"]
    assert event.after["features"]["tutor"] is False


@pytest.mark.parametrize("name", ["bob", "rita", "acme-key"])
def test_authors_reviewers_and_api_keys_cannot_change_the_policy(
        people: People, providers_file: Path, name: str) -> None:
    response = put(clients(people)[name], "/api/v1/ai/policy", {"providers": ["mistral"]})
    assert response.status_code == 403
    assert error(response)["code"] == "forbidden"
    assert "change the AI policy" in error(response)["message"]
    assert not AiPolicy.objects.filter(org=people.acme, providers=["mistral"]).exists()
    assert not AuditEvent.objects.filter(action="ai.policy_changed").exists()


def test_mallory_cannot_reach_acmes_policy(people: People, providers_file: Path) -> None:
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        assert client.get("/api/v1/ai/policy?org=acme").status_code == 404
        response = put(client, "/api/v1/ai/policy?org=acme", {"providers": []})
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"
    # her own organisation's policy is hers
    assert client_for(people.mallory).get("/api/v1/ai/policy").json()["org"] == "globex"
    assert not AuditEvent.objects.filter(action="ai.policy_changed").exists()


def test_anonymous_callers_are_refused(people: People, providers_file: Path) -> None:
    for method, url in [("get", "/api/v1/ai/policy"), ("put", "/api/v1/ai/policy"),
                        ("get", "/api/v1/ai/providers"), ("get", "/api/v1/ai/ledger"),
                        ("put", "/api/v1/ai/credentials/mistral"),
                        ("delete", "/api/v1/ai/credentials/mistral")]:
        response = Client().generic(method.upper(), url, data="{}",
                                    content_type="application/json")
        assert response.status_code == 401, url
        assert error(response)["code"] == "unauthenticated"


def test_a_provider_outside_the_region_is_refused_clearly(people: People,
                                                          providers_file: Path) -> None:
    response = put(client_for(people.alice), "/api/v1/ai/policy",
                   {"providers": ["mistral", "openai-us"]})
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "bad_policy"
    assert "openai-us does not process data in your region (EU)" in err["message"]
    assert err["details"][0]["field"] == "providers"
    assert get_policy(people.acme).providers == ["offline"]
    # and Globex, in the US, may use it
    assert put(client_for(people.mallory), "/api/v1/ai/policy",
               {"providers": ["openai-us"]}).status_code == 200


@pytest.mark.parametrize(("body", "code", "words"), [
    ({"providers": ["nope"]}, "bad_policy", "not configured on this server: nope"),
    ({"providers": ["mistral", "mistral"]}, "bad_policy", "listed twice"),
    ({"features": {"telepathy": True}}, "bad_policy", "unknown feature(s): telepathy"),
    ({"disclosure_text": "x" * 301}, "bad_policy", "at most 300 characters"),
    ({"provider": ["mistral"]}, "invalid", "not valid"),
    ({"store_prompts": "perhaps"}, "invalid", "not valid"),
])
def test_bad_policies_are_refused_with_the_domain_error(
        people: People, providers_file: Path, body: dict[str, Any], code: str,
        words: str) -> None:
    response = put(client_for(people.alice), "/api/v1/ai/policy", body)
    assert response.status_code == 422
    assert error(response)["code"] == code
    assert words in error(response)["message"]


# --- own provider keys -----------------------------------------------------------------


def test_owner_stores_a_key_encrypted_and_it_is_never_returned(
        people: People, providers_file: Path) -> None:
    alice = client_for(people.alice)

    # when Alice stores Acme's own Mistral key
    response = put(alice, "/api/v1/ai/credentials/mistral", {"api_key": SECRET})

    # then the answer says when, never what
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"provider", "set_at"}
    assert SECRET not in response.content.decode()
    # it is stored sealed: the raw column does not hold it
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_providercredential")
        (raw,), = cursor.fetchall()
    assert SECRET.encode() not in bytes(raw)
    assert ProviderCredential.objects.get(org=people.acme).api_key == SECRET
    # nothing shows it afterwards: providers, policy, audit log
    listed = alice.get("/api/v1/ai/providers")
    mistral = next(p for p in listed.json() if p["name"] == "mistral")
    assert mistral["key_source"] == "organisation"
    assert mistral["own_key_set_at"]
    for url in ("/api/v1/ai/providers", "/api/v1/ai/policy", "/api/v1/audit?limit=100"):
        assert SECRET not in alice.get(url).content.decode(), url
    assert AuditEvent.objects.filter(org=people.acme, action="ai.credential_set").count() == 1

    # and replacing then removing it works, and is audited
    assert put(alice, "/api/v1/ai/credentials/mistral",
               {"api_key": SECRET + "-v2"}).status_code == 200
    assert alice.delete("/api/v1/ai/credentials/mistral").status_code == 204
    assert not ProviderCredential.objects.filter(org=people.acme).exists()
    again = alice.delete("/api/v1/ai/credentials/mistral")
    assert again.status_code == 404
    assert error(again)["code"] == "not_found"
    assert AuditEvent.objects.filter(org=people.acme,
                                     action="ai.credential_removed").count() == 1


@pytest.mark.parametrize(("provider", "body", "code"), [
    ("offline", {"api_key": SECRET}, "unknown_provider"),
    ("nope", {"api_key": SECRET}, "unknown_provider"),
    ("mistral", {"api_key": "short"}, "bad_api_key"),
    ("mistral", {"key": SECRET}, "invalid"),
])
def test_bad_keys_are_refused_without_echoing_them(people: People, providers_file: Path,
                                                   provider: str, body: dict[str, Any],
                                                   code: str) -> None:
    response = put(client_for(people.alice), f"/api/v1/ai/credentials/{provider}", body)
    assert response.status_code == 422
    assert error(response)["code"] == code
    assert SECRET not in response.content.decode()
    assert not ProviderCredential.objects.exists()


@pytest.mark.parametrize("name", ["bob", "rita", "acme-key"])
def test_only_owners_and_admins_manage_keys(people: People, providers_file: Path,
                                            name: str) -> None:
    ProviderCredential.objects.create(org=people.acme, provider="mistral", api_key=SECRET)
    client = clients(people)[name]
    assert put(client, "/api/v1/ai/credentials/mistral",
               {"api_key": "sk-other-0123456789"}).status_code == 403
    assert client.delete("/api/v1/ai/credentials/mistral").status_code == 403
    assert ProviderCredential.objects.get(org=people.acme).api_key == SECRET


def test_mallory_cannot_touch_acmes_keys(people: People, providers_file: Path) -> None:
    ProviderCredential.objects.create(org=people.acme, provider="mistral", api_key=SECRET)
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        assert put(client, "/api/v1/ai/credentials/mistral?org=acme",
                   {"api_key": "sk-mallory-0123456789"}).status_code == 404
        assert client.delete("/api/v1/ai/credentials/mistral?org=acme").status_code == 404
    # her DELETE without ?org= is about Globex, which has no key
    assert client_for(people.mallory).delete(
        "/api/v1/ai/credentials/mistral").status_code == 404
    assert ProviderCredential.objects.get(org=people.acme).api_key == SECRET


# --- the provider list -----------------------------------------------------------------


def test_providers_show_region_eligibility_order_and_health(people: People,
                                                            providers_file: Path) -> None:
    AiPolicy.objects.create(org=people.acme, providers=["mistral", "offline"])
    now = timezone.now()
    ProviderState.objects.create(provider="mistral", consecutive_failures=3,
                                 open_until=now + timedelta(seconds=60), last_error="timeout",
                                 last_failure_at=now)
    ProviderState.objects.create(provider="azure-eu", consecutive_failures=3,
                                 open_until=now - timedelta(seconds=1), last_error="server")

    for name, client in clients(people).items():
        response = client.get("/api/v1/ai/providers")
        assert response.status_code == 200, name
        rows = {p["name"]: p for p in response.json()}
        assert list(rows) == ["mistral", "offline", "azure-eu", "openai-us"]
        assert rows["mistral"]["position"] == 1
        assert rows["offline"]["position"] == 2
        assert rows["azure-eu"]["allowed"] is False
        assert rows["azure-eu"]["position"] is None
        assert rows["mistral"]["health"]["state"] == "open"
        assert rows["mistral"]["health"]["last_error"] == "timeout"
        assert rows["azure-eu"]["health"]["state"] == "half_open"
        assert rows["offline"]["health"]["state"] == "closed"
        assert rows["openai-us"]["usable_in_your_region"] is False
        assert "not in your organisation's region (EU)" in rows["openai-us"]["reason"]
        assert rows["mistral"]["key_source"] == "none"  # its env variable is not set
        assert rows["offline"]["key_source"] == "not_needed"
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        assert client.get("/api/v1/ai/providers?org=acme").status_code == 404
    globex = {p["name"]: p for p in client_for(people.mallory).get(
        "/api/v1/ai/providers").json()}
    assert globex["openai-us"]["usable_in_your_region"] is True
    assert globex["mistral"]["usable_in_your_region"] is False


# --- the ledger ------------------------------------------------------------------------


def ledger_row(org: Any, **fields: Any) -> LedgerEntry:
    values: dict[str, Any] = {
        "feature": "refine", "provider": "mistral", "model": "mistral-large-latest",
        "region": "eu", "tokens_in": 120, "tokens_out": 80, "redactions": {"PERSON": 2},
        "latency_ms": 900, "outcome": "ok", "channel": "web",
        "detail": {"messages": [{"role": "user", "content": "SEALED PROMPT TEXT"}]},
    }
    values.update(fields)
    return LedgerEntry.objects.create(org=org, **values)


def test_owner_and_api_key_read_the_ledger_with_filters(people: People,
                                                        providers_file: Path) -> None:
    ledger_row(people.acme, user=people.bob)
    ledger_row(people.acme, feature="tutor", outcome="blocked", reason="feature_disabled",
               provider="", tokens_in=0, tokens_out=0, redactions={}, latency_ms=0)
    ledger_row(people.acme, outcome="failed", reason="timeout", api_key=None, channel="job")
    ledger_row(people.globex, provider="openai-us", region="us")

    for client in (client_for(people.alice), key_client(people.acme_key)):
        response = client.get("/api/v1/ai/ledger")
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 3
        first = body["items"][-1]
        assert first["who"] == "bob@acme.test"
        assert first["redactions"] == {"PERSON": 2}
        assert "detail" not in first
        assert "SEALED PROMPT TEXT" not in response.content.decode()
        assert client.get("/api/v1/ai/ledger?outcome=blocked").json()["count"] == 1
        assert client.get("/api/v1/ai/ledger?feature=refine&provider=mistral"
                          ).json()["count"] == 2
        page = client.get("/api/v1/ai/ledger?limit=1&offset=1").json()
        assert page["count"] == 3
        assert len(page["items"]) == 1
        today = timezone.now().date()
        assert client.get(f"/api/v1/ai/ledger?since={today}&until={today}"
                          ).json()["count"] == 3
        tomorrow = today + timedelta(days=1)
        assert client.get(f"/api/v1/ai/ledger?since={tomorrow}").json()["count"] == 0
    bad = client_for(people.alice).get("/api/v1/ai/ledger?outcome=maybe")
    assert bad.status_code == 422
    assert error(bad)["code"] == "bad_filter"


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_authors_and_reviewers_cannot_read_the_ledger(people: People, providers_file: Path,
                                                      name: str) -> None:
    ledger_row(people.acme)
    response = clients(people)[name].get("/api/v1/ai/ledger")
    assert response.status_code == 403
    assert "read the AI ledger" in error(response)["message"]


def test_mallory_cannot_read_acmes_ledger(people: People, providers_file: Path) -> None:
    ledger_row(people.acme)
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        assert client.get("/api/v1/ai/ledger?org=acme").status_code == 404
        assert client.get("/api/v1/ai/ledger").json()["count"] == 0

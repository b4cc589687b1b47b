"""The dashboard's AI pages: settings, provider health and the ledger, with the people on
their permission edges (Alice owns Acme, Bob authors, Rita reviews, Mallory is outside)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from coursewright.ai.models import FEATURES, AiPolicy, ProviderCredential, ProviderState
from coursewright.ai.policy import get_policy
from coursewright.audit.models import AuditEvent
from tests.ai.test_policy_api import SECRET, ledger_row, use_providers
from tests.conftest import People, client_for


@pytest.fixture
def providers_file(settings: Any, tmp_path: Path) -> Path:
    return use_providers(settings, tmp_path)


def _html(response: Any) -> str:
    return str(response.content.decode())


def policy_form(**changes: Any) -> dict[str, Any]:
    """What the settings form posts for the default policy (every feature on, only the
    offline engine), plus ``changes`` (``False`` drops a field, as an unticked box)."""
    data: dict[str, Any] = {f"feature_{f}": "on" for f in FEATURES}
    data.update({"allow_offline": "on", "position_offline": "1", "disclosure_text": ""})
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


# --- the settings page -----------------------------------------------------------------


def test_the_owner_sees_every_control(people: People, providers_file: Path) -> None:
    response = client_for(people.alice).get("/o/acme/ai/")
    assert response.status_code == 200
    html = _html(response)
    for text in ('action="/o/acme/ai/policy/"', 'action="/o/acme/ai/credentials/"',
                 "Generate a course", "AI tutor for learners", "Mistral (EU)",
                 "Azure OpenAI (Sweden Central)", "Store prompts (encrypted)",
                 'placeholder="This screen was drafted with AI and checked by a person."',
                 'href="/o/acme/ai/health/"', 'href="/o/acme/ai/ledger/"',
                 'href="/trust/subprocessors"', 'type="password"'):
        assert text in html, text
    # a provider outside Acme's region is shown, not offered, with the reason
    assert ('<input type="checkbox" name="allow_openai-us" disabled '
            'aria-describedby="id_allow_openai-us_helptext" id="id_allow_openai-us">') in html
    assert "It processes data in US only, not in your organisation&#x27;s region (EU)." in html


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_authors_and_reviewers_see_the_policy_read_only(people: People, providers_file: Path,
                                                        name: str) -> None:
    AiPolicy.objects.create(org=people.acme, providers=["mistral", "offline"],
                            features={**dict.fromkeys(FEATURES, True), "tutor": False})
    response = client_for(getattr(people, name)).get("/o/acme/ai/")
    assert response.status_code == 200
    html = _html(response)
    assert "Only owners and admins can change these settings" in html
    assert "<form method=\"post\" action=\"/o/acme/ai/" not in html
    assert "Mistral (EU)" in html
    assert "Not allowed" in html
    assert '<span class="badge badge-off">Off</span> AI tutor for learners' in html
    assert 'href="/o/acme/ai/ledger/"' not in html


def test_outsiders_get_404_and_visitors_sign_in(people: People, providers_file: Path) -> None:
    mallory = client_for(people.mallory)
    for url in ("/o/acme/ai/", "/o/acme/ai/health/", "/o/acme/ai/ledger/",
                "/o/acme/ai/ledger/export.csv"):
        assert mallory.get(url).status_code == 404, url
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    for url in ("/o/acme/ai/policy/", "/o/acme/ai/credentials/",
                "/o/acme/ai/credentials/remove/"):
        assert mallory.post(url, policy_form(provider="mistral")).status_code == 404, url
    assert mallory.get("/o/globex/ai/").status_code == 200


def test_the_nav_links_to_the_ai_settings(people: People, providers_file: Path) -> None:
    assert 'href="/o/acme/ai/">AI</a>' in _html(client_for(people.bob).get("/o/acme/"))


def test_the_owner_saves_the_policy_and_it_is_audited(people: People,
                                                      providers_file: Path) -> None:
    # when Alice switches the tutor off, allows Azure first and Mistral second, keeps the
    # offline engine last, opts in to storing prompts and rewords the disclosure
    response = client_for(people.alice).post("/o/acme/ai/policy/", policy_form(
        feature_tutor=False, allow_mistral="on", position_mistral="2",
        **{"allow_azure-eu": "on", "position_azure-eu": "1"}, position_offline="3",
        store_prompts="on", disclosure_text="Drafted with AI; a person checked it."))

    # then the policy is saved through the action, with its audit row
    assert response.status_code == 302
    assert response["Location"] == "/o/acme/ai/"
    policy = get_policy(people.acme)
    assert policy.providers == ["azure-eu", "mistral", "offline"]
    assert policy.features["tutor"] is False
    assert policy.features["refine"] is True
    assert policy.store_prompts is True
    assert policy.disclosure_text == "Drafted with AI; a person checked it."
    event = AuditEvent.objects.get(org=people.acme, action="ai.policy_changed")
    assert event.actor_user_id == people.alice.pk
    assert event.before["providers"] == ["offline"]
    assert event.after["providers"] == ["azure-eu", "mistral", "offline"]
    # and the page shows the new order
    html = _html(client_for(people.alice).get("/o/acme/ai/"))
    assert 'name="position_azure-eu" value="1"' in html
    assert 'name="position_mistral" value="2"' in html


def test_unnumbered_providers_go_last_in_their_old_order(people: People,
                                                         providers_file: Path) -> None:
    client_for(people.alice).post("/o/acme/ai/policy/", policy_form(
        allow_mistral="on", position_offline=""))
    assert get_policy(people.acme).providers == ["offline", "mistral"]


def test_a_provider_outside_the_region_is_refused_on_the_form(people: People,
                                                              providers_file: Path) -> None:
    # when a forged POST ticks the disabled US provider
    response = client_for(people.alice).post(
        "/o/acme/ai/policy/", policy_form(**{"allow_openai-us": "on"}))

    # then the policy action refuses it, and the form says why
    assert response.status_code == 422
    html = _html(response)
    assert 'role="alert"' in html
    assert "openai-us does not process data in your region (EU)" in html
    assert get_policy(people.acme).providers == ["offline"]
    assert not AuditEvent.objects.filter(action="ai.policy_changed").exists()


def test_form_errors_are_linked_from_the_summary(people: People,
                                                 providers_file: Path) -> None:
    response = client_for(people.alice).post("/o/acme/ai/policy/", policy_form(
        disclosure_text="x" * 301, position_mistral="0"))
    assert response.status_code == 422
    html = _html(response)
    assert 'href="#id_disclosure_text"' in html
    assert "Ensure this value has at most 300 characters (it has 301)." in html
    assert 'href="#id_position_mistral"' in html
    assert 'aria-invalid="true"' in html
    assert get_policy(people.acme).disclosure_text == ""


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_authors_and_reviewers_cannot_post_changes(people: People, providers_file: Path,
                                                   name: str) -> None:
    ProviderCredential.objects.create(org=people.acme, provider="mistral", api_key=SECRET)
    client = client_for(getattr(people, name))
    assert client.post("/o/acme/ai/policy/", policy_form(
        allow_mistral="on")).status_code == 403
    assert client.post("/o/acme/ai/credentials/", {
        "provider": "azure-eu", "key-azure-eu-api_key": "sk-other-0123456789"}
        ).status_code == 403
    assert client.post("/o/acme/ai/credentials/remove/",
                       {"provider": "mistral"}).status_code == 403
    assert get_policy(people.acme).providers == ["offline"]
    assert list(ProviderCredential.objects.values_list("provider", flat=True)) == ["mistral"]


# --- own keys ----------------------------------------------------------------------------


def test_the_owner_sets_and_removes_a_key_which_is_never_shown(people: People,
                                                               providers_file: Path) -> None:
    alice = client_for(people.alice)

    # when Alice saves Acme's own Mistral key
    response = alice.post("/o/acme/ai/credentials/", {
        "provider": "mistral", "key-mistral-api_key": SECRET})

    # then it is stored sealed and audited, and the page says only when it was set
    assert response.status_code == 302
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM ai_providercredential")
        (raw,), = cursor.fetchall()
    assert SECRET.encode() not in bytes(raw)
    assert ProviderCredential.objects.get(org=people.acme, provider="mistral").api_key == SECRET
    assert AuditEvent.objects.filter(org=people.acme, action="ai.credential_set").exists()
    html = _html(alice.get("/o/acme/ai/"))
    assert SECRET not in html
    assert "Replace the key" in html
    assert "Your own, set" in html

    # and removing it goes back to the server's key
    assert alice.post("/o/acme/ai/credentials/remove/",
                      {"provider": "mistral"}).status_code == 302
    assert not ProviderCredential.objects.exists()
    assert AuditEvent.objects.filter(org=people.acme, action="ai.credential_removed").exists()


def test_a_bad_key_is_refused_on_its_form_and_not_echoed(people: People,
                                                         providers_file: Path) -> None:
    response = client_for(people.alice).post("/o/acme/ai/credentials/", {
        "provider": "mistral", "key-mistral-api_key": "sk-1"})
    assert response.status_code == 422
    html = _html(response)
    assert "The API key must be 8 to 500 characters" in html
    assert 'href="#id_key-mistral-api_key"' in html
    assert "sk-1" not in html
    assert not ProviderCredential.objects.exists()


def test_a_key_for_the_offline_engine_is_refused(people: People,
                                                 providers_file: Path) -> None:
    response = client_for(people.alice).post("/o/acme/ai/credentials/", {
        "provider": "offline", "key-offline-api_key": SECRET})
    assert response.status_code == 422
    assert "not a provider configured on this server" in _html(response)
    assert SECRET not in _html(response)


# --- provider health ----------------------------------------------------------------------


def test_health_shows_the_breaker_and_this_orgs_last_day(people: People,
                                                         providers_file: Path) -> None:
    AiPolicy.objects.create(org=people.acme, providers=["mistral", "azure-eu", "offline"])
    now = timezone.now()
    ProviderState.objects.create(provider="mistral", consecutive_failures=3,
                                 open_until=now + timedelta(seconds=60), last_error="timeout",
                                 last_failure_at=now, last_success_at=now - timedelta(hours=1))
    ProviderState.objects.create(provider="azure-eu", consecutive_failures=3,
                                 open_until=now - timedelta(seconds=5), last_error="server")
    ledger_row(people.acme, latency_ms=800)
    ledger_row(people.acme, latency_ms=1200)
    ledger_row(people.acme, outcome="failed", reason="timeout", latency_ms=30000)
    old = ledger_row(people.acme, latency_ms=5)
    type(old).objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))
    ledger_row(people.globex, latency_ms=1)  # another organisation's: not counted

    response = client_for(people.alice).get("/o/acme/ai/health/")
    assert response.status_code == 200
    html = _html(response)
    assert "1. Mistral (EU)" in html
    assert "2. Azure OpenAI (Sweden Central)" in html
    assert '<span class="badge badge-off">Open</span> until' in html
    assert "<code>timeout</code>" in html
    assert '<span class="badge badge-off">Half-open</span>' in html
    assert '<span class="badge badge-on">Closed</span>' in html  # offline
    assert "<li>Succeeded: 2</li><li>Provider failed: 1</li>" in html
    assert "1000 ms" in html
    assert "OpenAI (US)" not in html  # not allowed by Acme


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_health_and_ledger_are_for_owners_and_admins(people: People, providers_file: Path,
                                                     name: str) -> None:
    client = client_for(getattr(people, name))
    for url in ("/o/acme/ai/health/", "/o/acme/ai/ledger/", "/o/acme/ai/ledger/export.csv"):
        assert client.get(url).status_code == 403, url


# --- the ledger ---------------------------------------------------------------------------


def test_the_ledger_lists_filters_and_records_the_reading(people: People,
                                                          providers_file: Path) -> None:
    ledger_row(people.acme, user=people.bob)
    ledger_row(people.acme, feature="tutor", outcome="blocked", reason="feature_disabled",
               provider="", redactions={})
    ledger_row(people.globex, model="globex-model")
    alice = client_for(people.alice)

    html = _html(alice.get("/o/acme/ai/ledger/"))
    assert "2 requests" in html
    for text in ("bob@acme.test", "Refine (tone, reading level, length)", "mistral-large-latest",
                 "PERSON ×2", "900 ms", "120 / 80", "feature_disabled", "Blocked by policy"):
        assert text in html, text
    assert "globex-model" not in html
    assert "SEALED PROMPT TEXT" not in html

    filtered = _html(alice.get("/o/acme/ai/ledger/?outcome=blocked&feature=tutor"))
    assert "1 request" in filtered
    assert "bob@acme.test" not in filtered
    assert 'href="/o/acme/ai/ledger/export.csv?outcome=blocked&amp;feature=tutor"' in filtered
    assert AuditEvent.objects.filter(org=people.acme, action="ai_ledger.viewed").count() == 2

    bad = alice.get("/o/acme/ai/ledger/?since=2026-02-01&until=2026-01-01")
    assert bad.status_code == 400
    assert "“From” must not be after “To”." in _html(bad)


def test_the_ledger_exports_as_csv(people: People, providers_file: Path) -> None:
    ledger_row(people.acme, user=people.bob)
    ledger_row(people.acme, outcome="failed", reason="timeout", model="=HYPERLINK(1)")
    ledger_row(people.globex)

    response = client_for(people.alice).get("/o/acme/ai/ledger/export.csv?outcome=ok")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="ai-ledger-acme-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["who"] == "bob@acme.test"
    assert rows[0]["redactions"] == "PERSON ×2"
    assert rows[0]["tokens_in"] == "120"
    assert rows[0]["latency_ms"] == "900"
    assert "detail" not in rows[0]
    event = AuditEvent.objects.get(org=people.acme, action="ai_ledger.exported")
    assert event.after["filters"] == {"outcome": "ok"}

    everything = client_for(people.alice).get("/o/acme/ai/ledger/export.csv")
    text = b"".join(everything.streaming_content).decode()
    assert "'=HYPERLINK(1)" in text  # a spreadsheet will not run it
    assert "SEALED PROMPT TEXT" not in text

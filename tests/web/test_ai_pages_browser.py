"""The AI pages in Chromium: accessible (axe: no serious or critical violations), usable
with the keyboard, and kept as screenshots in test-artifacts/ for a human look."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from coursewright.ai.models import AiPolicy, ProviderCredential, ProviderState
from coursewright.ai.policy import get_policy
from tests.ai.test_policy_api import SECRET, ledger_row, use_providers
from tests.conftest import People
from tests.web.test_browser import check_page, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def configured(people: People, settings: Any, tmp_path: Path) -> People:
    use_providers(settings, tmp_path)
    AiPolicy.objects.create(org=people.acme, providers=["mistral", "offline"])
    ProviderCredential.objects.create(org=people.acme, provider="mistral", api_key=SECRET)
    return people


def test_owner_changes_the_policy_in_the_browser(browser: Browser, live_server: Any,
                                                 configured: People) -> None:
    context = signed_in(browser, live_server, configured.alice)
    page = context.new_page()
    page.goto("/o/acme/ai/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("AI settings")
    expect(page.get_by_role("checkbox", name="OpenAI (US)")).to_be_disabled()
    assert SECRET not in page.content()
    check_page(page, "ai-settings")

    # when Alice allows Azure first and switches the tutor off, with the keyboard
    page.get_by_role("checkbox", name="Azure OpenAI (Sweden Central)").check()
    page.get_by_label("Position of Azure OpenAI (Sweden Central)").fill("1")
    page.get_by_label("Position of Mistral (EU)").fill("2")
    page.get_by_label("Position of Offline engine (on this server)").fill("3")
    page.get_by_label("AI tutor for learners").uncheck()
    page.get_by_role("button", name="Save the AI policy").focus()
    page.keyboard.press("Enter")

    # then the page confirms it and the policy has changed
    expect(page.locator(".messages")).to_contain_text("The AI policy is saved")
    policy = get_policy(configured.acme)
    assert policy.providers == ["azure-eu", "mistral", "offline"]
    assert policy.features["tutor"] is False

    # and a bad position is shown in the error summary, linked to its field
    page.get_by_label("Position of Mistral (EU)").fill("0")
    page.get_by_role("button", name="Save the AI policy").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Position of Mistral (EU)")
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Position of Mistral (EU)")).to_be_focused()
    check_page(page, "ai-settings-errors")
    context.close()


def test_author_reads_the_policy_and_owner_reads_health_and_ledger(
        browser: Browser, live_server: Any, configured: People) -> None:
    now = timezone.now()
    ProviderState.objects.create(provider="mistral", consecutive_failures=3,
                                 open_until=now + timedelta(seconds=60), last_error="timeout",
                                 last_failure_at=now)
    ledger_row(configured.acme, user=configured.bob)
    ledger_row(configured.acme, outcome="failed", reason="timeout", latency_ms=30000)

    author = signed_in(browser, live_server, configured.bob)
    page = author.new_page()
    page.goto("/o/acme/ai/")
    expect(page.get_by_text("Only owners and admins can change these settings")).to_be_visible()
    check_page(page, "ai-settings-read-only")
    author.close()

    owner = signed_in(browser, live_server, configured.alice)
    page = owner.new_page()
    page.goto("/o/acme/ai/health/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("provider health")
    check_page(page, "ai-health")
    page.goto("/o/acme/ai/ledger/")
    expect(page.locator("table tbody tr")).to_have_count(2)
    check_page(page, "ai-ledger")
    owner.close()

    visitor = browser.new_context(base_url=live_server.url)
    page = visitor.new_page()
    page.goto("/trust/subprocessors")
    expect(page.get_by_role("heading", name="Mistral (EU)")).to_be_visible()
    check_page(page, "trust-subprocessors")
    visitor.close()

"""Drafting from a brief and the AI tools of a version, in Chromium: accessible (axe: no
serious or critical violations), usable with the keyboard, and kept as screenshots in
test-artifacts/ for a human look. The providers are the local fakes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, expect

from coursewright.ai.models import FEATURES
from coursewright.ai.policy import update_policy
from coursewright.audit.actor import Actor
from coursewright.courses import actions
from tests.conftest import People
from tests.support.browser import ARTIFACTS
from tests.support.fake_providers import FakeProviders
from tests.web.conftest import make_course
from tests.web.test_browser import check_page, signed_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("providers_file")]



def _save_part(part: Locator, name: str) -> None:
    """A screenshot of one part of a long page (the whole page is kept as well)."""
    ARTIFACTS.mkdir(exist_ok=True)
    part.screenshot(path=str(ARTIFACTS / f"web-{name}.png"))


def _allow(people: People, providers: list[str], **features: bool) -> None:
    update_policy(people.acme, actor=Actor.person(people.alice), providers=providers,
                  features={**dict.fromkeys(FEATURES, True), **features})


def test_draft_from_a_brief_in_the_browser(browser: Browser, live_server: Any,
                                           people: People, fake: FakeProviders) -> None:
    _allow(people, ["offline", "fake-openai", "fake-gemini"])
    page = signed_in(browser, live_server, people.bob).new_page()
    errors = watch_console(page)

    # the upload page offers both ways, each with the providers the policy allows
    page.goto("/o/acme/documents/upload/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create a course")
    expect(page.get_by_label("Draft with").first).to_be_visible()
    expect(page.locator("#id_provider option")).to_have_text([
        "Automatic",
        "Offline engine (on this server): nothing is sent", "Fake OpenAI (EU)", "Fake Gemini"])
    expect(page.locator("#id_brief-provider option")).to_have_count(3)
    check_page(page, "ai-upload")

    # a brief without its text: the summary takes the focus and links to the field
    page.get_by_label("Course title", exact=True).fill("Fire safety")
    page.get_by_role("button", name="Draft a course from the brief").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Brief: This field is required.")
    check_page(page, "ai-brief-errors")
    summary.get_by_role("link", name="Brief: This field is required.").click()
    expect(page.get_by_label("Brief", exact=True)).to_be_focused()

    # with the keyboard: the brief, then Gemini, then send
    page.keyboard.type("Fire safety for new warehouse staff: exits, alarms, extinguishers.")
    page.get_by_label("Number of screens (optional)").nth(1).fill("3")
    page.locator("#id_brief-provider").select_option("fake-gemini")
    page.get_by_role("button", name="Draft a course from the brief").focus()
    page.keyboard.press("Enter")

    # jobs run inline in tests, so the draft is ready when the job page opens
    expect(page.get_by_role("heading", level=1)).to_have_text("Draft ready: “Fire safety”",
                                                              timeout=30_000)
    expect(page.locator(".job .muted")).to_contain_text("From a brief")
    check_page(page, "ai-brief-job-done")
    assert {r.flavour for r in fake.requests} == {"gemini"}
    assert not errors, errors


def test_only_the_offline_engine_explains_the_brief(browser: Browser, live_server: Any,
                                                    people: People) -> None:
    page = signed_in(browser, live_server, people.alice).new_page()
    page.goto("/o/acme/documents/upload/")
    expect(page.get_by_text("A brief needs an AI model provider")).to_be_visible()
    expect(page.get_by_role("link", name="Allow an AI model provider in the AI settings")
           ).to_have_attribute("href", "/o/acme/ai/")
    check_page(page, "ai-upload-offline-only")


def test_the_ai_tools_of_a_version_in_the_browser(browser: Browser, live_server: Any,
                                                  people: People, fake: FakeProviders) -> None:
    _allow(people, ["fake-openai", "fake-gemini"])
    objects = make_course(people.acme, people.bob)
    version = objects.version
    page = signed_in(browser, live_server, people.bob).new_page()
    errors = watch_console(page)

    # the draft's AI tools: refine and add questions here, redraft under each screen
    page.goto(f"/o/acme/versions/{version.pk}/")
    tools = page.locator("#ai-tools")
    expect(tools.get_by_role("heading", level=2)).to_have_text("AI tools")
    expect(tools.get_by_role("heading", level=3)).to_have_text(
        ["Refine the wording", "Add questions"])
    expect(page.locator("summary", has_text="Redraft this screen with AI")).to_have_count(5)
    check_page(page, "ai-version-tools")
    _save_part(tools, "ai-version-tools-part")

    # a refine form sent without a choice comes back with the reason
    tools.get_by_role("button", name="Refine with AI").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.locator(".error-summary")).to_contain_text("Choose at least one change")
    check_page(page, "ai-version-refine-errors")
    _save_part(tools, "ai-version-refine-errors-part")

    # redraft one screen from its own disclosure, with the keyboard
    screen = page.locator("#screen-spotting")
    screen.get_by_text("Redraft this screen with AI").focus()
    page.keyboard.press("Enter")
    screen.get_by_label("What should change? (optional)").fill("Add an example")
    screen.get_by_label("AI provider").select_option("fake-openai")
    check_page(page, "ai-version-redraft-open")
    _save_part(screen, "ai-version-redraft-open-part")
    screen.get_by_role("button", name="Redraft screen 2").click()
    expect(page.locator(".messages")).to_contain_text("was redrafted with AI")
    expect(page.locator("#screen-spotting .badge-ai").first).to_have_text("AI draft")
    check_page(page, "ai-version-redrafted")
    _save_part(screen, "ai-version-redrafted-part")
    assert not errors, errors

    # the small-screen layout
    narrow = signed_in(browser, live_server, people.bob, width=390).new_page()
    narrow.goto(f"/o/acme/versions/{version.pk}/#ai-tools")
    check_page(narrow, "ai-version-tools-narrow")
    _save_part(narrow.locator("#ai-tools"), "ai-version-tools-narrow-part")


def test_translate_an_approved_version_in_the_browser(browser: Browser, live_server: Any,
                                                      people: People,
                                                      fake: FakeProviders) -> None:
    _allow(people, ["fake-openai"])
    objects = make_course(people.acme, people.bob)
    actions.submit_for_review(objects.version, actor=Actor.person(people.bob))
    approved = actions.approve_version(objects.version, actor=Actor.person(people.rita),
                                       confirm_unsupported=True)
    page = signed_in(browser, live_server, people.bob).new_page()
    errors = watch_console(page)

    page.goto(f"/o/acme/versions/{approved.pk}/")
    tools = page.locator("#ai-tools")
    expect(tools.get_by_role("heading", level=2)).to_have_text("Translate into a new draft")
    check_page(page, "ai-translate")
    _save_part(tools, "ai-translate-part")
    tools.get_by_label("Translate into").select_option("fr")
    tools.get_by_role("button", name="Translate into a new draft").click()
    expect(page.locator(".messages")).to_contain_text(
        "Version 2 is a new draft in Français (French)")
    expect(page.locator("h1")).to_contain_text("version 2")
    check_page(page, "ai-translated-draft")

    # the approved version now explains why it cannot be translated again yet
    page.goto(f"/o/acme/versions/{approved.pk}/")
    expect(tools).to_contain_text("version 2 is still a draft")
    check_page(page, "ai-translate-open-draft")
    _save_part(tools, "ai-translate-open-draft-part")
    assert not errors, errors

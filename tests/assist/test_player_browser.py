"""The tutor and a free-text question in the real player, in headless Chromium.

The player page is built the way a package is (``render_index_html`` with the version's
assist settings) and served from its own origin, with an LMS-like Content-Security-
Policy, while the platform (``live_server``) answers the player API: the calls are
cross-origin, as on a real LMS. The fake AI provider answers the model calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from coursewright.assist.access import player_assist
from coursewright.assist.actions import enable_assist
from coursewright.audit.actor import Actor
from coursewright.courses.content import CourseContent
from coursewright.player.render import player_assets, render_index_html
from coursewright.publishing.packaging import PackageMeta
from tests.assist.conftest import approved_course, grading_reply
from tests.conftest import People
from tests.support.browser import (
    StaticServer,
    describe,
    run_axe,
    save_screenshot,
    serious,
)
from tests.support.fake_providers import Call, FakeProviders

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DISCLOSURE = ("You are chatting with an AI assistant. Its answers come only from this "
              "course and may contain mistakes.")
ANSWER = "Use the report button to send it to the security desk."



def responder(call: Call) -> str:
    if call.json_schema is not None:
        return grading_reply(call)
    return f"{ANSWER} [P2]"


@pytest.fixture
def player_site(people: People, live_server: Any, fake_ai: FakeProviders,
                tmp_path: Path) -> Iterator[StaticServer]:
    """The approved course's player page, with tutor and grading, on its own origin."""
    fake_ai.responder = responder
    course = approved_course(people.acme, people.bob, people.rita)
    enable_assist(course.version, actor=Actor.person(people.alice))
    assist = player_assist(course.version, base_url=live_server.url)
    assert assist is not None
    version = course.version
    meta = PackageMeta(course_id=f"acme-{version.course_id}", version_number=version.number,
                       approved_by="Rita", approved_at=version.approved_at,
                       published_at=None, org_name="Acme")
    page = render_index_html(CourseContent.model_validate(version.content), fmt="html",
                             meta=meta, images={}, assist=assist)
    (tmp_path / "site" / "player").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text(page, encoding="utf-8")
    for name, data in player_assets().items():
        (tmp_path / "site" / "player" / name).write_bytes(data)
    csp = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
           f"connect-src 'self' {live_server.url}; object-src 'none'; base-uri 'none'")
    with StaticServer(tmp_path / "site", headers={"Content-Security-Policy": csp}) as site:
        yield site


def watch(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("requestfailed", lambda r: problems.append(f"requestfailed: {r.url}"))
    return problems


def test_disclosure_comes_first_then_the_tutor_answers(
        browser: Browser, player_site: StaticServer, fake_ai: FakeProviders) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems = watch(page)
    page.goto(f"{player_site.url}/index.html")
    page.wait_for_selector("html[data-player-ready]")

    # the tutor opens with its disclosure, and nothing can be asked yet
    page.get_by_role("button", name="Ask the assistant").click()
    panel = page.locator("#cw-tutor")
    expect(panel).to_be_visible()
    expect(panel.get_by_text(DISCLOSURE)).to_be_visible()
    question_box = page.get_by_label("Your question")
    expect(question_box).to_be_disabled()
    expect(page.locator("#cw-tutor-send")).to_be_disabled()
    expect(page.get_by_role("button", name="I understand")).to_be_focused()
    save_screenshot(page, "assist-tutor-disclosure", full_page=False)
    assert not serious(run_axe(page, include="#cw-tutor")), describe(
        serious(run_axe(page, include="#cw-tutor")))

    # once acknowledged, the learner asks and sees the answer with a link to its screen
    page.get_by_role("button", name="I understand").click()
    expect(question_box).to_be_enabled()
    expect(question_box).to_be_focused()
    question_box.fill("How do I report a phishing email?")
    question_box.press("Enter")
    answer = page.locator(".cw-tutor-msg.is-assistant:not(.is-pending)")
    expect(answer).to_contain_text(ANSWER, timeout=15000)
    link = answer.get_by_role("button", name="Go to: Reporting a phishing email")
    expect(link).to_be_visible()
    save_screenshot(page, "assist-tutor-answer", full_page=False)

    # the provider got the question, not the token or the session id
    [request] = fake_ai.requests
    assert "How do I report a phishing email?" in request.body_text
    token = page.evaluate("() => JSON.parse(document.getElementById('cw-data')"
                          ".textContent).assist.token")
    session = page.evaluate("() => Object.keys(sessionStorage).filter(k => k.endsWith"
                            "(':session')).map(k => sessionStorage.getItem(k))[0]")
    assert len(session) == 32
    assert token not in request.body_text
    assert session not in request.body_text

    link.click()
    expect(page.get_by_role("heading", name="Reporting a phishing email", level=1)) \
        .to_be_visible()
    assert not problems, problems
    context.close()


def test_free_text_answer_is_graded_after_the_notice(
        browser: Browser, player_site: StaticServer, fake_ai: FakeProviders) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = context.new_page()
    problems = watch(page)
    page.goto(f"{player_site.url}/index.html#s.report")
    page.wait_for_selector("html[data-player-ready]")
    page.get_by_role("button", name="Next").click()

    form = page.locator("form.cw-free-text")
    expect(form.get_by_text("An AI grades your answer against this question's criteria. "
                            "A person can review the grade.")).to_be_visible()
    form.get_by_label("Your answer").fill("Report it with the report button; never click.")
    expect(form.get_by_text("46 of 500 characters")).to_be_visible()
    form.get_by_role("button", name="Submit for grading").click()
    feedback = form.locator(".cw-feedback")
    expect(feedback).to_contain_text("Score: 2 of 3 points", timeout=15000)
    expect(feedback).to_contain_text("Graded by AI. A person may review this grade.")
    expect(feedback).to_contain_text("Mentions the report button.")
    save_screenshot(page, "assist-free-text-graded")
    assert not serious(run_axe(page, include="form.cw-free-text"))
    assert len(fake_ai.requests) == 1
    assert not problems, problems
    context.close()

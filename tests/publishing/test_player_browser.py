"""The learner player in headless Chromium: SCORM runtimes, resume, keyboard, axe, CSP.

The SCORM tests serve each extracted package next to a test LMS page that runs
scorm-again (``tests/js/node_modules``; ``npm ci --prefix tests/js``) and opens the
package's launch file in an iframe, as an LMS does.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from coursewright.publishing.packaging import build_package
from tests.publishing.player_driver import (
    active,
    answer,
    click_through,
    cmi,
    current_screen,
    player_frame,
    tab_to,
)
from tests.support.browser import (
    StaticServer,
    describe,
    launch_chromium,
    node_modules_mount,
    require_node_modules,
    run_axe,
    save_screenshot,
    scorm_host_page,
    serious,
)
from tests.support.sample_course import (
    CORRECT_ANSWERS,
    WRONG_ANSWERS,
    sample_assets,
    sample_course,
    sample_meta,
)

pytestmark = pytest.mark.browser

SCORM = ["scorm12", "scorm2004"]
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "object-src 'none'; base-uri 'none'")
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
MOBILE: ViewportSize = {"width": 390, "height": 844}
SCREEN_IDS = [s.id for s in sample_course().screens]
# What an LMS hands the SCO from the manifest (masteryscore / minNormalizedMeasure).
FROM_MANIFEST: dict[str, dict[str, Any]] = {
    "scorm12": {"cmi": {"student_data": {"mastery_score": "80"}}},
    "scorm2004": {"cmi": {"scaled_passing_score": "0.8"}},
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch_chromium() as b:
        yield b


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every format of the sample course, extracted under <root>/<format>/."""
    root = tmp_path_factory.mktemp("site")
    for fmt in ("scorm12", "scorm2004", "html"):
        data = build_package(sample_course(), fmt=fmt, meta=sample_meta(),
                             assets=sample_assets())
        zipfile.ZipFile(io.BytesIO(data)).extractall(root / fmt)
    (root / "hosts").mkdir()
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[StaticServer]:
    with StaticServer(site, mounts=node_modules_mount()) as srv:
        yield srv


@pytest.fixture(scope="module")
def csp_server(site: Path) -> Iterator[StaticServer]:
    with StaticServer(site / "html", headers={"Content-Security-Policy": CSP}) as srv:
        yield srv


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP)
    yield ctx
    ctx.close()


def _watch(page: Page) -> list[str]:
    """Collect page errors and console errors (CSP reports land there too)."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None)
    page.on("requestfailed", lambda r: problems.append(f"requestfailed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    return problems


def _open_in_lms(context: BrowserContext, server: StaticServer, site: Path, fmt: str,
                 seed: dict[str, Any] | None = None) -> tuple[Page, list[str]]:
    require_node_modules("scorm-again")
    name = f"{uuid.uuid4().hex}.html"
    host = scorm_host_page(fmt, f"../{fmt}/index.html", seed=seed)  # type: ignore[arg-type]
    (site / "hosts" / name).write_text(host, encoding="utf-8")
    page = context.new_page()
    problems = _watch(page)
    page.goto(f"{server.url}/hosts/{name}")
    return page, problems


def _finish(page: Page, fmt: str) -> None:
    """Unload the SCO, as an LMS does when the learner leaves."""
    page.evaluate("() => { document.getElementById('sco').src = 'about:blank'; }")
    event = "LMSFinish" if fmt == "scorm12" else "Terminate"
    page.wait_for_function(f"() => window.lmsLog.includes('{event}')")


# --- SCORM runtimes -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", SCORM)
def test_learner_passes_in_lms(context: BrowserContext, server: StaticServer, site: Path,
                               fmt: str) -> None:
    page, problems = _open_in_lms(context, server, site, fmt, seed=FROM_MANIFEST[fmt])
    frame = player_frame(page)
    assert frame.evaluate("() => document.documentElement.dataset.playerReady") == fmt
    click_through(frame, CORRECT_ANSWERS)
    results = frame.locator("#cw-results-body").inner_text()
    assert "Course complete" in results
    assert "100%" in results
    data = cmi(page, fmt)
    if fmt == "scorm12":
        core = data["core"]
        assert core["lesson_status"] == "passed"
        assert float(core["score"]["raw"]) == 100
        assert core["score"]["min"] == "0"
        assert core["score"]["max"] == "100"
        assert core["lesson_location"] == "~results"
        assert core["exit"] == ""
    else:
        assert data["completion_status"] == "completed"
        assert data["success_status"] == "passed"
        assert float(data["score"]["scaled"]) == 1.0
        assert float(data["score"]["raw"]) == 100
        assert float(data["progress_measure"]) == 1.0
        assert data["exit"] == "normal"
    records = list(data["interactions"].values())
    assert [r["id"] for r in records] == ["q-sender", "q-signs", "q-delete"]
    assert {r["result"] for r in records} == {"correct"}
    _finish(page, fmt)
    sent = page.evaluate("() => window.lmsSet")
    if fmt == "scorm12":
        assert re.fullmatch(r"\d{4}:\d{2}:\d{2}\.\d{2}", sent["cmi.core.session_time"])
        assert sent["cmi.core.exit"] == ""
    else:
        assert re.fullmatch(r"PT\d+H\d+M\d+\.\d{2}S", sent["cmi.session_time"])
        assert sent["cmi.exit"] == "normal"
    assert not problems, problems


@pytest.mark.parametrize("fmt", SCORM)
def test_learner_fails_then_tries_again(context: BrowserContext, server: StaticServer,
                                        site: Path, fmt: str) -> None:
    page, problems = _open_in_lms(context, server, site, fmt, seed=FROM_MANIFEST[fmt])
    frame = player_frame(page)
    click_through(frame, WRONG_ANSWERS)
    data = cmi(page, fmt)
    if fmt == "scorm12":
        assert data["core"]["lesson_status"] == "failed"
        assert float(data["core"]["score"]["raw"]) == 0
    else:
        assert data["completion_status"] == "completed"
        assert data["success_status"] == "failed"
        assert float(data["score"]["scaled"]) == 0.0
    assert "did not reach" in frame.locator("#cw-results-body").inner_text()
    again = frame.locator("#cw-try-again")
    assert again.is_visible()
    again.click()
    assert current_screen(frame) == "spotting"  # the first screen with a question
    click_through(frame, CORRECT_ANSWERS)
    data = cmi(page, fmt)
    if fmt == "scorm12":
        assert data["core"]["lesson_status"] == "passed"
    else:
        assert data["success_status"] == "passed"
    assert not problems, problems


@pytest.mark.parametrize("fmt", SCORM)
def test_resume_opens_at_bookmarked_screen(browser: Browser, server: StaticServer, site: Path,
                                           fmt: str) -> None:
    first = browser.new_context(viewport=DESKTOP)
    page, problems = _open_in_lms(first, server, site, fmt)
    frame = player_frame(page)
    frame.locator("#cw-next").click()
    answer(frame, "q-sender", CORRECT_ANSWERS["q-sender"])
    frame.locator("#cw-next").click()
    assert current_screen(frame) == "links"
    commit = "LMSCommit" if fmt == "scorm12" else "Commit"
    page.wait_for_function(f"() => window.lmsLog.includes('{commit}')")
    saved = cmi(page, fmt)
    location = saved["core"]["lesson_location"] if fmt == "scorm12" else saved["location"]
    assert location == "links"
    assert saved["suspend_data"]
    first.close()
    assert not problems, problems

    seed = json.loads(json.dumps(saved))
    if fmt == "scorm12":
        seed["core"]["entry"] = "resume"
    else:
        seed["entry"] = "resume"
    second = browser.new_context(viewport=DESKTOP)
    page, problems = _open_in_lms(second, server, site, fmt, seed={"cmi": seed})
    frame = player_frame(page)
    assert current_screen(frame) == "links"
    assert frame.locator(".cw-screen:not([hidden]) h1").inner_text() == "Checking links safely"
    assert "Welcome back" in frame.locator("#cw-notice").inner_text()
    sender = frame.locator('form[data-block-id="q-sender"]')
    assert "is-answered" in (sender.get_attribute("class") or "")
    assert sender.locator('input[value="b"]').is_checked()
    assert frame.locator("#cw-position").inner_text() == "Screen 3 of 5"
    click_through(frame, CORRECT_ANSWERS)
    data = cmi(page, fmt)
    if fmt == "scorm12":
        assert data["core"]["lesson_status"] == "passed"
    else:
        assert data["completion_status"] == "completed"
        assert data["success_status"] == "passed"
    second.close()
    assert not problems, problems


def test_keyboard_only_completion(context: BrowserContext, server: StaticServer,
                                  site: Path) -> None:
    fmt = "scorm2004"
    page, problems = _open_in_lms(context, server, site, fmt)
    frame = player_frame(page)
    kb = page.keyboard

    # The first Tab into the course reaches the skip link, which is then visible.
    tab_to(page, frame, {"cls": "cw-skip"})
    box = frame.locator(".cw-skip").bounding_box()
    assert box is not None
    assert box["y"] >= 0
    kb.press("Enter")
    assert active(frame)["id"] == "s.welcome.h"

    # Contents menu: open with Enter, close with Escape (focus returns to the toggle).
    tab_to(page, frame, {"id": "cw-menu-toggle"}, shift=True)
    kb.press("Enter")
    assert frame.locator("#cw-toc").is_visible()
    kb.press("Escape")
    assert not frame.locator("#cw-toc").is_visible()
    assert active(frame)["id"] == "cw-menu-toggle"

    tab_to(page, frame, {"id": "cw-next"})
    kb.press("Enter")
    assert current_screen(frame) == "spotting"
    assert active(frame)["id"] == "s.spotting.h"  # focus moved to the new heading

    # Multiple choice: Tab into the radio group, arrows to the right choice.
    now = tab_to(page, frame, {"name": "b.q-sender"})
    for _ in range(5):
        if now["value"] == "b":
            kb.press("Space")
            break
        kb.press("ArrowDown")
        now = active(frame)
    tab_to(page, frame, {"cls": "cw-check"})
    kb.press("Enter")
    assert "Correct" in frame.locator('[id="b.q-sender.fb"]').inner_text()
    tab_to(page, frame, {"id": "cw-next"})
    tab_to(page, frame, {"id": "cw-prev"}, shift=True)  # Shift+Tab goes back
    tab_to(page, frame, {"id": "cw-next"})
    kb.press("Space")
    assert current_screen(frame) == "links"

    # Multiple response: Space on each right checkbox.
    for value in ("urgent", "mismatch", "attachment"):
        tab_to(page, frame, {"name": "b.q-signs", "value": value})
        kb.press("Space")
    tab_to(page, frame, {"cls": "cw-check"})
    kb.press("Enter")
    assert "Correct" in frame.locator('[id="b.q-signs.fb"]').inner_text()

    # Arrow keys navigate between screens when focus is not in a form control.
    tab_to(page, frame, {"id": "cw-next"})
    kb.press("ArrowRight")
    assert current_screen(frame) == "reporting"

    now = tab_to(page, frame, {"name": "b.q-delete"})
    for _ in range(3):
        if now["value"] == "false":
            kb.press("Space")
            break
        kb.press("ArrowDown")
        now = active(frame)
    kb.press("Enter")  # implicit submission of the question form
    assert "Correct" in frame.locator('[id="b.q-delete.fb"]').inner_text()

    tab_to(page, frame, {"id": "cw-next"})
    kb.press("Enter")
    assert current_screen(frame) == "summary"
    tab_to(page, frame, {"id": "cw-next"})
    kb.press("Enter")
    assert current_screen(frame) == "cw-results"
    assert active(frame)["id"] == "cw-results-h"
    assert "Course complete" in frame.locator("#cw-results-body").inner_text()
    data = cmi(page, fmt)
    assert data["completion_status"] == "completed"
    assert data["success_status"] == "passed"
    assert not problems, problems


# --- accessibility and looks --------------------------------------------------------------


def test_axe_finds_no_serious_violations(browser: Browser, server: StaticServer) -> None:
    require_node_modules("axe-core")
    found: list[str] = []
    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        ctx = browser.new_context(viewport=viewport)
        page = ctx.new_page()
        problems = _watch(page)
        page.goto(f"{server.url}/html/index.html")
        page.wait_for_selector("html[data-player-ready]")
        found += [f"{label} content: {describe(serious(run_axe(page)))}"]
        save_screenshot(page, f"player-{label}-content")
        page.locator("#cw-next").click()
        answer(page, "q-sender", WRONG_ANSWERS["q-sender"])
        found += [f"{label} question: {describe(serious(run_axe(page)))}"]
        save_screenshot(page, f"player-{label}-question-feedback")
        page.locator("#cw-menu-toggle").click()
        found += [f"{label} menu: {describe(serious(run_axe(page)))}"]
        save_screenshot(page, f"player-{label}-contents", full_page=False)
        page.locator("#cw-menu-toggle").click()
        click_through(page, CORRECT_ANSWERS)
        found += [f"{label} results: {describe(serious(run_axe(page)))}"]
        save_screenshot(page, f"player-{label}-results")
        assert not problems, problems
        ctx.close()
    bad = [f for f in found if not f.endswith(": ")]
    assert not bad, "\n".join(bad)


def test_targets_and_focus_are_visible(context: BrowserContext, server: StaticServer) -> None:
    page = context.new_page()
    page.set_viewport_size(MOBILE)
    page.goto(f"{server.url}/html/index.html")
    page.wait_for_selector("html[data-player-ready]")
    page.locator("#cw-next").click()
    sizes = page.evaluate(
        """() => [...document.querySelectorAll(
              '.cw-screen:not([hidden]) label, button:not([hidden]), .cw-skip')]
            .filter(el => el.offsetParent !== null)
            .map(el => { const r = el.getBoundingClientRect();
                         return [el.id || el.className, r.width, r.height]; })"""
    )
    assert sizes
    for name, width, height in sizes:
        assert min(width, height) >= 24, (name, width, height)
    page.keyboard.press("Tab")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


# --- plain HTML export --------------------------------------------------------------------

_CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def test_html_export_standalone_under_strict_csp(context: BrowserContext,
                                                 csp_server: StaticServer) -> None:
    context.add_init_script(_CSP_LISTENER)
    page = context.new_page()
    problems = _watch(page)
    response = page.goto(f"{csp_server.url}/index.html")
    assert response is not None
    assert response.headers["content-security-policy"] == CSP
    page.wait_for_selector("html[data-player-ready='none']")
    assert page.evaluate("() => typeof window.API") == "undefined"
    assert page.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.evaluate("() => getComputedStyle(document.querySelector('.cw-btn-primary'))"
                         ".backgroundColor") == "rgb(29, 78, 216)"  # player.css applied
    click_through(page, CORRECT_ANSWERS)
    assert "Course complete" in page.locator("#cw-results-body").inner_text()
    stored = page.evaluate("() => localStorage.getItem('coursewright:acme-12:v3')")
    assert stored
    assert json.loads(stored)["completed"] == "true"
    page.reload()
    page.wait_for_selector("html[data-player-ready='none']")
    assert current_screen(page) == "cw-results"
    assert "Welcome back" in page.locator("#cw-notice").inner_text()
    assert page.evaluate("() => window.__csp") == []
    assert not problems, problems


def test_html_export_works_from_file_url(context: BrowserContext, site: Path) -> None:
    page = context.new_page()
    problems = _watch(page)
    page.goto((site / "html" / "index.html").as_uri())
    page.wait_for_selector("html[data-player-ready='none']")
    assert page.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    page.locator("#cw-next").click()
    answer(page, "q-sender", CORRECT_ANSWERS["q-sender"])
    page.locator("#cw-next").click()
    assert current_screen(page) == "links"
    page.reload()
    page.wait_for_selector("html[data-player-ready='none']")
    assert current_screen(page) == "links"
    assert not problems, problems


def test_scorm_package_without_lms_runs_standalone(context: BrowserContext,
                                                   server: StaticServer) -> None:
    page = context.new_page()
    problems = _watch(page)
    page.goto(f"{server.url}/scorm2004/index.html")
    page.wait_for_selector("html[data-player-ready='none']")
    click_through(page, CORRECT_ANSWERS)
    assert "Course complete" in page.locator("#cw-results-body").inner_text()
    assert not problems, problems


def test_screens_match_course(context: BrowserContext, server: StaticServer) -> None:
    page = context.new_page()
    page.goto(f"{server.url}/html/index.html")
    page.wait_for_selector("html[data-player-ready]")
    seen = []
    for _ in SCREEN_IDS:
        seen.append(current_screen(page))
        page.locator("#cw-next").click()
    assert seen == SCREEN_IDS
    assert current_screen(page) == "cw-results"
    assert "Not finished yet" in page.locator("#cw-results-body").inner_text()


def test_without_javascript_the_whole_course_is_readable(browser: Browser,
                                                         server: StaticServer) -> None:
    ctx = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = ctx.new_page()
    page.goto(f"{server.url}/html/index.html")
    visible = page.locator(".cw-screen h1:visible").all_inner_texts()
    assert visible == [s.title for s in sample_course().screens]
    assert not page.locator("#cw-pager").is_visible()
    assert page.locator("#cw-toc").is_visible()
    ctx.close()

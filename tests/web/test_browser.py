"""The dashboard in a real browser: every page of the flow passes axe-core (no serious or
critical violations), the job page follows the generation by itself, and a reviewer can
approve with the keyboard only. Screenshots go to test-artifacts/ for a human look."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import People
from tests.support.browser import describe, run_axe, save_screenshot, serious
from tests.web.conftest import AcmeObjects, make_course
from tests.web.helpers import HANDBOOK_PATH

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def signed_in(browser: Browser, live_server: Any, user: Any, *,
              width: int = 1280) -> BrowserContext:
    """A browser context with ``user``'s session (the sign-in page is tested elsewhere)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": width, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    return context


def check_page(page: Page, name: str) -> None:
    """No serious or critical axe violations, no console errors; keep a screenshot."""
    save_screenshot(page, f"web-{name}")
    violations = serious(run_axe(page))
    assert not violations, f"{name}:\n{describe(violations)}"


def watch_console(page: Page) -> list[str]:
    """Script errors and failed sub-resources (a page answered 4xx on purpose is fine)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and "Failed to load resource" not in m.text else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document" else None)
    return errors


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def test_review_pages_are_accessible_and_approval_works_by_keyboard(
        browser: Browser, live_server: Any, people: People) -> None:
    objects: AcmeObjects = make_course(people.acme, people.bob)
    version = objects.version
    bob = signed_in(browser, live_server, people.bob)
    page = bob.new_page()
    errors = watch_console(page)

    # Bob's dashboard, course, version and screen editor
    page.goto("/o/acme/")
    check_page(page, "dashboard-bob")
    page.goto(f"/o/acme/courses/{objects.course.pk}/")
    check_page(page, "course-draft")
    page.goto(f"/o/acme/versions/{version.pk}/")
    expect(page.get_by_text("AI, edited").first).to_be_visible()
    check_page(page, "version-draft")
    page.goto(f"/o/acme/versions/{version.pk}/screens/spotting/edit/")
    check_page(page, "edit-screen")

    # the editor's errors: focus moves to the summary, which links to the field
    page.get_by_label("Choice 1 text").fill("")
    page.get_by_role("button", name="Save screen").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Choice 1 text: This field is required.")
    check_page(page, "edit-screen-errors")

    # a valid edit, then submit for review
    page.get_by_label("Choice 1 text").fill("Click the link at once")
    page.get_by_label("Screen title").fill("Spotting phishing")
    page.get_by_role("button", name="Save screen").click()
    expect(page.locator(".messages")).to_contain_text("Screen “Spotting phishing” saved.")
    page.goto(f"/o/acme/courses/{objects.course.pk}/")
    page.get_by_role("button", name="Submit version 1 for review").click()
    expect(page.locator(".messages")).to_contain_text("submitted for review")
    assert not errors, errors

    # Rita approves with the keyboard only, on the review page: the source check flagged
    # sentences of the sample course, so she first ticks that she has checked them
    rita = signed_in(browser, live_server, people.rita)
    page = rita.new_page()
    errors = watch_console(page)
    page.goto(f"/o/acme/courses/{objects.course.pk}/")
    check_page(page, "course-in-review-rita")
    page.goto(f"/o/acme/versions/{version.pk}/")
    expect(page.locator("#source-check")).to_contain_text("flagged sentences")
    check_page(page, "version-in-review-rita")
    tab_to(page, "#id_approve-confirm_unsupported")
    page.keyboard.press("Space")
    tab_to(page, "#approve button.approve")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("Version 1 is approved")
    expect(page.get_by_text("rita@acme.test").first).to_be_visible()
    check_page(page, "course-approved")
    page.goto(f"/o/acme/versions/{version.pk}/")
    check_page(page, "version-approved-rita")

    # the learner preview loads the player's script, styles and images from this site
    page.get_by_role("link", name="Preview as a learner").click()
    expect(page.locator("#cw-main")).to_be_visible()
    expect(page.locator(".cw-screen").first).to_be_visible()
    # wait for the image to finish loading (the page may be slow under a parallel run)
    page.wait_for_function(
        "() => { const i = document.querySelector('.cw-screen img'); return i && i.complete; }")
    assert page.evaluate("() => document.querySelector('.cw-screen img').naturalWidth") > 0
    check_page(page, "preview")
    assert not errors, errors

    # the small-screen layout of the version page
    narrow = signed_in(browser, live_server, people.bob, width=390).new_page()
    narrow.goto(f"/o/acme/versions/{version.pk}/")
    check_page(narrow, "version-narrow")


def test_upload_then_the_job_page_follows_generation(
        browser: Browser, live_server: Any, people: People) -> None:
    from coursewright.ai.actions import run_generation, start_generation
    from coursewright.ai.models import GenerationJob
    from coursewright.audit.actor import Actor
    from coursewright.ingest.models import Document

    bob = signed_in(browser, live_server, people.bob)
    page = bob.new_page()
    errors = watch_console(page)

    # the upload page, first with a mistake, then with the handbook
    page.goto("/o/acme/documents/upload/")
    check_page(page, "upload")
    page.get_by_role("button", name="Upload and draft a course").click()
    expect(page.locator(".error-summary")).to_contain_text("This field is required.")
    check_page(page, "upload-errors")
    page.get_by_label("Document").set_input_files(str(HANDBOOK_PATH))
    page.get_by_label("Course title (optional)").fill("Field handbook")
    page.get_by_label("Number of screens (optional)").fill("6")
    page.get_by_role("button", name="Upload and draft a course").click()

    # jobs run inline in tests, so the draft is ready when the job page opens
    expect(page.get_by_role("link", name="Open the draft course")).to_be_visible()
    check_page(page, "job-done")
    page.get_by_role("link", name="Open the draft course").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Field handbook")
    check_page(page, "course-generated")
    page.get_by_role("link", name="Read and edit version 1").click()
    check_page(page, "version-generated")

    # a queued job: the page polls status.json and opens the course once it is done
    document = Document.objects.get(org=people.acme)
    job = start_generation(document, actor=Actor.person(people.bob), title="Second try",
                           enqueue=False)
    page.goto(f"/o/acme/jobs/{job.pk}/")
    expect(page.locator("#job-status")).to_have_text("Queued")
    check_page(page, "job-queued")
    GenerationJob.objects.filter(pk=job.pk).update(status="running", progress=40,
                                                   stage="Writing screens")
    expect(page.locator("#job-status")).to_have_text("Running: Writing screens")
    assert page.locator("#job-progress").evaluate("el => el.value") == 40
    GenerationJob.objects.filter(pk=job.pk).update(status="queued", progress=0, stage="")
    run_generation(job.pk)
    job.refresh_from_db()
    page.wait_for_url(f"**/o/acme/courses/{job.course_id}/")
    assert not errors, errors

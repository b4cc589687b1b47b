"""The AI-graded answers page in Chromium: accessible (axe: no serious or critical
violations), usable with the keyboard, and kept as screenshots in test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from coursewright.assist.models import GradingRecord, GradingStatus
from tests.assist.conftest import approved_course
from tests.conftest import People
from tests.web.test_browser import check_page, signed_in, watch_console
from tests.web.test_gradings_page import graded

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def test_a_reviewer_overrides_an_ai_grade_in_the_browser(browser: Browser, live_server: Any,
                                                         people: People) -> None:
    course = approved_course(people.acme, people.bob, people.rita)
    graded(course, session="earlier", ai_score=1, answer="Delete it and tell nobody.",
           status=GradingStatus.REVIEWED, final_score=0, reviewed_by=people.alice,
           reviewed_at=timezone.now(), review_note="Reporting is the point of the question.")
    record = graded(course)
    url = f"/o/acme/courses/{course.course.pk}/gradings/"

    context = signed_in(browser, live_server, people.rita)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(f"/o/acme/courses/{course.course.pk}/")
    page.get_by_role("link", name="Learners' answers graded by AI").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("AI-graded answers")
    expect(page.get_by_role("heading", name="These grades were made by AI")).to_be_visible()
    expect(page.locator("article")).to_have_count(1)
    check_page(page, "gradings")

    # a score out of range is shown in the error summary, linked to its field
    score = page.get_by_label("Final score (0 to 3)")
    score.fill("5")
    page.get_by_role("button", name="Save the final score").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The score must be between 0 and 3.")
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Final score (0 to 3)")).to_be_focused()
    check_page(page, "gradings-errors")

    # with the keyboard: a good score and a note
    page.get_by_label("Final score (0 to 3)").fill("3")
    page.get_by_label("Note (optional)").fill("Not clicking is implied.")
    page.get_by_role("button", name="Save the final score").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("Final score saved: 3 of 3")
    expect(page.get_by_text("Every answer has been reviewed.")).to_be_visible()
    record.refresh_from_db()
    assert record.final_score == 3

    page.get_by_role("link", name="All (2)").click()
    expect(page.locator("article")).to_have_count(2)
    # a reviewed answer's form is folded away until asked for
    first = page.locator("article").first
    expect(first.get_by_label("Final score (0 to 3)")).to_be_hidden()
    first.get_by_text("Change the final score").click()
    expect(first.get_by_label("Final score (0 to 3)")).to_have_value("3")
    check_page(page, "gradings-all")
    context.close()

    narrow = signed_in(browser, live_server, people.rita, width=400)
    page = narrow.new_page()
    page.goto(url + "?show=all")
    check_page(page, "gradings-narrow")
    narrow.close()
    assert GradingRecord.objects.filter(status=GradingStatus.REVIEWED).count() == 2
    assert errors == []

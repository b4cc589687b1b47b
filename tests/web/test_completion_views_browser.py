"""The completions page in Chromium: reached from the course page, accessible (axe: no
serious or critical violations, at desktop width and at 390 px), its three SVG charts
drawn with their titles, the tables behind them, a filter that narrows the records,
and screenshots in test-artifacts/ (and /tmp) for a human look."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import People
from tests.tracking.completion_fixtures import World, make_world
from tests.web.test_browser import check_page, signed_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


def test_completions_page(browser: Browser, live_server: Any, people: People) -> None:
    world: World = make_world(people)
    context = signed_in(browser, live_server, people.alice)
    page = context.new_page()
    errors = watch_console(page)

    page.goto(f"/o/acme/courses/{world.live.course.pk}/")
    page.get_by_role("link", name="Completions", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Completions")
    expect(page.get_by_role("heading", name="8 learner records")).to_be_visible()
    # three charts, each an image named by its title, with its numbers in a table
    for name in ("Completions per day", "Score distribution",
                 "Where unfinished attempts stopped"):
        chart = page.get_by_role("img", name=name)
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 60
    expect(page.locator("#chart-dropoff-title")).to_have_count(1)
    expect(page.locator("svg[aria-labelledby^=chart-scores] .chart-bars rect")).to_have_count(10)
    page.get_by_text("Score distribution as a table").click()
    expect(page.get_by_role("region", name="Score distribution, table")).to_contain_text(
        "90% to 100% (included)")
    expect(page.locator(".completions-table tbody tr")).to_have_count(8)
    no_sideways_scroll(page)
    check_page(page, "completions")
    page.screenshot(path="/tmp/completions-desktop.png", full_page=True)

    # filter the failed learners: two records, their scores in the chart
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="2 learner records")).to_be_visible()
    expect(page.locator(".completions-table tbody tr")).to_have_count(2)
    expect(page.locator(".completions-table tbody")).to_contain_text("Failed")
    download = page.get_by_role("link", name="Export as CSV (these records)")
    expect(download).to_have_attribute("href", f"/o/acme/courses/{world.live.course.pk}"
                                       "/completions/completions.csv?license=&deployment="
                                       "&status=failed&since=&until=")

    # at phone width the charts scale down and nothing scrolls sideways
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"/o/acme/courses/{world.live.course.pk}/completions/")
    expect(page.get_by_role("img", name="Where unfinished attempts stopped")).to_be_visible()
    no_sideways_scroll(page)
    check_page(page, "completions-narrow")
    page.screenshot(path="/tmp/completions-narrow.png", full_page=True)
    assert not errors, errors
    context.close()

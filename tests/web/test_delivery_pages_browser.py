"""The licenses and logs pages in Chromium, at desktop width and at 390 px: accessible
(axe: no serious or critical violations), usable (issue a license, see its token once,
confirm a revocation, filter the logs), and kept as screenshots in test-artifacts/ for a
human look. The data: two licenses with a few launches, one refused at the learner cap,
and two errors the player reported."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from coursewright.delivery import gatekeeper
from coursewright.delivery.models import License, LicenseStatus
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import ORIGIN
from tests.delivery.test_logs_fixtures import FORMULA, LEARNER_CAP_TEXT, Logs, make_logs
from tests.web.test_browser import check_page, signed_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "narrow": 390}



def no_sideways_scroll(page: Page) -> None:
    """The page itself fits the viewport (wide tables scroll inside their own box)."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("size", list(WIDTHS))
def test_licenses_pages(browser: Browser, live_server: Any, people: People,
                        size: str) -> None:
    logs: Logs = make_logs(people)
    context = signed_in(browser, live_server, people.alice, width=WIDTHS[size])
    page = context.new_page()
    errors = watch_console(page)

    # the list, reached from the organisation's navigation
    page.goto("/o/acme/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Licenses").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Licenses")
    expect(page.locator("table tbody tr")).to_have_count(2)
    expect(page.locator(f"#license-{logs.northwind.pk}")).to_contain_text("2 / 2")
    no_sideways_scroll(page)
    check_page(page, f"licenses-{size}")

    # issuing with a bad origin: the error summary names the field
    form = page.locator("form", has=page.get_by_role("button", name="Issue the license"))
    form.get_by_label("Name").fill("Fabrikam Canvas")
    form.get_by_label("Fire safety").check()
    form.get_by_label("Allowed origins").fill("https://canvas.fabrikam.example/courses")
    form.get_by_role("button", name="Issue the license").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Line 1:")
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Allowed origins")).to_be_focused()
    no_sideways_scroll(page)
    check_page(page, f"licenses-issue-error-{size}")

    # and with a good one, the token is shown once, ready to copy
    page.get_by_label("Allowed origins").fill("https://canvas.fabrikam.example")
    page.get_by_label("Most launches").fill("1000")
    page.get_by_role("button", name="Issue the license").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fabrikam Canvas")
    token_box = page.get_by_label("License token")
    expect(token_box).to_have_attribute("readonly", "")
    token = token_box.input_value()
    assert gatekeeper.launch(token, course_uid=str(logs.live.course.uid), learner_id="x",
                             origin="https://canvas.fabrikam.example").allowed
    no_sideways_scroll(page)
    check_page(page, f"license-issued-{size}")
    # a later visit shows no token
    page.goto(f"/o/acme/licenses/{License.objects.get(name='Fabrikam Canvas').pk}/")
    expect(page.get_by_label("License token")).to_have_count(0)

    # a license with launches, a refusal among them
    page.goto(f"/o/acme/licenses/{logs.northwind.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Moodle")
    expect(page.get_by_role("table")).to_contain_text(LEARNER_CAP_TEXT)
    no_sideways_scroll(page)
    check_page(page, f"license-detail-{size}")

    # revoking asks first, then refuses the next launch
    page.get_by_role("link", name="Revoke… the license Northwind Moodle").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revoke the license")
    check_page(page, f"license-revoke-{size}")
    page.get_by_label("Reason (optional)").fill("Contract ended")
    page.get_by_role("button", name="Revoke the license").click()
    expect(page.locator(".messages")).to_contain_text("is revoked")
    expect(page.get_by_role("heading", name="Revoked")).to_be_visible()
    assert License.objects.get(pk=logs.northwind.pk).status == LicenseStatus.REVOKED
    assert gatekeeper.launch(logs.northwind_token, course_uid=str(logs.live.course.uid),
                             learner_id="learner-1", origin=ORIGIN).reason == "revoked"
    check_page(page, f"license-revoked-{size}")
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("size", list(WIDTHS))
def test_logs_page(browser: Browser, live_server: Any, people: People, size: str) -> None:
    logs: Logs = make_logs(people)
    context = signed_in(browser, live_server, people.alice, width=WIDTHS[size])
    page = context.new_page()
    errors = watch_console(page)

    page.goto(f"/o/acme/courses/{logs.live.course.pk}/")
    page.get_by_role("link", name="Launch and error logs").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Logs")
    expect(page.get_by_role("heading", name="4 launches")).to_be_visible()
    tabs = page.get_by_role("navigation", name="Logs")
    expect(tabs.get_by_role("link", name="Launches")).to_have_attribute(
        "aria-current", "page")
    no_sideways_scroll(page)
    check_page(page, f"logs-launches-{size}")

    # filter the refused launches
    page.get_by_label("Outcome").select_option("blocked")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="1 launch")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("learner_cap")
    check_page(page, f"logs-launches-blocked-{size}")

    # the player's errors, in the other tab
    tabs.get_by_role("link", name="Player errors").click()
    expect(page.get_by_role("heading", name="2 player errors")).to_be_visible()
    expect(page.locator("tbody")).to_contain_text(FORMULA)
    expect(page.locator("tbody")).to_contain_text("LMSCommit failed")
    no_sideways_scroll(page)
    check_page(page, f"logs-errors-{size}")

    # an export downloads the filtered rows
    page.get_by_label("Kind").select_option("lms")
    page.get_by_role("button", name="Show").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export as CSV (these errors)").click()
    text = download.value.path().read_text(encoding="utf-8")
    assert "LMSCommit failed" in text
    assert FORMULA not in text
    assert not errors, errors
    context.close()

"""The deployments pages in Chromium: accessible (axe: no serious or critical violations),
the promote and roll-back forms usable with the keyboard and their error summary, and
screenshots in test-artifacts/ for a human look."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from coursewright.delivery import deployments
from coursewright.delivery.models import Deployment
from tests.conftest import People
from tests.delivery.test_deployments import alice, bob, make_acme, serves
from tests.web.test_browser import check_page, signed_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def test_owner_promotes_and_rolls_back_in_the_browser(browser: Browser, live_server: Any,
                                                      people: People) -> None:
    # given v1 in production and v2 waiting in staging
    acme = make_acme(people)
    deployments.deploy_to_staging(acme.v1, actor=bob(people))
    first = deployments.promote(acme.course, actor=alice(people),
                                reason="First release for the spring cohort")
    deployments.deploy_to_staging(acme.v2, actor=bob(people), reason="Adds a fire drill")

    context = signed_in(browser, live_server, people.alice)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(f"/o/acme/courses/{acme.course.pk}/")
    page.get_by_role("link", name="Deployments").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Deployments")
    expect(page.locator("table tbody tr")).to_have_count(3)
    check_page(page, "deployments")

    # when Alice promotes without a reason, using the keyboard
    page.get_by_role("button", name="Promote version 2 to production").focus()
    page.keyboard.press("Enter")

    # then the error summary names the field and its link moves the focus there
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Give a reason")
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Reason for promoting")).to_be_focused()
    check_page(page, "deployments-promote-error")

    # and with a reason the promotion goes through
    page.get_by_label("Reason for promoting").fill("Fire drill approved by safety")
    page.get_by_role("button", name="Promote version 2 to production").click()
    expect(page.locator(".messages")).to_contain_text("Version 2 is promoted to production")
    expect(page.locator("table tbody tr")).to_have_count(4)
    assert serves(acme.course) == {"staging": 2, "production": 2}

    # when she rolls production back to the first release
    page.locator(f"#deployment-{first.pk}").get_by_role("link",
                                                        name="Roll back to this").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Roll back production to version 1")
    check_page(page, "deployments-rollback")
    page.get_by_role("button", name="Roll back production to version 1").click()
    expect(page.get_by_role("alert")).to_contain_text("Give a reason")
    page.get_by_label("Reason for rolling back").fill("Drill screen has a wrong exit map")
    page.get_by_role("button", name="Roll back production to version 1").click()

    # then production serves v1 again, and the history says who, from → to and why
    expect(page.locator(".messages")).to_contain_text("rolled back to version 1")
    latest = page.locator("table tbody tr").first
    expect(latest).to_contain_text("Rolled back")
    expect(latest).to_contain_text("Version 2 → Version 1")
    expect(latest).to_contain_text("alice@acme.test")
    expect(latest).to_contain_text("Drill screen has a wrong exit map")
    assert serves(acme.course) == {"staging": 2, "production": 1}
    assert Deployment.objects.count() == 5
    check_page(page, "deployments-after-rollback")
    assert not errors, errors
    context.close()


def test_author_and_reviewer_views(browser: Browser, live_server: Any,
                                   people: People) -> None:
    acme = make_acme(people)
    deployments.deploy_to_staging(acme.v1, actor=bob(people))

    author = signed_in(browser, live_server, people.bob, width=420)  # a narrow screen
    page = author.new_page()
    page.goto(f"/o/acme/courses/{acme.course.pk}/deployments/")
    expect(page.get_by_text("Only owners and admins can promote it")).to_be_visible()
    page.get_by_role("button", name="Deploy version 2 to staging").click()
    expect(page.locator(".messages")).to_contain_text("Version 2 is deployed to staging")
    check_page(page, "deployments-author-narrow")
    author.close()

    reviewer = signed_in(browser, live_server, people.rita)
    page = reviewer.new_page()
    page.goto(f"/o/acme/courses/{acme.course.pk}/deployments/")
    expect(page.get_by_role("button")).to_have_count(1)  # "Sign out" only
    check_page(page, "deployments-reviewer")
    reviewer.close()

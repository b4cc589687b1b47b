"""The webhooks page in Chromium, at desktop width and at 390 px: accessible (axe: no
serious or critical violations), usable from end to end — a refused URL first, then an
endpoint whose secret is shown once, a course event delivered to a receiver on
127.0.0.1 and signed with that secret, a failed delivery resent, a new secret — and kept
as screenshots in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from coursewright.audit.actor import Actor
from coursewright.courses.actions import create_course
from coursewright.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import content
from tests.web.test_browser import check_page, signed_in, watch_console
from tests.webhooks.conftest import Answer, Partner, serve_partner, signed_by

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "narrow": 390}



@pytest.fixture
def partner() -> Iterator[Partner]:
    yield from serve_partner()


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("size", list(WIDTHS))
def test_webhooks_page(browser: Browser, live_server: Any, people: People,
                       partner: Partner, size: str) -> None:
    context = signed_in(browser, live_server, people.alice, width=WIDTHS[size])
    page = context.new_page()
    errors = watch_console(page)

    # reached from the organisation's settings
    page.goto("/o/acme/settings/")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Webhooks")
    no_sideways_scroll(page)
    check_page(page, f"webhooks-empty-{size}")

    # a URL with credentials in it is refused, on its field
    page.get_by_label("URL", exact=True).fill("https://user:pw@partner.example/hooks")
    page.get_by_label("Description").fill("Partner production")
    page.get_by_role("button", name="Add the endpoint").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("credentials")
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("URL", exact=True)).to_be_focused()
    no_sideways_scroll(page)
    check_page(page, f"webhooks-error-{size}")

    # a good one: the secret is shown this once
    page.get_by_label("URL", exact=True).fill(partner.url)
    page.get_by_role("button", name="Add the endpoint").click()
    secret_box = page.get_by_label("Signing secret", exact=True)
    expect(secret_box).to_be_visible()
    secret = secret_box.input_value()
    assert secret == WebhookEndpoint.objects.get().secret
    no_sideways_scroll(page)
    check_page(page, f"webhooks-secret-{size}")

    # a course created: the event reaches the receiver, signed with that secret
    create_course(people.acme, content=content(), actor=Actor.person(people.bob))
    (hit,) = partner.hits
    assert signed_by(secret, hit)
    page.goto("/o/acme/webhooks/")
    expect(page.get_by_label("Signing secret", exact=True)).to_have_count(0)
    assert secret not in page.content()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("course.created")
    expect(row).to_contain_text("Delivered")

    # the receiver fails the next one; a resend gets it through
    partner.plan = [Answer(status=500, body=b"down for maintenance")]
    create_course(people.acme, content=content(), actor=Actor.person(people.bob))
    page.reload()
    failed = page.locator("tbody tr").first
    expect(failed).to_contain_text("Pending")
    expect(failed).to_contain_text("The receiver answered HTTP 500")
    no_sideways_scroll(page)
    check_page(page, f"webhooks-deliveries-{size}")
    failed.get_by_role("button", name="Resend").click()
    expect(page.locator(".messages")).to_contain_text("being sent again")
    expect(page.locator("tbody tr").first).to_contain_text("Delivered")
    assert len(partner.hits) == 3
    assert WebhookDelivery.objects.filter(state="delivered").count() == 2

    # a new secret, shown once; the old one still signs meanwhile
    card = page.locator("article", has=page.get_by_role("heading", name="Partner production"))
    card.get_by_text("New secret…").click()
    card.get_by_role("button", name="Make a new secret").click()
    new = page.get_by_label("Signing secret", exact=True).input_value()
    assert new not in ("", secret)
    expect(page.locator("article").first).to_contain_text("the previous one also signs")
    assert not errors, errors
    context.close()

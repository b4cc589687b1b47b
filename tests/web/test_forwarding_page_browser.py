"""The statement forwarding page in Chromium, at desktop width and at 390 px: accessible
(axe: no serious or critical violations), usable from end to end — add a target (a
refused URL first), send the stored statements to a receiving LRS on 127.0.0.1, see a
refused statement stop it, skip it — and kept as screenshots in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from coursewright.audit.actor import Actor
from coursewright.tracking.credentials import issue_credential
from coursewright.tracking.models import ForwardState, ForwardTarget
from tests.conftest import People
from tests.tracking.conftest import Lrs, statement
from tests.tracking.test_forwarding import Receiver, _serve
from tests.web.test_browser import check_page, signed_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "narrow": 390}



@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.XAPI_FORWARD_SETTLE_SECONDS = 0
    yield from _serve()


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("size", list(WIDTHS))
def test_forwarding_page(browser: Browser, live_server: Any, people: People,
                         receiver: Receiver, size: str) -> None:
    credential, secret = issue_credential(people.acme, name="Acme LMS", scopes=["all"],
                                          actor=Actor.person(people.alice))
    lrs = Lrs(credential.key, secret)
    context = signed_in(browser, live_server, people.alice, width=WIDTHS[size])
    page = context.new_page()
    errors = watch_console(page)

    # reached from the organisation's settings
    page.goto("/o/acme/settings/")
    page.get_by_role("link", name="Statement forwarding").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Statement forwarding")
    no_sideways_scroll(page)
    check_page(page, f"forwarding-empty-{size}")

    # a URL with credentials in it is refused, on its field
    page.get_by_label("Name").fill("Data warehouse")
    page.get_by_label("Endpoint").fill("https://user:pw@lrs.example/xapi/")
    page.get_by_label("Key (HTTP Basic)").fill("acme-fwd")
    page.get_by_label("Secret (HTTP Basic)").fill("pw-Heron-2231")
    page.get_by_role("button", name="Start forwarding").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("credentials")
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Endpoint")).to_be_focused()
    no_sideways_scroll(page)
    check_page(page, f"forwarding-error-{size}")

    # a good one starts forwarding
    page.get_by_label("Endpoint").fill(receiver.url)
    page.get_by_label("Secret (HTTP Basic)").fill("pw-Heron-2231")
    page.get_by_role("button", name="Start forwarding").click()
    expect(page.locator(".messages")).to_contain_text("are forwarded to")
    card = page.locator("article", has=page.get_by_role("heading", name="Data warehouse"))
    expect(card).to_contain_text("Forwarding")

    # statements arrive at the receiver when sent
    ids = lrs.store(statement(), statement())
    card.get_by_role("button", name="Send now").click()
    expect(card).to_contain_text("2 statements")
    assert receiver.ids == ids
    no_sideways_scroll(page)
    check_page(page, f"forwarding-delivered-{size}")

    # the receiver refuses the next one: forwarding stops there, and says why
    receiver.status = 400
    refused = lrs.store(statement())[0]
    card.get_by_role("button", name="Send now").click()
    expect(card).to_contain_text("Stopped: a statement was refused")
    expect(card).to_contain_text(refused)
    expect(card).not_to_contain_text("pw-Heron-2231")
    no_sideways_scroll(page)
    check_page(page, f"forwarding-refused-{size}")

    # skipping it goes on with the statements after it
    receiver.status = 200
    after = lrs.store(statement())[0]
    card.get_by_role("button", name="Skip the refused statement and resume").click()
    expect(page.locator(".messages")).to_contain_text("forwards again")
    expect(card).to_contain_text("3 statements")
    assert receiver.seen[-1].ids == [after]
    assert ForwardTarget.objects.get().state == ForwardState.ACTIVE
    assert not errors, errors
    context.close()

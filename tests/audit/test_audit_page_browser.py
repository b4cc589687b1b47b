"""The owners' audit log page in Chromium: accessible (axe) and readable."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import People
from tests.web.test_browser import check_page, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def test_owner_reads_and_filters_the_audit_log(browser: Browser, live_server: Any,
                                               people: People) -> None:
    context = signed_in(browser, live_server, people.alice)
    page = context.new_page()
    page.goto("/o/acme/audit/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Audit")
    expect(page.locator("table tbody tr").first).to_be_visible()
    assert page.locator("table tbody tr").count() >= 3  # org, memberships, keys
    check_page(page, "audit-log")
    context.close()

"""The embedding page in Chromium: reached from Settings, accessible (axe: no serious or
critical violations), a refused origin shown on its field, a good list saved; kept as
screenshots in test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from coursewright.embed.origins import registered_origins
from tests.conftest import People
from tests.web.test_browser import check_page, signed_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def test_the_embedding_page(browser: Browser, live_server: Any, people: People) -> None:
    context = signed_in(browser, live_server, people.alice)
    page = context.new_page()
    errors = watch_console(page)
    page.goto("/o/acme/settings/")
    page.get_by_role("link", name="Embedding").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Embedding")
    check_page(page, "embed-origins-empty")

    field = page.get_by_label("Origins allowed to embed")
    field.fill("https://partner.example\nhttp://partner.example")
    page.get_by_role("button", name="Save origins").click()
    expect(page.locator(".field")).to_contain_text("use https")
    check_page(page, "embed-origins-refused")
    assert registered_origins(people.acme) == []

    page.get_by_label("Origins allowed to embed").fill(
        "https://partner.example\nhttp://localhost:8001")
    page.get_by_role("button", name="Save origins").click()
    expect(page.locator(".messages")).to_contain_text("2 origins may embed your pages.")
    expect(page.locator("#origins-list")).to_contain_text("http://localhost:8001")
    check_page(page, "embed-origins-saved")
    assert registered_origins(people.acme) == ["https://partner.example",
                                               "http://localhost:8001"]
    assert not errors, errors
    context.close()

"""The interactive API reference at /api/v1/docs works offline under our strict CSP:
Swagger UI comes from this server (django-ninja's bundled static files), never a CDN."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import launch_chromium, save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_from_this_server(live_server: Any) -> None:
    with pytest.MonkeyPatch.context() as patch, launch_chromium() as browser:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        page = browser.new_page()
        requested: list[str] = []
        problems: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(f"{live_server.url}/api/v1/docs")

        expect(page.get_by_text("/api/v1/documents").first).to_be_visible(timeout=15_000)
        save_screenshot(page, "api-docs")
    foreign = [url for url in requested if not url.startswith(live_server.url)
               and not url.startswith("data:")]
    assert not foreign, foreign
    assert not problems, problems

"""content.js in Chromium: the play page renews its signed URLs at about half the TTL,
retries an image that failed once with a fresh URL, stops when the session ends, and
loads everything from the bucket's origin on S3 without a CSP violation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Route

from coursewright.audit.actor import Actor
from coursewright.delivery import licenses
from tests.conftest import People
from tests.delivery.test_content_fixtures import illustrated_course, launch
from tests.support.browser import save_screenshot
from tests.support.s3 import S3, s3  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IMAGE_LOADED = ("() => { const i = document.querySelector('figure img');"
                " return !!i && i.complete && i.naturalWidth > 0; }")



def test_the_page_renews_and_retries_a_failed_image(browser: Browser, live_server: Any,
                                                     settings: Any, people: People) -> None:
    # given a two-second TTL and a launched course with an image
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    settings.CONTENT_URL_TTL = 2
    live = illustrated_course(people.acme, people.bob)
    license, secret = launch(people, live)
    # and a network that drops the image's first request
    dropped: list[str] = []

    def drop_first(route: Route) -> None:
        if not dropped:
            dropped.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    problems: list[str] = []
    page = browser.new_page()
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.route("**/pub/*.png?*", drop_first)
    page.goto(f"{settings.BASE_URL}/launch/v1/play/{secret}/")
    # then the image is retried once with a fresh URL and shows
    page.wait_for_function("() => window.cwContent && window.cwContent.retried === 1")
    page.wait_for_function(IMAGE_LOADED)
    assert len(dropped) == 1
    # and the URLs are renewed about every second (half the TTL)
    page.wait_for_function("() => window.cwContent.renewals >= 3", timeout=8000)
    # and when the license is revoked, renewing stops
    licenses.revoke_license(license, actor=Actor.person(people.alice))
    page.wait_for_function("() => window.cwContent.ended === true", timeout=5000)
    assert problems == []
    page.close()


def test_on_s3_everything_loads_from_the_bucket(browser: Browser, live_server: Any,
                                               settings: Any, people: People,
                                               s3: S3) -> None:  # noqa: F811
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    live = illustrated_course(people.acme, people.bob)
    _, secret = launch(people, live)
    problems: list[str] = []
    loaded: list[str] = []
    page = browser.new_page()
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None)  # the favicon's 404; the files' statuses are checked below
    page.on("response", lambda r: loaded.append(f"{r.status} {r.url.split('?')[0]}"))
    page.goto(f"{settings.BASE_URL}/launch/v1/play/{secret}/")
    page.wait_for_selector("html[data-player-ready]")
    page.wait_for_function(IMAGE_LOADED)
    save_screenshot(page, "content-s3")
    from_bucket = [u for u in loaded if f"{s3.endpoint}/{s3.buckets['eu']}/" in u]
    assert len(from_bucket) == 3, loaded  # player.js, player.css, the image (noscript.css
    # is only for pages without script)
    assert all(u.startswith("200 ") for u in from_bucket), loaded
    assert problems == []  # no CSP violation, no script error
    page.close()

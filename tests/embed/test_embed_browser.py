"""The embedded editor and player in Chromium, end to end, with every cookie blocked.

The example partner app (``examples/partner``) is served on ``localhost``, the platform
(the live server) on ``127.0.0.1``: two sites, as in production. The browser profile
blocks all cookies (``profile.default_content_setting_values.cookies = 2``: what
"Block all cookies" in Chromium's settings writes), and the test checks that it does.

- The partner page frames the editor and signs its author in by ``postMessage``; the
  author creates a course from a brief, edits a screen and submits it. Switched to a
  reviewer, the same frame approves and publishes it. The partner then opens the player
  on the course with a one-time code in the address; the learner takes the course to
  the end. The partner page receives course.created, course.published,
  course.commenced and course.completed; the platform's records say the same, with the
  learner only as a hash. No response of the platform carried ``Set-Cookie``.
- A page on a third origin, not on the allow-list, cannot frame the pages.
- A token posted by a frame of another origin is ignored; one for another organisation
  is refused; the registered parent's is taken.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from playwright.sync_api import (
    BrowserContext,
    Frame,
    Page,
    Playwright,
    Response,
    sync_playwright,
)

from coursewright.audit.actor import Actor
from coursewright.courses.models import Course, CourseVersion, VersionState
from coursewright.delivery.models import Completion, LaunchProgress
from coursewright.embed.actions import subject_digest
from coursewright.embed.models import EmbedRefreshToken
from coursewright.embed.origins import set_origins
from tests.conftest import People
from tests.embed.helpers import mint
from tests.publishing.player_driver import READY, click_through
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO_ROOT,
    StaticServer,
    describe,
    run_axe,
    save_screenshot,
    serious,
    wait_for_db,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BRIEF = ("Why exits matter\nA blocked exit costs lives.\n\n"
         "Alarms\nRaise the alarm first, then leave by the nearest exit.")
EDITED_TITLE = "Exits save lives"
EDITED_TEXT = "Never block an exit, not even for a minute."


def partner_module() -> ModuleType:
    """``examples/partner/server.py``, imported from its file (it is not a package)."""
    path = REPO_ROOT / "examples" / "partner" / "server.py"
    spec = importlib.util.spec_from_file_location("coursewright_partner_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Playwright's sync API runs an asyncio loop in this thread, so Django would refuse
    # the test's own (plain, synchronous) ORM calls and the flush after each test.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as pw:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield pw


@pytest.fixture
def cookieless(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium whose profile blocks all cookies (first- and third-party)."""
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps(
        {"profile": {"default_content_setting_values": {"cookies": 2}}}), encoding="utf-8")
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
        viewport={"width": 1400, "height": 1000})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def platform_url(live_server: Any, settings: Any) -> str:
    url: str = live_server.url.replace("://localhost:", "://127.0.0.1:")
    settings.BASE_URL = url  # signed course-file URLs point at the live server
    return url


def watch(page: Page, platform: str, responses: list[Response], problems: list[str]) -> None:
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" else None)
    page.on("response", lambda r: responses.append(r) if r.url.startswith(platform) else None)


def frame_of(page: Page, selector: str) -> Frame:
    handle = page.wait_for_selector(selector, state="attached")
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


def events(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("() => window.partnerEvents || []")
    return found


def wait_for_event(page: Page, kind: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for event in events(page):
            if event.get("type") == kind:
                return event
        page.wait_for_timeout(200)
    raise AssertionError(f"the partner page never received {kind}: {events(page)}")


def assert_cookies_blocked(target: Page | Frame) -> None:
    """Script-side: a cookie written is not kept, and site storage is refused (with all
    cookies blocked Chromium refuses localStorage too). ``navigator.cookieEnabled`` is
    no witness: this Chromium answers true even with every cookie blocked."""
    blocked: dict[str, Any] = target.evaluate(
        """() => { document.cookie = 'probe=1; path=/';
                   let storage = 'allowed';
                   try { window.localStorage.setItem('probe', '1'); }
                   catch (e) { storage = e.name; }
                   return {cookie: document.cookie, storage: storage}; }""")
    assert blocked == {"cookie": "", "storage": "SecurityError"}, blocked


def assert_http_cookies_blocked(context: BrowserContext, tmp_path: Path) -> None:
    """HTTP-side: a Set-Cookie answer is not stored, and the next request sends none."""
    (tmp_path / "cookie-probe.html").write_text("<!doctype html><title>probe</title>",
                                                encoding="utf-8")
    with StaticServer(tmp_path, headers={"Set-Cookie": "probe=1; Path=/"}) as server:
        page = context.new_page()
        page.goto(f"{server.url}/cookie-probe.html")
        with page.expect_request(lambda r: r.url.endswith("/cookie-probe.html")) as second:
            page.reload()
        assert "cookie" not in second.value.all_headers()
        assert context.cookies() == []
        page.close()


def assert_no_set_cookie(responses: list[Response]) -> None:
    assert responses, "the browser fetched nothing from the platform"
    for response in responses:
        names = [h["name"].lower() for h in response.headers_array()]
        assert "set-cookie" not in names, response.url


def test_the_partner_app_embeds_the_editor_and_the_player_without_cookies(
        cookieless: BrowserContext, platform_url: str, people: People,
        tmp_path: Path) -> None:
    assert_http_cookies_blocked(cookieless, tmp_path)
    partner = partner_module()
    platform = partner.Platform(platform_url, people.acme_key)
    app = partner.PartnerApp(platform, port=0, quiet=True).start()
    try:
        # the partner registers its origin, as the example does when it starts
        assert platform.register_origin(app.origin) == [app.origin]
        responses: list[Response] = []
        problems: list[str] = []
        page = cookieless.new_page()
        watch(page, platform_url, responses, problems)
        page.goto(app.origin + "/")
        assert_cookies_blocked(page)

        # --- the author: a course from a brief, a screen edited, submitted -------------
        editor = frame_of(page, "#editor")
        editor.wait_for_selector("#cw-new:not([hidden])", timeout=20000)
        assert_cookies_blocked(editor)
        assert editor.evaluate("() => window.cwEmbed.state.via") == "message"
        editor.fill("#cw-new-title", "Fire safety")
        editor.fill("#cw-new-brief", BRIEF)
        editor.click("#cw-create")
        created = wait_for_event(page, "course.created")
        course = wait_for_db(lambda: Course.objects.filter(uid=created["course"]).first())
        assert (course.org_id, course.pk) == (people.acme.pk, created["course_id"])
        editor.wait_for_selector("#cw-note:has-text('Course created.')")
        save_screenshot(page, "embed-partner-editor")
        violations = serious(run_axe(editor))
        assert not violations, describe(violations)
        screen = editor.locator('form[data-screen="s1"]')
        screen.locator(".cw-screen-title").fill(EDITED_TITLE)
        screen.locator(".cw-screen-text").fill(EDITED_TEXT)
        screen.locator(".cw-save").click()
        editor.wait_for_selector("#cw-note:has-text('Screen 1 saved.')")
        editor.click("#cw-submit")
        editor.wait_for_selector("#cw-state:has-text('In review')")
        assert not editor.is_visible("#cw-approve")  # an author cannot approve

        # --- a reviewer in the same frame: approve and publish -------------------------
        page.select_option("#role", "reviewer")
        editor = frame_of(page, "#editor")
        editor.wait_for_selector("#cw-list:not([hidden])", timeout=20000)
        assert editor.evaluate("() => window.cwEmbed.state.scope") == "reviewer"
        assert not editor.is_visible("#cw-new")  # reviewers do not create courses
        editor.click(f'.cw-open[data-course="{course.pk}"]')
        editor.click("#cw-approve")
        editor.wait_for_selector("#cw-state:has-text('Approved')")
        editor.click("#cw-publish")
        published = wait_for_event(page, "course.published")
        assert published["course"] == str(course.uid)

        # --- the learner: the player, opened with a one-time code ----------------------
        player = frame_of(page, "#player")
        player.wait_for_selector("#cw-course:not([hidden])", timeout=20000)
        assert player.evaluate("() => window.cwEmbed.state.via") == "code"
        assert "code=" not in player.url  # dropped from the address at once
        assert_cookies_blocked(player)
        course_page = frame_of_frame(player, "#cw-course")
        course_page.wait_for_selector(READY, timeout=20000)
        assert course_page.locator(".cw-screen:not([hidden]) .cw-screen-title").inner_text() \
            == EDITED_TITLE
        commenced = wait_for_event(page, "course.commenced")
        assert commenced["course"] == str(course.uid)
        save_screenshot(page, "embed-partner-player")
        click_through(course_page, {})
        completed = wait_for_event(page, "course.completed")
        assert completed["course"] == str(course.uid)
        save_screenshot(page, "embed-partner-completed")

        # --- what the partner page heard, and what the platform recorded ---------------
        kinds = [e["type"] for e in events(page)]
        for kind in ("course.created", "course.published", "course.commenced",
                     "course.completed"):
            assert kinds.count(kind) == 1, kinds
        version = wait_for_db(lambda: CourseVersion.objects.filter(
            course=course, state=VersionState.PUBLISHED).first())
        assert version.content["screens"][0]["title"] == EDITED_TITLE
        assert version.content["screens"][0]["blocks"][0]["markdown"] == EDITED_TEXT
        assert version.approved_via == "api"
        row = wait_for_db(lambda: LaunchProgress.objects.filter(
            course=course, completion=Completion.COMPLETED).first())
        assert row.learner == subject_digest(people.acme, "demo-learner-1")
        assert row.license_id is None
        assert cookieless.cookies() == []
        assert_no_set_cookie(responses)
        assert not [p for p in problems if "coursewright" in p or "embed" in p], problems
    finally:
        app.stop()


def frame_of_frame(frame: Frame, selector: str) -> Frame:
    handle = frame.wait_for_selector(selector, state="attached")
    assert handle is not None
    inner = handle.content_frame()
    assert inner is not None
    return inner


HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title>
<script>window.got = []; addEventListener("message", e => window.got.push(e.data));</script>
</head><body><h1>Host</h1><iframe id="editor" title="Editor" width="800" height="400"
src="{src}"></iframe><iframe id="other" title="Other" width="300" height="100"></iframe>
</body></html>"""
SENDER_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sender</title></head><body>a frame of another origin</body></html>"""


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[StaticServer]:
    (tmp_path / "sender.html").write_text(SENDER_PAGE, encoding="utf-8")
    with StaticServer(tmp_path) as server:
        yield server


def framed_by(context: BrowserContext, url: str, platform_url: str) -> tuple[str, list[str],
                                                                            list[Any]]:
    """Open the host page ``url``: the framed page's address, the console's lines and the
    messages the host received."""
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(url)
    deadline = time.time() + 20
    while time.time() < deadline and not any("frame-ancestors" in c for c in console):
        page.wait_for_timeout(200)
    page.wait_for_timeout(1000)  # time for a message, had the page been shown
    framed = frame_of(page, "#editor").url
    got: list[Any] = page.evaluate("() => window.got")
    page.close()
    return framed, console, got


def test_a_page_from_an_origin_not_on_the_list_cannot_frame_the_pages(
        cookieless: BrowserContext, platform_url: str, people: People,
        sites: StaticServer, tmp_path: Path, courses: Any) -> None:
    # given Acme's list names some partner, but not the page's origin
    set_origins(people.acme, ["https://partner.example"], actor=Actor.person(people.alice))
    evil = sites.url.replace("://127.0.0.1:", "://localhost:")
    for name, src in (("editor", f"{platform_url}/embed/v1/editor/?org=acme"),
                      ("player", f"{platform_url}/embed/v1/player/{courses.acme.uid}/?org=acme")):
        (tmp_path / f"{name}.html").write_text(HOST_PAGE.format(src=src), encoding="utf-8")
        framed, console, got = framed_by(cookieless, f"{evil}/{name}.html", platform_url)
        # the frame never shows the page: Chromium blocked it on the CSP, and the page
        # said nothing to the host
        assert not framed.startswith(platform_url), framed
        assert any("frame-ancestors" in line for line in console), console
        assert got == []


def test_only_the_registered_parent_can_sign_the_page_in(
        cookieless: BrowserContext, platform_url: str, people: People,
        sites: StaticServer, tmp_path: Path) -> None:
    host = sites.url.replace("://127.0.0.1:", "://localhost:")  # registered
    other = sites.url  # http://127.0.0.1:<port>: same server, another origin
    set_origins(people.acme, [host], actor=Actor.person(people.alice))
    (tmp_path / "host.html").write_text(HOST_PAGE.format(
        src=f"{platform_url}/embed/v1/editor/?org=acme"), encoding="utf-8")
    # the shortest lifetime (60 s): the page refreshes a minute before expiry, i.e. soon
    acme = mint(people.acme_key, user="author-9", scope="author", courses="*", ttl=60)
    globex = mint(people.globex_key, user="author-9", scope="author", courses="*")
    responses: list[Response] = []
    problems: list[str] = []
    page = cookieless.new_page()
    watch(page, platform_url, responses, problems)
    page.goto(f"{host}/host.html")
    editor = frame_of(page, "#editor")
    editor.wait_for_selector("#cw-status:has-text('Waiting')")
    page.wait_for_function("() => window.got.length > 0")
    assert page.evaluate("() => window.got") == [{"type": "coursewright.ready",
                                                  "page": "editor"}]
    with page.expect_event("framenavigated",
                           predicate=lambda f: f.url.startswith(other)) as navigated:
        page.evaluate("src => { document.getElementById('other').src = src; }",
                      f"{other}/sender.html")
    sender: Frame = navigated.value
    sender.wait_for_load_state()

    def state() -> dict[str, Any]:
        found: dict[str, Any] = editor.evaluate("() => window.cwEmbed.state")
        return found

    # a valid Acme token, posted by a frame of an origin not on the list: ignored
    before = state()["ignored"]
    sender.evaluate("""token => parent.frames[0].postMessage(
        {type: 'coursewright.token', access_token: token.access_token,
         refresh_token: token.refresh_token}, '*')""", acme)
    editor.wait_for_function(f"() => window.cwEmbed.state.ignored >= {before + 1}")
    page.wait_for_timeout(500)  # time for a sign-in, had the message been taken
    assert state()["ignored"] == before + 1
    assert state()["authenticated"] is False
    assert editor.is_visible("#cw-status")
    assert not [r for r in responses if "/api/v1/courses" in r.url]
    # the registered parent posting a Globex token: not for this organisation
    page.evaluate("""token => document.getElementById('editor').contentWindow.postMessage(
        {type: 'coursewright.token', access_token: token.access_token,
         refresh_token: token.refresh_token}, '*')""", globex)
    editor.wait_for_selector("#cw-error:has-text('another organisation')")
    assert state()["authenticated"] is False
    # the registered parent with an Acme token: signed in
    page.evaluate("""token => document.getElementById('editor').contentWindow.postMessage(
        {type: 'coursewright.token', access_token: token.access_token,
         refresh_token: token.refresh_token}, '*')""", acme)
    editor.wait_for_selector("#cw-list:not([hidden])")
    assert state()["authenticated"] is True
    assert state()["posted"][0] == "coursewright.ready"
    # it refreshes the token before it expires (rotating the refresh token) and goes on
    editor.wait_for_function("() => window.cwEmbed.state.refreshes >= 1", timeout=20000)
    assert EmbedRefreshToken.objects.filter(
        token_hash=hashlib.sha256(acme["refresh_token"].encode()).hexdigest(),
        used_at__isnull=False).exists()
    status = editor.evaluate("() => window.cwEmbed.api('GET', 'courses').then(a => a.status)")
    assert status == 200
    assert_no_set_cookie(responses)

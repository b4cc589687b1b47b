"""Acceptance, in Chromium: our cmi5 package, served from another site (the LMS's
content host on ``localhost``), launched through our own cmi5 launch flow on the
platform (``127.0.0.1``). The learner takes the course and leaves through the exit
button; our LRS then holds, for the launch's registration and session id, launched
and satisfied from the launching system and initialized, completed, passed and
terminated from the AU, in an order the specification allows; every statement the
player sent passes an independent xAPI validator; a second POST to the fetch URL is
refused as section 8.2.3 says. The xAPI (TinCan) package is launched the same way with
TinCan parameters against our LRS."""

from __future__ import annotations

import io
import json
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page

from coursewright.audit.actor import Actor
from coursewright.cmi5.models import AuSession
from coursewright.publishing.actions import build_version_package
from coursewright.tracking.statements import parse_timestamp
from tests.cmi5.helpers import SESSION, licensed, live_course, stored, verbs
from tests.cmi5.xapi_validation import problems
from tests.conftest import People
from tests.publishing.player_driver import READY, click_through
from tests.support.browser import StaticServer, save_screenshot, wait_for_db
from tests.support.pii_scan import learner_pii_hits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANSWERS = {"q1": ["false"], "q2": ["true"]}
# the LMS identifies its learner by e-mail: the platform must keep only a pseudonym
LMS_LEARNER = "ada.lovelace@lms.example"



@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The LMS's content host, on another site than the platform."""
    (tmp_path / "done.html").write_text("<!DOCTYPE html><title>Back in the LMS</title>"
                                        "<h1>Back in the LMS</h1>", encoding="utf-8")
    with StaticServer(tmp_path) as server:
        yield server.url.replace("://127.0.0.1:", "://localhost:"), tmp_path


def _post(url: str, body: dict[str, Any] | None, origin: str) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "Origin": origin})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def _page(browser: Browser, sent: list[dict[str, Any]], errors: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def record(request: Any) -> None:
        if request.method == "POST" and "/statements" in request.url and request.post_data:
            body = json.loads(request.post_data)
            sent.extend(body if isinstance(body, list) else [body])

    page.on("request", record)
    return page




def _ordered(records: list[dict[str, Any]]) -> list[str]:
    """The verbs in timestamp order (how cmi5 orders statements)."""
    keyed = sorted(records, key=lambda s: parse_timestamp(s["timestamp"]))
    return verbs(keyed)


def test_our_cmi5_package_through_our_cmi5_launch(browser: Browser, live_server: Any,
                                                   settings: Any, people: People,
                                                   host: tuple[str, Path]) -> None:
    # given the platform on 127.0.0.1, a deployed course licensed to the LMS on localhost,
    # and the course's cmi5 package on the LMS's content host
    origin, root = host
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    live = live_course(people)
    _, token = licensed(people, live, allowed_origins=[origin])
    package = build_version_package(live.version, "cmi5")
    zipfile.ZipFile(io.BytesIO(package)).extractall(root / "pkg")
    assert (root / "pkg" / "cmi5.xml").is_file()

    # when the LMS launches it through our cmi5 launch flow
    answer = _post(settings.BASE_URL + "/cmi5/v1/launch", {
        "token": token, "course": str(live.course.uid), "learner": LMS_LEARNER,
        "au_url": f"{origin}/pkg/", "return_url": f"{origin}/done.html"}, origin)
    url = answer["launch"]["url"]
    registration = answer["launch"]["registration"]
    assert url.startswith(f"{origin}/pkg/index.html?")
    sent: list[dict[str, Any]] = []
    errors: list[str] = []
    page = _page(browser, sent, errors)
    page.goto(url)
    page.wait_for_selector(READY)
    assert page.evaluate("() => document.documentElement.dataset.playerReady") == "cmi5"
    # and the learner takes the course, then leaves through the exit button
    click_through(page, ANSWERS)
    page.wait_for_selector("#cw-results-body p")
    save_screenshot(page, "cmi5-results")
    wait_for_db(lambda: "satisfied" in verbs(stored(live.course.org, registration)))
    page.click("#cw-exit")
    page.wait_for_url(f"{origin}/done.html")

    # then our LRS holds the whole session, for this registration and session id
    records = wait_for_db(lambda: (lambda r: r if "terminated" in verbs(r) else None)(
        stored(live.course.org, registration)))
    session = wait_for_db(lambda: AuSession.objects.get(registration__registration=registration))
    cmi5_verbs = [v for v in verbs(records) if v != "answered"]
    assert sorted(cmi5_verbs) == sorted(["launched", "initialized", "completed", "passed",
                                         "satisfied", "terminated"])
    for record in records:
        assert record["context"]["registration"] == registration
        assert record["context"]["extensions"][SESSION] == str(session.session_id)
    # in an order the specification allows: launched before initialized, initialized
    # first and terminated last of the AU's, satisfied after what satisfied it
    order = [v for v in _ordered(records) if v != "answered"]
    assert order[0] == "launched"
    assert order[1] == "initialized"
    assert order[-1] == "terminated"
    assert order.index("satisfied") > max(order.index("completed"), order.index("passed"))
    by_verb = {verbs([r])[0]: r for r in records}
    authority = by_verb["launched"]["authority"]
    assert by_verb["satisfied"]["authority"] == authority  # both from the launching system
    assert by_verb["passed"]["result"]["success"] is True

    # and every statement the player sent (and the launching system's) is valid xAPI
    assert {verbs([s])[0] for s in sent} >= {"initialized", "completed", "passed",
                                              "terminated", "answered"}
    assert problems(sent) == []
    assert problems(records) == []
    # and a second POST to the fetch URL is refused as the specification requires
    fetch_url = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["fetch"]
    from urllib.parse import unquote

    again = _post(unquote(fetch_url), None, origin)
    assert again["error-code"] == "1"
    assert "auth-token" not in again
    assert errors == []
    page.close()
    # and no stored row, raw or decrypted, holds the e-mail the LMS knows the learner by
    assert learner_pii_hits(live.course.org, [LMS_LEARNER, "lovelace"]) == []


def test_our_xapi_package_with_a_tincan_launch(browser: Browser, live_server: Any,
                                                settings: Any, people: People,
                                                host: tuple[str, Path]) -> None:
    from coursewright.tracking.credentials import issue_credential
    from coursewright.tracking.models import Statement
    from coursewright.tracking.statements import open_statement

    origin, root = host
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    live = live_course(people)
    zipfile.ZipFile(io.BytesIO(build_version_package(live.version, "xapi"))).extractall(
        root / "tincan")
    credential, secret = issue_credential(people.acme, name="an LMS",
                                          actor=Actor.person(people.alice))
    import base64

    registration = str(uuid.uuid4())
    params = {
        "endpoint": settings.BASE_URL + "/xapi/",
        "auth": "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode(),
        # the TinCan launch format's arrays
        "actor": json.dumps({"name": ["Learner 42"], "account": [
            {"accountServiceHomePage": "https://lms.example.com", "accountName": "42"}]}),
        "registration": registration,
    }
    sent: list[dict[str, Any]] = []
    errors: list[str] = []
    page = _page(browser, sent, errors)
    page.goto(f"{origin}/tincan/index.html?{urlencode(params)}")
    page.wait_for_selector(READY)
    assert page.evaluate("() => document.documentElement.dataset.playerReady") == "xapi"
    click_through(page, ANSWERS)
    page.wait_for_selector("#cw-results-body p")

    def mine() -> list[dict[str, Any]]:
        rows = Statement.objects.filter(org=people.acme, registration=registration)
        return [open_statement(str(people.acme.key_id), r) for r in rows.order_by("stored")]

    wait_for_db(lambda: "passed" in verbs(mine()))
    page.goto("about:blank")  # leaving sends terminated
    records = wait_for_db(lambda: (lambda r: r if "terminated" in verbs(r) else None)(mine()))
    assert [v for v in _ordered(records) if v != "answered"] == [
        "initialized", "completed", "passed", "terminated"]
    activity = f"{settings.BASE_URL}/xapi/activities/courses/{live.course.uid}"
    for record in records:
        assert record["actor"]["account"] == {"homePage": "https://lms.example.com",
                                              "name": "42"}
    assert {r["object"]["id"] for r in records if verbs([r])[0] != "answered"} == {activity}
    assert problems(sent) == []
    assert errors == []
    page.close()


def test_one_au_per_module_satisfies_the_course_when_both_are_done(
        browser: Browser, live_server: Any, settings: Any, people: People,
        host: tuple[str, Path]) -> None:
    from coursewright.cmi5.models import Registration
    from coursewright.publishing.actions import activity_base

    origin, root = host
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    live = live_course(people)
    _, token = licensed(people, live, allowed_origins=[origin])
    package = build_version_package(live.version, "cmi5", cmi5_layout="module")
    zipfile.ZipFile(io.BytesIO(package)).extractall(root / "modules")
    base = activity_base(live.course)
    errors: list[str] = []
    sent: list[dict[str, Any]] = []
    registration = ""
    for screen, question in (("s2", "q2"), ("s1", "q1")):
        answer = _post(settings.BASE_URL + "/cmi5/v1/launch", {
            "token": token, "course": str(live.course.uid), "learner": "lms-learner-5",
            "au_url": f"{origin}/modules/", "layout": "module",
            "au": f"{base}/au/{screen}"}, origin)
        registration = answer["launch"]["registration"]
        page = _page(browser, sent, errors)
        page.goto(answer["launch"]["url"])
        page.wait_for_selector(READY)
        # only this module's screen (and the results) is in the course
        assert page.evaluate("() => document.querySelector('.cw-screen:not([hidden])')"
                             ".dataset.screenId") == screen
        assert page.locator("#cw-position").inner_text().endswith("1 of 1")
        click_through(page, {question: ANSWERS[question]})
        page.wait_for_selector("#cw-results-body p")
        wanted = 1 if screen == "s2" else 2
        wait_for_db(lambda r=registration, n=wanted: sum(
            v == "passed" for v in verbs(stored(live.course.org, r))) == n)
        page.goto("about:blank")
        page.close()
        done = wait_for_db(lambda r=registration: Registration.objects.get(registration=r))
        if screen == "s2":
            # one module of two: not satisfied yet
            assert done.satisfied_at is None
    records = wait_for_db(lambda: (lambda r: r if "satisfied" in verbs(r) else None)(
        stored(live.course.org, registration)))
    assert verbs(records).count("launched") == 2
    assert verbs(records).count("satisfied") == 1
    assert problems(sent) == []
    assert errors == []

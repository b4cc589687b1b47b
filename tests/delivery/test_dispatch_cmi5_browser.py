"""A cmi5 dispatch package in Chromium, end to end. The client is a cmi5 LMS — here our
own cmi5 launching system under a second license, serving the package from its content
host on ``localhost`` — that launches the package's AU (the launcher) with cmi5
parameters. The launcher asks the Gatekeeper with the actor's account name only, runs
the course from the platform (``127.0.0.1``) in its frame, and sends the cmi5
statements of the session to the LMS: launched and satisfied come from the LMS,
initialized, completed, passed and terminated from the launcher, with the LMS's
registration and session id; the platform's own records get the completion too."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from coursewright.cmi5.models import AuSession
from coursewright.delivery import dispatch
from coursewright.delivery.licenses import hash_learner
from coursewright.delivery.models import Completion, LaunchEvent, LaunchOutcome, LaunchProgress
from coursewright.tracking.statements import parse_timestamp
from tests.cmi5.helpers import SESSION, live_course, stored, verbs
from tests.cmi5.xapi_validation import problems
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import issue
from tests.publishing.player_driver import READY, click_through
from tests.support.browser import StaticServer, save_screenshot, wait_for_db
from tests.support.pii_scan import learner_pii_hits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ANSWERS = {"q1": ["false"], "q2": ["true"]}
LMS_LEARNER = "ada.lovelace@lms.example"  # an LMS that ids learners by e-mail



@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with StaticServer(tmp_path) as server:
        yield server.url.replace("://127.0.0.1:", "://localhost:"), tmp_path


def _post(url: str, body: dict[str, Any], origin: str) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Origin": origin})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())




def test_a_cmi5_lms_launches_the_dispatch_package(browser: Browser, live_server: Any,
                                                  settings: Any, people: People,
                                                  host: tuple[str, Path]) -> None:
    origin, root = host
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    live = live_course(people)
    # the license the dispatch package launches under, and the package on the LMS's host
    dispatch_license, dispatch_token = issue(people, [live.course], allowed_origins=[origin])
    package = dispatch.build_dispatch_package(dispatch_license, live.course, "cmi5",
                                              token=dispatch_token)
    zipfile.ZipFile(io.BytesIO(package)).extractall(root / "dispatch")
    # the cmi5 LMS: our launching system under another license
    _, lms_token = issue(people, [live.course], name="cmi5 LMS", allowed_origins=[origin])
    answer = _post(settings.BASE_URL + "/cmi5/v1/launch", {
        "token": lms_token, "course": str(live.course.uid), "learner": LMS_LEARNER,
        "au_url": f"{origin}/dispatch/launcher.html"}, origin)
    url, registration = answer["launch"]["url"], answer["launch"]["registration"]
    assert url.startswith(f"{origin}/dispatch/launcher.html?")
    actor_name = json.loads(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)[
        "actor"][0])["account"]["name"]

    sent: list[dict[str, Any]] = []
    errors: list[str] = []
    launches: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def record(request: Any) -> None:
        if request.method == "POST" and "/cmi5/v1/xapi/statements" in request.url:
            sent.extend(json.loads(request.post_data or "[]"))
        if request.method == "POST" and request.url.endswith("/launch/v1"):
            launches.append(request.post_data or "")

    page.on("request", record)
    page.goto(url)
    inner = page.wait_for_selector("#cw-frame:not([hidden])")
    assert inner is not None
    frame = inner.content_frame()
    assert frame is not None
    frame.wait_for_selector(READY)
    assert frame.url.startswith(settings.BASE_URL + "/launch/v1/play/")
    click_through(frame, ANSWERS)
    frame.wait_for_selector("#cw-results-body p")
    save_screenshot(page, "dispatch-cmi5-results")
    wait_for_db(lambda: "satisfied" in verbs(stored(live.course.org, registration)))
    page.goto("about:blank")  # the learner leaves: the launcher sends terminated
    records = wait_for_db(lambda: (lambda r: r if "terminated" in verbs(r) else None)(
        stored(live.course.org, registration)))

    # then the LMS has the session: its own launched and satisfied, the AU's statements
    ordered = verbs(sorted(records, key=lambda s: parse_timestamp(s["timestamp"])))
    assert ordered[:2] == ["launched", "initialized"]
    assert ordered[-1] == "terminated"
    assert sorted(ordered) == sorted(["launched", "initialized", "completed", "passed",
                                      "satisfied", "terminated"])
    session = wait_for_db(lambda: AuSession.objects.get(registration__registration=registration))
    for item in records:
        assert item["context"]["registration"] == registration
        assert item["context"]["extensions"][SESSION] == str(session.session_id)
    assert problems(sent) == []
    # and the Gatekeeper got the LMS actor's account name only, hashed per license
    assert [json.loads(b) for b in launches] == [{
        "token": dispatch_token, "course": str(live.course.uid), "learner": actor_name}]
    event = wait_for_db(lambda: LaunchEvent.objects.get(license=dispatch_license,
                                                      outcome=LaunchOutcome.LAUNCHED))
    assert event.learner == hash_learner(dispatch_license, actor_name)
    # and the platform's own records of the dispatch launch say completed (on SQLite the
    # live server's threads share one connection, so a report sent at the same moment as
    # a statement can be refused there: that run only asks that reports arrived)
    from django.db import connection

    wanted = ({"completion": Completion.COMPLETED} if connection.vendor == "postgresql"
              else {})
    wait_for_db(lambda: LaunchProgress.objects.filter(license=dispatch_license,
                                                    **wanted).exists())
    assert errors == []
    page.close()
    # and no stored row, raw or decrypted, holds the e-mail the LMS knows the learner by
    assert learner_pii_hits(live.course.org, [LMS_LEARNER, "lovelace"]) == []

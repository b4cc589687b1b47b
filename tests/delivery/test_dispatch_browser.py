"""Dispatch packages in Chromium, end to end: a client LMS (scorm-again) on another site
(``localhost``) than the platform (``127.0.0.1``) imports the thin package; the learner
takes the course, served by the platform inside the launcher; completion, score,
bookmark and suspend data land in the LMS runtime through the relay, and in the
platform's records. Then the license is revoked: the next launch shows the blocked page
and content URLs captured earlier stop working once their TTL has passed; reinstated, it
works again. The same for an expired license and for the learner cap."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Frame, Page

from coursewright.audit.actor import Actor
from coursewright.courses.content import CourseContent
from coursewright.delivery import dispatch, licenses
from coursewright.delivery.models import (
    Completion,
    LaunchEvent,
    LaunchOutcome,
    LaunchProgress,
    License,
    Success,
)
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import AI, deploy, issue
from tests.publishing.player_driver import READY, click_through, cmi
from tests.support.browser import (
    StaticServer,
    node_modules_mount,
    require_node_modules,
    save_screenshot,
    scorm_host_page,
)
from tests.support.pii_scan import learner_pii_hits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# the LMS identifies the learner by e-mail (some do): the platform must keep only a hash
LEARNER_ID = "ada.lovelace@lms.example"
LEARNER_NAME = "Lovelace, Ada"
ANSWERS = {"q1": ["false"], "q2": ["true"]}
SEEDS: dict[str, dict[str, Any]] = {
    "scorm12": {"cmi": {"core": {"student_id": LEARNER_ID, "student_name": LEARNER_NAME}}},
    "scorm2004": {"cmi": {"learner_id": LEARNER_ID, "learner_name": LEARNER_NAME}},
}


def course_content() -> CourseContent:
    return CourseContent.model_validate({"title": "Fire safety", "screens": [
        {"id": "s1", "title": "Exits", "blocks": [
            {"type": "text", "id": "b1", "markdown": "Never block the exits.",
             "provenance": AI},
            {"type": "true_false", "id": "q1", "prompt": "Exits may be blocked.",
             "answer": False, "provenance": AI}]},
        {"id": "s2", "title": "Alarms", "blocks": [
            {"type": "text", "id": "b2", "markdown": "Raise the alarm first.",
             "provenance": AI},
            {"type": "true_false", "id": "q2", "prompt": "The alarm comes first.",
             "answer": True, "provenance": AI}]}]})



@pytest.fixture
def lms(tmp_path: Path) -> Iterator[tuple[StaticServer, Path]]:
    require_node_modules("scorm-again")
    (tmp_path / "hosts").mkdir()
    with StaticServer(tmp_path, mounts=node_modules_mount()) as server:
        yield server, tmp_path


def lms_origin(server: StaticServer) -> str:
    return server.url.replace("://127.0.0.1:", "://localhost:")


def seed_for(fmt: str, learner: str) -> dict[str, Any]:
    if fmt == "scorm12":
        return {"cmi": {"core": {"student_id": learner, "student_name": LEARNER_NAME}}}
    return {"cmi": {"learner_id": learner, "learner_name": LEARNER_NAME}}


def open_in_lms(browser: Browser, server: StaticServer, root: Path, fmt: str,
                problems: list[str], launches: list[str] | None = None,
                learner: str = LEARNER_ID) -> Page:
    name = f"{uuid.uuid4().hex}.html"
    host = scorm_host_page(fmt, f"../{fmt}/launcher.html",  # type: ignore[arg-type]
                           seed=seed_for(fmt, learner))
    (root / "hosts" / name).write_text(host, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            and not r.url.endswith("/launch/v1") else None)
    if launches is not None:  # the bodies of launch requests the launcher sends
        page.on("request", lambda r: launches.append(r.post_data or "")
                if r.url.endswith("/launch/v1") and r.method == "POST" else None)
    page.goto(f"{lms_origin(server)}/hosts/{name}")
    return page


def course_frame(page: Page) -> Frame:
    """The frame the platform serves inside the launcher inside the LMS's SCO frame."""
    sco = page.wait_for_selector("#sco")
    assert sco is not None
    launcher = sco.content_frame()
    assert launcher is not None
    inner = launcher.wait_for_selector("#cw-frame:not([hidden])")
    assert inner is not None
    frame = inner.content_frame()
    assert frame is not None
    return frame


def content_url(frame: Frame) -> str:
    """A signed course-file URL the page holds now: the player script's, renewed just
    now the way the page's content.js renews it (the address it loaded may be older
    than the TTL on a slow machine)."""
    url: str = frame.evaluate("""async () => {
        const loaded = Array.from(document.scripts).map(s => s.src)
            .find(u => u.indexOf('/content/') >= 0) || '';
        const script = document.querySelector('script[data-ttl]');
        const session = /\\/launch\\/v1\\/play\\/([A-Za-z0-9_-]+)\\//.exec(location.pathname);
        if (!loaded || !script || !session) return loaded;
        const response = await fetch(new URL('renew', script.src).href, {
            method: 'POST', credentials: 'omit', cache: 'no-store',
            headers: {'X-Coursewright-Session': session[1]}});
        if (!response.ok) return loaded;
        const files = Object.values((await response.json()).files).map(String);
        return files.find(u => u.split('?')[0] === loaded.split('?')[0]) || loaded;
    }""")
    assert url, "the page loads no signed course file"
    return url


def fetch_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def wait_until_expired(url: str) -> None:
    expires = int(parse_qs(urlsplit(url).query)["e"][0])
    time.sleep(max(0.0, expires - time.time()) + 1.1)


def platform_record(license: License, *, completion: str, timeout: float = 10) -> LaunchProgress:
    """The platform's record of the license's latest attempt, once it says ``completion``
    (the relay reports with keepalive fetches, a moment after the LMS got the values)."""
    deadline = time.time() + timeout
    while True:
        row = LaunchProgress.objects.filter(license=license).order_by("-id").first()
        if row is not None and row.completion == completion:
            return row
        assert time.time() < deadline, f"no {completion} record: {row}"
        time.sleep(0.2)


def dispatched(people: People, server: StaticServer, root: Path,
               fmt: dispatch.DispatchFormat, **license_settings: Any) -> tuple[License, str]:
    """A deployed course, a license for the LMS on ``server``, its package imported."""
    from coursewright.courses import actions as course_actions
    from coursewright.courses.models import CourseVersion, VersionState

    version = course_actions.create_course(people.acme, content=course_content(),
                                           actor=Actor.person(people.bob))
    CourseVersion.objects.filter(pk=version.pk).update(state=VersionState.APPROVED)
    version.refresh_from_db()
    deploy(version)
    license, token = issue(people, [version.course], allowed_origins=[lms_origin(server)],
                           **license_settings)
    package = dispatch.build_dispatch_package(license, version.course, fmt, token=token)
    zipfile.ZipFile(io.BytesIO(package)).extractall(root / fmt)
    return license, token


@pytest.mark.parametrize("fmt", ["scorm12", "scorm2004"])
def test_a_learner_completes_a_dispatched_course_then_revocation_blocks(
        browser: Browser, live_server: Any, settings: Any, people: People,
        lms: tuple[StaticServer, Path], fmt: dispatch.DispatchFormat) -> None:
    # given the platform on 127.0.0.1 and the client LMS on localhost (another site)
    server, root = lms
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    settings.CONTENT_URL_TTL = 4  # seconds: signed course-file URLs stop working after it
    from coursewright.courses import actions as course_actions
    from coursewright.courses.models import CourseVersion, VersionState

    version = course_actions.create_course(people.acme, content=course_content(),
                                           actor=Actor.person(people.bob))
    CourseVersion.objects.filter(pk=version.pk).update(state=VersionState.APPROVED)
    version.refresh_from_db()
    deploy(version)
    license, token = issue(people, [version.course], allowed_origins=[lms_origin(server)])
    # and the LMS has imported the license's dispatch package
    package = dispatch.build_dispatch_package(license, version.course, fmt, token=token)
    zipfile.ZipFile(io.BytesIO(package)).extractall(root / fmt)

    # when a learner opens it and takes the course
    problems: list[str] = []
    launches: list[str] = []
    page = open_in_lms(browser, server, root, fmt, problems, launches)
    frame = course_frame(page)
    frame.wait_for_selector(READY)
    assert frame.url.startswith(settings.BASE_URL + "/launch/v1/play/")
    assert "cw-seed" not in frame.url  # the seed left the address at once
    assert frame.evaluate("() => document.documentElement.dataset.playerReady") == fmt
    click_through(frame, ANSWERS)
    frame.wait_for_selector("#cw-results-body p")
    page.wait_for_function(
        "() => Object.keys(window.lmsSet).some(k => k.indexOf('score.raw') >= 0)")
    save_screenshot(page, f"dispatch-{fmt}-results")

    # then completion, score, bookmark and suspend data are in the LMS runtime
    data = cmi(page, fmt)
    if fmt == "scorm12":
        core = data["core"]
        assert core["lesson_status"] == "passed"
        assert float(core["score"]["raw"]) == 100
        assert core["lesson_location"] == "~results"
    else:
        assert data["completion_status"] == "completed"
        assert data["success_status"] == "passed"
        assert float(data["score"]["raw"]) == 100
        assert float(data["score"]["scaled"]) == 1
        assert data["location"] == "~results"
    suspend = json.loads(data["suspend_data"])
    assert suspend["s"] == "11"
    interactions = data["interactions"]
    assert len(interactions.get("childArray", interactions)) == 2
    # and a message from any other window or origin is not relayed to the LMS
    status, method = (("cmi.core.lesson_status", "LMSSetValue") if fmt == "scorm12"
                      else ("cmi.completion_status", "SetValue"))
    page.evaluate("([m, k]) => document.getElementById('sco').contentWindow.postMessage("
                  "{cw: 'scorm', id: 1, method: m, args: [k, 'incomplete']}, '*')",
                  [method, status])
    page.wait_for_timeout(300)
    assert page.evaluate(f"() => window.lmsSet['{status}']") in ("passed", "completed")
    # and the platform got the LMS's opaque id only, hashed; never the name
    assert len(launches) == 1
    sent = json.loads(launches[0])
    assert sent == {"token": token, "course": str(version.course.uid), "learner": LEARNER_ID}
    event = LaunchEvent.objects.get(license=license, outcome=LaunchOutcome.LAUNCHED)
    assert event.learner == licenses.hash_learner(license, LEARNER_ID)
    assert event.origin == lms_origin(server)
    # and the platform's records have the completion and score, keyed to the hash only
    record = platform_record(license, completion=Completion.COMPLETED)
    assert (record.success, record.score, record.location) == (Success.PASSED, 1.0,
                                                               "~results")
    assert record.learner == event.learner
    captured = content_url(frame)
    assert fetch_status(captured) == 200

    # and when the LMS closes the SCO, the launcher finishes the LMS session
    finish = "LMSFinish" if fmt == "scorm12" else "Terminate"
    page.evaluate("() => { document.getElementById('sco').src = 'about:blank'; }")
    page.wait_for_function(f"() => window.lmsLog.includes('{finish}')")
    assert problems == []
    page.close()

    # when the license is revoked, the next launch shows the blocked page in place
    licenses.revoke_license(license, actor=Actor.person(people.alice))
    again = open_in_lms(browser, server, root, fmt, problems)
    blocked = course_frame(again)
    blocked.wait_for_selector("text=Access to this course has ended")
    assert "/launch/v1/blocked?reason=revoked" in blocked.url
    save_screenshot(again, f"dispatch-{fmt}-revoked")
    assert LaunchEvent.objects.filter(license=license, outcome=LaunchOutcome.BLOCKED,
                                      reason="revoked").count() == 1
    again.close()
    # and the content URL captured before stops working once its TTL has passed
    wait_until_expired(captured)
    assert fetch_status(captured) == 403

    # reinstated, it works again
    licenses.reinstate_license(license, actor=Actor.person(people.alice), reason="renewed")
    back = open_in_lms(browser, server, root, fmt, problems)
    course_frame(back).wait_for_selector(READY)
    assert problems == []
    back.close()
    # and after all of it, nothing the platform stores (raw or decrypted) holds the
    # learner's name or the e-mail the LMS identifies them by
    assert learner_pii_hits(license.org, [LEARNER_ID, LEARNER_NAME, "Lovelace"]) == []


@pytest.mark.parametrize(("fmt", "rule"), [("scorm2004", "expiry"), ("scorm12", "learner_cap")])
def test_expiry_and_the_learner_cap_block_the_next_launch(
        browser: Browser, live_server: Any, settings: Any, people: People,
        lms: tuple[StaticServer, Path], fmt: dispatch.DispatchFormat, rule: str) -> None:
    server, root = lms
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    settings.CONTENT_URL_TTL = 3
    license, _ = dispatched(people, server, root, fmt,
                            **({"max_learners": 1} if rule == "learner_cap" else {}))
    # a first learner launches and gets the course
    problems: list[str] = []
    first = open_in_lms(browser, server, root, fmt, problems, learner="lms-anna")
    frame = course_frame(first)
    frame.wait_for_selector(READY)
    captured = content_url(frame)
    first.close()
    alice = Actor.person(people.alice)

    if rule == "expiry":
        # time passes: the license's end date is behind us
        License.objects.filter(pk=license.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1))
        refused_learner, reason, text = "lms-anna", "expired", "Access to this course has expired"
    else:
        # a second learner would be one too many
        refused_learner, reason, text = ("lms-ben", "learner_cap",
                                         "reached the number of learners")
    blocked_page = open_in_lms(browser, server, root, fmt, [], learner=refused_learner)
    blocked = course_frame(blocked_page)
    blocked.wait_for_selector(f"text={text}")
    assert f"/launch/v1/blocked?reason={reason}" in blocked.url
    save_screenshot(blocked_page, f"dispatch-{fmt}-{reason}")
    blocked_page.close()
    assert LaunchEvent.objects.filter(license=license, reason=reason).count() == 1
    if rule == "expiry":
        # the content URLs handed out before stop once their TTL has passed
        wait_until_expired(captured)
        assert fetch_status(captured) == 403
        # extended, the same package launches again (the token carries no expiry)
        licenses.update_license(license, actor=alice,
                                expires_at=timezone.now() + timedelta(days=30))
        again_learner = "lms-anna"
    else:
        # the first learner may still launch; raising the cap lets the second one in
        anna = open_in_lms(browser, server, root, fmt, problems, learner="lms-anna")
        course_frame(anna).wait_for_selector(READY)
        anna.close()
        licenses.update_license(license, actor=alice, max_learners=2)
        again_learner = "lms-ben"
    again = open_in_lms(browser, server, root, fmt, problems, learner=again_learner)
    course_frame(again).wait_for_selector(READY)
    again.close()
    assert problems == []

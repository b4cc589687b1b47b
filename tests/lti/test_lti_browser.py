"""LTI 1.3 end to end in Chromium, driven by a platform we did not write
(``tests/support/lti_platform.py``: lti1p3platform, on ``localhost``; coursewright on
``127.0.0.1``, so the tool runs in a cross-site iframe as under a real LMS, without
third-party cookies).

An instructor deep-links a course (the platform accepts the signed response and makes a
graded resource link); a learner launches it from the platform's course page (OIDC login
with the platform's postMessage storage, id_token, the Gatekeeper), takes the course,
and the score arrives at the platform's line item through AGS. Then the license is
revoked: the next launch shows the refusal page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Frame, Page

from coursewright.audit.actor import Actor
from coursewright.delivery import licenses
from coursewright.delivery.models import Completion, LaunchProgress
from coursewright.lti import actions
from coursewright.lti.launch import launch_url, login_url
from coursewright.lti.models import GradeState, LtiLaunch
from tests.conftest import People
from tests.delivery.test_dispatch_browser import ANSWERS, course_content
from tests.delivery.test_licenses_fixtures import deploy, issue
from tests.publishing.player_driver import READY, click_through
from tests.support.browser import launch_chromium, save_screenshot
from tests.support.lti_platform import LEARNER, IndependentPlatform
from tests.support.pii_scan import learner_pii_hits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with pytest.MonkeyPatch.context() as patch, launch_chromium() as chromium:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield chromium


def _setup(people: People, live_server: Any, settings: Any) -> tuple[Any, Any, Any]:
    settings.BASE_URL = live_server.url.replace("://localhost:", "://127.0.0.1:")
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the platform is on this machine
    from coursewright.courses import actions as course_actions
    from coursewright.courses.models import CourseVersion, VersionState

    version = course_actions.create_course(people.acme, content=course_content(),
                                           actor=Actor.person(people.bob))
    CourseVersion.objects.filter(pk=version.pk).update(state=VersionState.APPROVED)
    version.refresh_from_db()
    deploy(version)
    license, _ = issue(people, [version.course])
    # registered first (its URLs name it), then told the platform's endpoints
    reg = actions.register_platform(
        people.acme, name="Independent LMS", issuer="https://pending.example",
        client_id="pending", deployment_ids=["pending"], jwks_url="https://pending.example/j",
        auth_url="https://pending.example/a", token_url="https://pending.example/t",
        license=license, actor=Actor.person(people.alice))
    return version, license, reg


def _connect(platform: IndependentPlatform, reg: Any, people: People) -> None:
    actions.update_registration(
        reg, issuer=platform.issuer, client_id=platform.client_id,
        deployment_ids=[platform.deployment_id], jwks_url=platform.jwks_url,
        auth_url=platform.auth_url, token_url=platform.token_url,
        actor=Actor.person(people.alice))


def _tool_frame(page: Page) -> Frame:
    handle = page.wait_for_selector("#lti-tool")
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


def _course_frame(page: Page) -> Frame:
    tool = _tool_frame(page)
    inner = tool.wait_for_selector("#cw-course:not([hidden])", timeout=15000)
    assert inner is not None
    frame = inner.content_frame()
    assert frame is not None
    return frame


def _watch(page: Page, problems: list[str]) -> None:
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None)


def _wait(predicate: Any, timeout: float = 15) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_deep_link_then_a_learner_completes_and_the_score_reaches_the_platform(
        browser: Browser, live_server: Any, settings: Any, people: People) -> None:
    version, license, reg = _setup(people, live_server, settings)
    with IndependentPlatform(tool_login_url=login_url(reg), tool_launch_url=launch_url(reg),
                             tool_jwks_url=settings.BASE_URL + "/lti/jwks.json") as lms:
        _connect(lms, reg, people)
        problems: list[str] = []

        # an instructor adds the course through deep linking
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        _watch(page, problems)
        page.goto(lms.deep_link_page_url())
        tool = _tool_frame(page)
        tool.wait_for_selector("text=Choose a course")
        assert "Fire safety" in tool.content()
        save_screenshot(page, "lti-deep-link-picker")
        tool.click("#cw-choose")
        _wait(lambda: lms.received_deep_links or lms.deep_link_errors)
        assert lms.deep_link_errors == []
        [item] = lms.received_deep_links
        assert item["type"] == "ltiResourceLink"
        assert item["custom"] == {"course": str(version.course.uid)}
        assert item["lineItem"]["scoreMaximum"] == 100
        assert lms.deep_link_responses[0][
            "https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "opaque-data-xyz"
        _tool_frame(page).wait_for_selector("text=item(s) added")
        save_screenshot(page, "lti-deep-link-accepted")
        page.close()
        [link] = lms.deep_linked_resources
        assert link.lineitem

        # a learner opens it from the platform's course page and takes the course
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        _watch(page, problems)
        page.goto(lms.launch_page_url(link.resource_link_id))
        frame = _course_frame(page)
        frame.wait_for_selector(READY)
        # the state came back through the platform's storage, never a cookie
        assert any(e["subject"] == "lti.get_data" and e["ok"] for e in lms.storage_events)
        click_through(frame, ANSWERS)
        frame.wait_for_selector("#cw-results-body p")
        page.wait_for_timeout(500)  # let the nested frames paint before the screenshot
        save_screenshot(page, "lti-learner-results")
        _wait(lambda: any(s.body.get("activityProgress") == "Completed" for s in lms.scores))
        final = [s for s in lms.scores if s.body["activityProgress"] == "Completed"][-1]
        assert final.lineitem == link.lineitem
        assert final.body["userId"] == LEARNER.id
        assert final.body["gradingProgress"] == "FullyGraded"
        assert (final.body["scoreGiven"], final.body["scoreMaximum"]) == (100, 100)
        assert lms.ags_errors == []
        assert lms.server_errors == []
        assert all(r.status == 200 for r in lms.token_requests)
        record = LaunchProgress.objects.get(license=license)
        assert record.completion == Completion.COMPLETED
        assert record.score == 1.0
        assert LtiLaunch.objects.get().grade_state == GradeState.SENT
        page.close()

        # revoked: the next launch is refused with a clear page in the platform's frame
        licenses.revoke_license(license, actor=Actor.person(people.alice))
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(lms.launch_page_url(link.resource_link_id))
        _tool_frame(page).wait_for_selector("text=Access to this course has ended")
        save_screenshot(page, "lti-revoked")
        page.close()
        assert problems == []

    # nothing the platform stores holds the learner's name, e-mail or picture
    assert learner_pii_hits(people.acme, [LEARNER.name, LEARNER.email, LEARNER.family_name,
                                          "ada-quillfeather.png"]) == []


def test_a_launch_without_platform_storage_falls_back_to_the_server_state(
        browser: Browser, live_server: Any, settings: Any, people: People) -> None:
    version, _, reg = _setup(people, live_server, settings)
    with IndependentPlatform(tool_login_url=login_url(reg), tool_launch_url=launch_url(reg),
                             tool_jwks_url=settings.BASE_URL + "/lti/jwks.json") as lms:
        _connect(lms, reg, people)
        page = browser.new_page()
        page.goto(lms.launch_page_url("unit-9", custom={"course": str(version.course.uid)},
                                      storage=False, login_method="POST"))
        _course_frame(page).wait_for_selector(READY)
        assert lms.storage_events == []
        page.close()

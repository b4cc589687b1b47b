"""Shared data for the logs and license page tests (no tests here).

``make_logs`` gives Acme a course live in production with two licenses and a history:
three launches through "Northwind Moodle" (the third refused: it allows two learners),
one through "Contoso LMS", and two errors the player reported in Northwind's first
session (a script error whose message is a spreadsheet formula, and a failed LMS call).
Globex gets a launch and an error of its own, which no Acme page or export may show.
"""

from __future__ import annotations

from dataclasses import dataclass

from coursewright.delivery import gatekeeper
from coursewright.delivery.models import LaunchSession, License, PlayerError
from coursewright.delivery.reports import record_player_error
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import ORIGIN, Live, deployed_course, issue

EVIL_ORIGIN = "https://elsewhere.example"  # allowed by no license
LEARNER_CAP_TEXT = "Your organisation has reached the number of learners it may have."
CONTOSO_ORIGIN = "https://contoso.example"
FORMULA = '=HYPERLINK("https://evil.example","Click")'
GLOBEX_MESSAGE = "Globex secret failure"


@dataclass
class Logs:
    live: Live
    northwind: License
    northwind_token: str
    contoso: License
    contoso_token: str
    session: LaunchSession
    script_error: PlayerError
    lms_error: PlayerError


def launch(token: str, live: Live, learner: str, origin: str) -> gatekeeper.LaunchDecision:
    return gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id=learner,
                             origin=origin)


def report(session: LaunchSession, kind: str, message: str, detail: str = "") -> PlayerError:
    error = record_player_error(session, kind, message, detail)
    assert error is not None
    return error


def make_logs(people: People) -> Logs:
    live = deployed_course(people.acme, people.bob)
    northwind, northwind_token = issue(people, [live.course], name="Northwind Moodle",
                                       allowed_origins=[ORIGIN], max_learners=2)
    contoso, contoso_token = issue(people, [live.course], name="Contoso LMS")
    assert launch(northwind_token, live, "learner-1", ORIGIN).allowed
    session = LaunchSession.objects.get(license=northwind)
    assert launch(northwind_token, live, "learner-2", ORIGIN).allowed
    assert launch(northwind_token, live, "learner-3", ORIGIN).reason == "learner_cap"
    assert launch(contoso_token, live, "learner-9", CONTOSO_ORIGIN).allowed
    script_error = report(session, "script", FORMULA, "player.js:12:5")
    lms_error = report(session, "lms", "LMSCommit failed", "LMSCommit -> 101")

    globex = deployed_course(people.globex, people.mallory, "Globex onboarding")
    _, globex_token = issue(people, [globex.course], name="Globex LMS")
    assert launch(globex_token, globex, "g-1", "https://globex.example").allowed
    report(LaunchSession.objects.get(course=globex.course), "script", GLOBEX_MESSAGE)
    return Logs(live, northwind, northwind_token, contoso, contoso_token, session,
                script_error, lms_error)

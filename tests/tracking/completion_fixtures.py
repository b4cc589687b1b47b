"""Shared data for the completion record tests (no tests here).

``make_world`` gives Acme a deployed two-screen course (screens "s1" Exits and "s2"
Alarms, two questions, passing score 80) on two licenses, and learners reaching it by
every route the platform knows, with hand-picked times so every figure can be worked
out by hand:

=========  ======  =========  ========================================================
learner    source  license    what happened
=========  ======  =========  ========================================================
A          launch  Northwind  attempt 1 stopped at s1 after 5 min (T0); attempt 2 a day
                              later: completed, passed, 0.9, 10 min
B          launch  Northwind  stopped at s2 after 2 min (T0 + 2 h)
C          launch  Northwind  SCORM 1.2 "failed", raw 45 (0.45), 20 min (T0 + 1 d 1 h)
H          launch  Contoso    stopped at s2 after 1 min (T0 + 3 d)
D          cmi5    Northwind  launched through ``/cmi5/v1/launch``: initialized,
                              completed, passed with 1.0, terminated 11 s later
E          xapi    (org)      TinCan statements with a registration: initialized,
                              completed PT1M, passed 0.75 PT1M30S, terminated PT2M, an
                              answer
F          xapi    Contoso    a third-party cmi5 LMS's "failed" 0.3, PT45S, with the
                              course's AU as grouping (its own activity id as object)
G          xapi    (org)      initialized, then completed — voided afterwards
=========  ======  =========  ========================================================

Noise that must not count: Erin's statement about another activity, and Globex's own
course with a launch and a statement about *Acme's* activity id in Globex's LRS.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from coursewright.audit.actor import Actor
from coursewright.cmi5.models import AuSession
from coursewright.delivery import gatekeeper
from coursewright.delivery.licenses import hash_learner
from coursewright.delivery.models import Completion, LaunchProgress, License
from coursewright.delivery.reports import record_progress
from coursewright.publishing.actions import activity_base
from coursewright.tracking.agents import AgentKeys
from coursewright.tracking.credentials import issue_credential
from tests.cmi5.helpers import ORIGIN, Au, launch, licensed, live_course
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import Live, issue
from tests.tracking.conftest import Lrs

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADL = "http://adlnet.gov/expapi/verbs/"
CMI5_LEARNER = "lms-learner-7"
ERIN = {"objectType": "Agent", "mbox": "mailto:erin@example.com"}
FRANK = {"objectType": "Agent", "mbox": "mailto:frank@example.com"}
GINA = {"objectType": "Agent", "mbox": "mailto:gina@example.com"}
OTHER_LMS_AU = "https://lms.other.example/cmi5/au/123"


@dataclass
class World:
    live: Live
    northwind: License
    northwind_token: str
    contoso: License
    contoso_token: str
    learners: dict[str, str]  # letter -> the record's learner id
    registration: str  # E's
    globex_live: Live


def lrs_for(people: People, org: Any, license: License | None = None) -> Lrs:
    owner = people.alice if org.pk == people.acme.pk else people.mallory
    credential, secret = issue_credential(org, name="LRS client", scopes=["all"],
                                          license=license, actor=Actor.person(owner))
    return Lrs(credential.key, secret)


def attempt(token: str, live: Live, learner: str, values: dict[str, str], *,
            start: datetime, minutes: int, fmt: str = "scorm2004",
            origin: str = ORIGIN) -> LaunchProgress:
    """A launch through the Gatekeeper and what its runtime reported (through
    ``delivery.reports.record_progress``), moved to ``start`` and lasting ``minutes``."""
    decision = gatekeeper.launch(token, course_uid=str(live.course.uid), learner_id=learner,
                                 origin=origin)
    assert decision.allowed, decision.reason
    session = gatekeeper.live_session(decision.session)
    assert session is not None
    row = record_progress(session, fmt, values)
    end = start + timedelta(minutes=minutes)
    LaunchProgress.objects.filter(pk=row.pk).update(
        created_at=start, updated_at=end,
        completed_at=end if row.completion == Completion.COMPLETED else None)
    row.refresh_from_db()
    return row


def statement(actor: dict[str, Any], verb: str, obj: str, *,
              result: dict[str, Any] | None = None,
              context: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": str(uuid.uuid4()), "actor": actor,
                            "verb": {"id": ADL + verb, "display": {"en-US": verb}},
                            "object": {"objectType": "Activity", "id": obj}}
    if result is not None:
        data["result"] = result
    if context is not None:
        data["context"] = context
    return data


def cmi5_session(token: str, live: Live) -> None:
    response = launch(token, live.course, learner=CMI5_LEARNER)
    assert response.status_code == 200, response.content
    au = Au(response.json()["launch"]["url"])
    au.start()
    for sent in (au.statement("initialized"),
                 au.statement("completed", result={"completion": True, "duration": "PT9S"},
                              moveon=True),
                 au.statement("passed", result={"success": True, "score": {"scaled": 1},
                                                "duration": "PT10S"},
                              moveon=True, mastery=0.8),
                 au.statement("terminated", result={"duration": "PT11S"})):
        answer = au.send(sent)
        assert answer.status_code == 200, answer.content
    session = AuSession.objects.get(registration__registration=au.params["registration"])
    AuSession.objects.filter(pk=session.pk).update(
        initialized_at=T0 + timedelta(days=2),
        terminated_at=T0 + timedelta(days=2, seconds=11))


def make_world(people: People) -> World:
    live = live_course(people)
    northwind, token = licensed(people, live, name="Northwind Moodle")
    contoso, contoso_token = issue(people, [live.course], name="Contoso LMS")
    base = activity_base(live.course)

    # launches (SCORM dispatch), each reported through delivery.reports
    attempt(token, live, "learner-a", {"cmi.completion_status": "incomplete",
                                       "cmi.location": "s1"}, start=T0, minutes=5)
    attempt(token, live, "learner-a", {"cmi.completion_status": "completed",
                                       "cmi.success_status": "passed",
                                       "cmi.score.scaled": "0.9", "cmi.location": "s2"},
            start=T0 + timedelta(days=1), minutes=10)
    attempt(token, live, "learner-b", {"cmi.completion_status": "incomplete",
                                       "cmi.location": "s2"},
            start=T0 + timedelta(hours=2), minutes=2)
    attempt(token, live, "learner-c", {"cmi.core.lesson_status": "failed",
                                       "cmi.core.score.raw": "45"},
            start=T0 + timedelta(days=1, hours=1), minutes=20, fmt="scorm12")
    attempt(contoso_token, live, "learner-h", {"cmi.completion_status": "incomplete",
                                               "cmi.location": "s2"},
            start=T0 + timedelta(days=3), minutes=1, origin="https://contoso.example")

    # cmi5 through the platform's launching system
    cmi5_session(token, live)

    # xAPI statements posted to /xapi/statements
    registration = str(uuid.uuid4())
    acme_lrs = lrs_for(people, people.acme)
    in_registration = {"registration": registration}
    acme_lrs.store(
        statement(ERIN, "initialized", base, context=in_registration),
        statement(ERIN, "completed", base, context=in_registration,
                  result={"completion": True, "duration": "PT1M"}),
        statement(ERIN, "passed", base, context=in_registration,
                  result={"success": True, "score": {"scaled": 0.75},
                          "duration": "PT1M30S"}),
        statement(ERIN, "answered", base + "/questions/q1", result={"success": True},
                  context={**in_registration,
                           "contextActivities": {"parent": [{"id": base}]}}),
        statement(ERIN, "terminated", base, context=in_registration,
                  result={"duration": "PT2M"}),
        statement(ERIN, "completed", "https://example.com/another-course",
                  result={"completion": True, "duration": "PT5H"}),
        statement(GINA, "initialized", base))
    gina_done = statement(GINA, "completed", base,
                          result={"completion": True, "duration": "PT30S"})
    acme_lrs.store(gina_done)
    acme_lrs.store({"actor": GINA, "verb": {"id": ADL + "voided"},
                    "object": {"objectType": "StatementRef", "id": gina_done["id"]}})
    lrs_for(people, people.acme, contoso).store(statement(
        FRANK, "failed", OTHER_LMS_AU,
        result={"success": False, "score": {"scaled": 0.3}, "duration": "PT45S"},
        context={"registration": str(uuid.uuid4()),
                 "contextActivities": {"grouping": [{"id": base + "/au"}]}}))

    # Globex: a course of its own, and a statement about Acme's activity in its LRS
    globex_live = live_course(people, people.globex)
    _, globex_token = issue(people, [globex_live.course], name="Globex LMS")
    attempt(globex_token, globex_live, "g-1", {"cmi.completion_status": "completed"},
            start=T0, minutes=3, origin="https://globex.example")
    lrs_for(people, people.globex).store(statement(
        ERIN, "completed", base, result={"completion": True, "duration": "PT1M"}))

    keys = AgentKeys(str(people.acme.key_id))
    learners = {
        "A": hash_learner(northwind, "learner-a"), "B": hash_learner(northwind, "learner-b"),
        "C": hash_learner(northwind, "learner-c"), "H": hash_learner(contoso, "learner-h"),
        "D": hash_learner(northwind, CMI5_LEARNER),
        "E": keys.hash(ERIN), "F": keys.hash(FRANK), "G": keys.hash(GINA),
    }
    return World(live, northwind, token, contoso, contoso_token, learners, registration,
                 globex_live)

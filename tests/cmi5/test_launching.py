"""The cmi5 launching system: launch URL, LMS.LaunchData, the launched statement, the
single-use fetch URL, the LMS listener's rules, "satisfied", and other organisations."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from coursewright.cmi5.models import AuSession, Registration
from coursewright.delivery.licenses import hash_learner
from coursewright.publishing.actions import activity_base
from coursewright.tracking.agents import learner_account
from tests.cmi5.helpers import (
    AU_URL,
    CMI5,
    LEARNER,
    MOVEON,
    ORIGIN,
    SESSION,
    Au,
    launch,
    licensed,
    live_course,
    stored,
    verbs,
)
from tests.conftest import People

pytestmark = pytest.mark.django_db


@pytest.fixture
def launched(people: People) -> tuple[Any, Any, Au]:
    live = live_course(people)
    license, token = licensed(people, live)
    response = launch(token, live.course)
    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    return live, license, Au(response.json()["launch"]["url"])


def test_the_launch_url_carries_the_cmi5_parameters(launched: tuple[Any, Any, Au],
                                                     settings: Any) -> None:
    live, license, au = launched
    # then the AU's URL is resolved against the package's address
    assert au.url.startswith(AU_URL + "index.html?")
    assert set(au.params) == {"endpoint", "fetch", "actor", "registration", "activityId"}
    assert au.params["endpoint"] == settings.BASE_URL + "/cmi5/v1/xapi/"
    assert au.params["fetch"].startswith(settings.BASE_URL + "/cmi5/v1/fetch/")
    # and the actor is an account named by the license's pseudonym: no LMS id, no name
    pseudonym = hash_learner(license, LEARNER)
    assert au.actor == learner_account(pseudonym)
    assert LEARNER not in au.url
    # and the activity id is ours, not the publisher's AU id
    publisher_au = activity_base(live.course) + "/au"
    assert au.params["activityId"] != publisher_au
    registration = Registration.objects.get(registration=au.params["registration"])
    assert registration.learner == pseudonym
    assert registration.structure == {"course": activity_base(live.course),
                                      "aus": {publisher_au: "CompletedAndPassed"}}


def test_launch_data_and_the_launched_statement(launched: tuple[Any, Any, Au]) -> None:
    live, _, au = launched
    au.start()
    session = AuSession.objects.get()
    publisher_au = activity_base(live.course) + "/au"
    assert au.launch_data == {
        "contextTemplate": {
            "contextActivities": {"grouping": [{"objectType": "Activity",
                                                "id": publisher_au}]},
            "extensions": {SESSION: str(session.session_id)}},
        "launchMode": "Normal", "launchMethod": "AnyWindow",
        "moveOn": "CompletedAndPassed", "masteryScore": 0.8}
    [statement] = stored(live.course.org, au.params["registration"])
    assert statement["verb"]["id"] == "http://adlnet.gov/expapi/verbs/launched"
    assert statement["object"]["id"] == au.params["activityId"]
    assert statement["actor"] == au.actor
    context = statement["context"]
    assert context["registration"] == au.params["registration"]
    assert context["contextActivities"]["category"] == [{"objectType": "Activity",
                                                         "id": CMI5}]
    assert context["contextActivities"]["grouping"][0]["id"] == publisher_au
    ext = "https://w3id.org/xapi/cmi5/context/extensions/"
    assert context["extensions"] == {
        ext + "sessionid": str(session.session_id), ext + "launchmode": "Normal",
        ext + "launchurl": AU_URL + "index.html", ext + "moveon": "CompletedAndPassed",
        ext + "masteryscore": 0.8}


def test_the_fetch_url_works_once(launched: tuple[Any, Any, Au]) -> None:
    _, _, au = launched
    first = au.fetch()
    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    assert set(first.json()) == {"auth-token"}
    # a second POST is refused as section 8.2.3 says: 200, JSON, error-code 1
    second = au.fetch()
    assert second.status_code == 200
    assert second["Content-Type"] == "application/json"
    assert second.json()["error-code"] == "1"
    assert second.json()["error-text"]
    # an unknown fetch URL is a security error; GET is not how it is used
    assert Client().post("/cmi5/v1/fetch/not-a-real-one").json()["error-code"] == "2"
    assert Client().get(urlsplit(au.params["fetch"]).path).status_code == 405


def test_an_expired_session_cannot_fetch(launched: tuple[Any, Any, Au]) -> None:
    from django.utils import timezone

    _, _, au = launched
    AuSession.objects.update(expires_at=timezone.now())
    assert au.fetch().json()["error-code"] == "1"


def test_the_auth_token_opens_the_listener_only(launched: tuple[Any, Any, Au]) -> None:
    _, _, au = launched
    au.start()
    # the token is no LRS credential: /xapi/ refuses it
    direct = Client().get("/xapi/statements", headers=au.headers())
    assert direct.status_code == 401
    # no token, a wrong token: 401 from the listener, with CORS so the AU can read it
    for token in ("", "Y21pNTpub3BlCg=="):
        refused = au.state_get("LMS.LaunchData") if token == "x" else Client().get(
            au.path("activities/state?" + au.state_query("LMS.LaunchData")),
            headers=au.headers(token))
        assert refused.status_code == 401
        assert refused["Access-Control-Allow-Origin"] == "*"


def test_the_au_cannot_change_launch_data_or_read_others(launched: tuple[Any, Any, Au]
                                                         ) -> None:
    _, _, au = launched
    au.start()
    assert au.state_put("LMS.LaunchData", {"launchMode": "Review"}).status_code == 403
    # its own documents are fine
    assert au.state_put("coursewright.player", {"v": 1}).status_code == 204
    assert au.state_get("coursewright.player").json() == {"v": 1}
    # another learner's state, or statements beyond its registration: refused
    other = json.dumps(learner_account("someone-else"))
    query = au.state_query("coursewright.player").replace(
        "agent=", "agent=" + "x").split("&")
    del query
    response = au.client.get(au.path("activities/state"), {
        "activityId": au.params["activityId"], "agent": other,
        "registration": au.params["registration"], "stateId": "coursewright.player"},
        headers=au.headers())
    assert response.status_code == 403
    assert au.client.get(au.path("statements"), headers=au.headers()).status_code == 403
    mine = au.client.get(au.path("statements"), {
        "registration": au.params["registration"], "agent": json.dumps(au.actor)},
        headers=au.headers())
    assert mine.status_code == 200


def test_a_whole_session_is_recorded_and_satisfies_the_course(
        launched: tuple[Any, Any, Au]) -> None:
    live, _, au = launched
    au.start()
    # before initialized nothing else is accepted
    early = au.send(au.statement("completed", result={"completion": True,
                                                      "duration": "PT1S"}, moveon=True))
    assert early.status_code == 403
    assert au.send(au.statement("initialized")).status_code == 200
    assert au.send(au.statement("initialized")).status_code == 403  # not twice
    assert au.send(au.statement("completed", result={"completion": True, "duration": "PT9S"},
                                moveon=True)).status_code == 200
    # a passed below the mastery score, or without its extension, is refused
    low = au.statement("passed", result={"success": True, "score": {"scaled": 0.5},
                                         "duration": "PT9S"}, moveon=True, mastery=0.8)
    assert au.send(low).status_code == 403
    bare = au.statement("passed", result={"success": True, "score": {"scaled": 1},
                                          "duration": "PT9S"}, moveon=True)
    assert au.send(bare).status_code == 403
    passed = au.statement("passed", result={"success": True, "score": {"scaled": 1},
                                            "duration": "PT10S"}, moveon=True, mastery=0.8)
    assert au.send(passed).status_code == 200
    # a "cmi5 allowed" statement between initialized and terminated is fine
    allowed = au.statement("answered", result={"success": True}, allowed=True)
    assert au.send(allowed).status_code == 200
    assert au.send(au.statement("terminated", result={"duration": "PT11S"})).status_code == 200
    records = stored(live.course.org, au.params["registration"])
    assert verbs(records) == ["launched", "initialized", "completed", "passed", "satisfied",
                              "answered", "terminated"]
    session_id = str(AuSession.objects.get().session_id)
    for record in records:
        assert record["context"]["registration"] == au.params["registration"]
        assert record["context"]["extensions"][SESSION] == session_id
    satisfied = records[4]
    assert satisfied["object"]["definition"]["type"] == (
        "https://w3id.org/xapi/cmi5/activitytype/course")
    assert satisfied["object"]["id"] != activity_base(live.course)
    assert satisfied["context"]["contextActivities"]["grouping"][0]["id"] == (
        activity_base(live.course))
    assert MOVEON in [c["id"] for c in records[2]["context"]["contextActivities"]["category"]]
    assert Registration.objects.get().satisfied_at is not None


def test_a_statement_for_someone_else_is_refused(launched: tuple[Any, Any, Au]) -> None:
    _, _, au = launched
    au.start()
    au.send(au.statement("initialized"))
    forged = au.statement("answered", allowed=True)
    forged["actor"] = learner_account("another-pseudonym")
    assert au.send(forged).status_code == 403
    voiding = au.statement("answered", allowed=True)
    voiding["verb"] = {"id": "http://adlnet.gov/expapi/verbs/voided"}
    voiding["object"] = {"objectType": "StatementRef", "id": voiding["id"]}
    assert au.send(voiding).status_code == 403
    lms_verb = au.statement("satisfied")
    lms_verb["verb"] = {"id": "https://w3id.org/xapi/adl/verbs/satisfied"}
    assert au.send(lms_verb).status_code == 403


def test_browse_mode_allows_only_initialized_and_terminated(people: People) -> None:
    live = live_course(people)
    _, token = licensed(people, live)
    au = Au(launch(token, live.course, launch_mode="Browse",
                   return_url="https://lms.example.com/home").json()["launch"]["url"])
    au.start()
    assert au.launch_data["launchMode"] == "Browse"
    assert au.launch_data["returnURL"] == "https://lms.example.com/home"
    assert au.send(au.statement("initialized")).status_code == 200
    completed = au.statement("completed", result={"completion": True, "duration": "PT1S"},
                             moveon=True)
    assert au.send(completed).status_code == 403


def test_one_au_per_module(people: People) -> None:
    live = live_course(people)
    _, token = licensed(people, live)
    base = activity_base(live.course)
    response = launch(token, live.course, layout="module", au=base + "/au/s2")
    assert response.status_code == 200, response.content
    au = Au(response.json()["launch"]["url"])
    assert au.url.startswith(AU_URL + "index.html?module=s2&")
    assert Registration.objects.get().structure["aus"] == {
        base + "/au/s1": "CompletedAndPassed", base + "/au/s2": "CompletedAndPassed"}
    # an AU the structure does not have is refused
    assert launch(token, live.course, layout="module", au=base + "/au/nope").status_code == 400


def test_launch_refusals(people: People) -> None:
    live = live_course(people)
    license, token = licensed(people, live)
    # no learner: cmi5 needs an actor
    assert launch(token, live.course, learner="").status_code == 400
    # a package on a site the license does not allow
    elsewhere = launch(token, live.course, au_url="https://evil.example/pkg/")
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["code"] == "au_origin_not_allowed"
    # the Gatekeeper's refusals come through with its reason
    from coursewright.audit.actor import Actor
    from coursewright.delivery.licenses import revoke_license

    revoke_license(license, actor=Actor.person(people.alice))
    refused = launch(token, live.course)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "revoked"


def test_it_rejects_other_org(people: People) -> None:
    # given Acme's course and license, and Globex's own license
    acme = live_course(people)
    _, acme_token = licensed(people, acme)
    globex = live_course(people, people.globex)
    _, globex_token = licensed(people, globex)
    # Globex's license cannot launch Acme's course
    refused = launch(globex_token, acme.course)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "wrong_course"
    # and a Globex session's token reads nothing of an Acme session
    acme_au = Au(launch(acme_token, acme.course).json()["launch"]["url"])
    acme_au.start()
    globex_au = Au(launch(globex_token, globex.course).json()["launch"]["url"])
    globex_au.start()
    peek = globex_au.client.get(acme_au.path("activities/state?" + acme_au.state_query(
        "LMS.LaunchData")), headers=globex_au.headers())
    assert peek.status_code == 403
    statements = globex_au.client.get(acme_au.path("statements"), {
        "registration": acme_au.params["registration"], "agent": json.dumps(acme_au.actor)},
        headers=globex_au.headers())
    assert statements.status_code == 403

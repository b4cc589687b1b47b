"""Regressions found by running the ADL LRS conformance suite (1.0.3 battery) against the
LRS: each test states the specification requirement it checks (xAPI 1.0.3 Data / Comm.
sections), written from the specification text, not from the suite's code."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.tracking.conftest import Lrs, new_id, statement

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
AGENT = {"objectType": "Agent", "account": {"homePage": "http://www.example.com",
                                            "name": "alice"}}
ACTIVITY = "http://www.example.com/activities/conformance"


def with_duration(duration: str) -> dict[str, Any]:
    return statement(result={"duration": duration})


# --- Data 4.6: ISO 8601:2004 4.4.3.2 durations; weeks cannot be combined -------------------


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
@pytest.mark.parametrize("duration", ["P4W", "P1.5W", "PT1H0M0S", "P3Y1M29DT4H35M59.14S"])
def test_durations_in_the_iso_8601_format_are_accepted(lrs: Lrs, version: str,
                                                       duration: str) -> None:
    lrs.version = version
    assert lrs.post("statements", with_duration(duration)).status_code == 200


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
@pytest.mark.parametrize("duration", ["P4W1D", "P1Y2W", "P2WT1H", "PW"])
def test_weeks_combined_with_other_units_are_refused(lrs: Lrs, version: str,
                                                     duration: str) -> None:
    # the specification's own example: "weeks cannot be combined ... 'P4W1D' is not valid"
    lrs.version = version
    response = lrs.post("statements", with_duration(duration))
    assert response.status_code == 400
    assert b"duration" in response.content


# --- Data 2.2.s4.b1.b4 / 4.2: language map keys are RFC 5646 language tags ------------------


def choice_activity(description: dict[str, str]) -> dict[str, Any]:
    return {"objectType": "Activity", "id": ACTIVITY, "definition": {
        "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
        "interactionType": "choice", "correctResponsesPattern": ["golf"],
        "choices": [{"id": "golf", "description": description}]}}


def test_a_reserved_four_letter_language_subtag_is_not_a_language_tag(lrs: Lrs) -> None:
    # RFC 5646 2.2.1: four-letter primary language subtags are reserved, never valid
    bad = choice_activity({"en-US": "Golf Example", "test": "value"})
    assert lrs.post("statements", statement(object=bad)).status_code == 400
    nested = statement(object={"objectType": "SubStatement", "actor": AGENT,
                               "verb": {"id": "http://adlnet.gov/expapi/verbs/reported"},
                               "object": bad})
    assert lrs.post("statements", nested).status_code == 400
    named = statement(object={"id": ACTIVITY, "definition": {"name": {"abcd": "x"}}})
    assert lrs.post("statements", named).status_code == 400
    assert lrs.post("statements", statement(context={"language": "test"})).status_code == 400


def test_ordinary_language_tags_are_still_accepted(lrs: Lrs) -> None:
    good = choice_activity({"en-US": "Golf", "tlh": "x", "zh-Hant-TW": "y", "es-419": "z",
                            "i-klingon": "w", "x-private": "v"})
    assert lrs.post("statements", statement(object=good)).status_code == 200


# --- Communication 1.3.s3.b7: the alternate syntax's form parameters are the headers ---------


def alternate_put(lrs: Lrs, form: dict[str, str], **kw: Any) -> Any:
    return lrs.request("POST", "statements", {"method": "PUT"},
                       raw=urlencode(form).encode(), content_type=FORM, **kw)


def test_an_unsupported_version_in_the_form_is_refused_despite_the_real_header(
        lrs: Lrs) -> None:
    statement_id = new_id()
    response = alternate_put(lrs, {"statementId": statement_id,
                                   "X-Experience-API-Version": "0.8",
                                   "content": json.dumps(statement())})
    assert response.status_code == 400
    assert lrs.get("statements", {"statementId": statement_id}).status_code == 404


def test_the_form_version_decides_over_the_real_header(lrs2: Lrs) -> None:
    # a 2.0.0 header alone would refuse the alternate syntax; the form says 1.0.3
    response = alternate_put(lrs2, {"statementId": new_id(),
                                    "X-Experience-API-Version": "1.0.3",
                                    "content": json.dumps(statement())})
    assert response.status_code == 204


def test_the_form_authorization_decides_over_the_real_header(lrs: Lrs,
                                                             globex_lrs: Lrs) -> None:
    statement_id = new_id()
    response = alternate_put(lrs, {"statementId": statement_id,
                                   "Authorization": globex_lrs.headers()["Authorization"],
                                   "content": json.dumps(statement())})
    assert response.status_code == 204
    # stored for Globex (the form's credential), unreachable for Acme (the header's)
    assert lrs.get("statements", {"statementId": statement_id}).status_code == 404
    assert globex_lrs.get("statements", {"statementId": statement_id}).status_code == 200


# --- Communication 2.1.3 format=ids: only the minimum that identifies an activity -----------


def test_format_ids_gives_activities_as_their_id_alone(lrs: Lrs) -> None:
    activity = {"objectType": "Activity", "id": ACTIVITY,
                "definition": {"name": {"en-US": "Conformance"}}}
    sub = {"objectType": "SubStatement", "actor": AGENT,
           "verb": {"id": "http://adlnet.gov/expapi/verbs/reported"}, "object": activity}
    context = {"contextActivities": {"parent": [activity]}}
    top, nested = lrs.store(statement(object=activity, context=context),
                            statement(object=sub))
    got = lrs.get("statements", {"statementId": top, "format": "ids"}).json()
    assert got["object"] == {"id": ACTIVITY}
    assert got["context"]["contextActivities"]["parent"] == [{"id": ACTIVITY}]
    got = lrs.get("statements", {"statementId": nested, "format": "ids"}).json()
    assert got["object"]["object"] == {"id": ACTIVITY}
    assert got["object"]["objectType"] == "SubStatement"
    # exact keeps what was sent
    exact = lrs.get("statements", {"statementId": nested}).json()
    assert exact["object"]["object"] == activity


# --- Communication 3.1.s3.b1: a PUT to a profile names its precondition ---------------------


PROFILES = [("activities/profile", lambda: {"activityId": ACTIVITY, "profileId": new_id()}),
            ("agents/profile", lambda: {"agent": AGENT, "profileId": new_id()})]


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
@pytest.mark.parametrize(("path", "params"), PROFILES)
def test_a_profile_put_without_if_match_or_if_none_match_is_400(
        lrs: Lrs, version: str, path: str, params: Any) -> None:
    lrs.version = version
    where = params()
    response = lrs.put(path, {"name": "Alice"}, where)
    assert response.status_code == 400
    assert b"If-None-Match" in response.content  # it says what to send
    assert lrs.get(path, where).status_code == 404  # nothing was stored
    assert lrs.put(path, {"name": "Alice"}, where,
                   headers={"If-None-Match": "*"}).status_code == 204
    # an existing profile still answers a blind PUT with 409, and keeps its content
    assert lrs.put(path, {"name": "Bob"}, where).status_code == 409
    assert lrs.get(path, where).json() == {"name": "Alice"}


@pytest.mark.parametrize(("path", "params"), PROFILES)
def test_a_profile_post_without_preconditions_still_creates(lrs: Lrs, path: str,
                                                            params: Any) -> None:
    where = params()
    assert lrs.post(path, {"name": "Alice"}, where).status_code == 204
    assert lrs.get(path, where).json() == {"name": "Alice"}


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_a_new_state_document_needs_no_precondition(lrs: Lrs, version: str) -> None:
    # the state resource "will permit PUT ... without concurrency headers" (3.1.s3)
    lrs.version = version
    where = {"activityId": ACTIVITY, "agent": AGENT, "stateId": new_id()}
    assert lrs.put("activities/state", {"page": 1}, where).status_code == 204

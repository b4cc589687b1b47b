"""The document resources (state, activity profile, agent profile) and their ETag
concurrency rules, as xAPI 1.0.3 and 2.0 differ on them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.tracking.conftest import Lrs, new_id

pytestmark = pytest.mark.django_db

AGENT = {"objectType": "Agent", "account": {"homePage": "http://www.example.com/agentId/1",
                                            "name": "Rick James"}}
ACTIVITY = "http://www.example.com/activityId/hashset"


def state(**extra: Any) -> dict[str, Any]:
    return {"activityId": ACTIVITY, "agent": AGENT, "stateId": new_id(), **extra}


def activity_profile() -> dict[str, Any]:
    return {"activityId": ACTIVITY, "profileId": new_id()}


def agent_profile() -> dict[str, Any]:
    return {"agent": AGENT, "profileId": new_id()}


RESOURCES = [("activities/state", state), ("activities/profile", activity_profile),
             ("agents/profile", agent_profile)]


@pytest.mark.parametrize(("path", "params"), RESOURCES)
def test_put_get_delete_round_trip_with_etag(lrs: Lrs, path: str, params: Any) -> None:
    where = params()
    document = {"name": "doc", "location": {"name": "here"}}
    put = lrs.put(path, document, where, headers={"If-None-Match": "*"})
    assert put.status_code == 204
    got = lrs.get(path, where)
    assert got.status_code == 200
    assert got.json() == document
    assert got["Content-Type"] == "application/json"
    digest = hashlib.sha1(got.content, usedforsecurity=False).hexdigest()
    assert got["ETag"] == f'"{digest}"' == put["ETag"]
    assert got["Last-Modified"].endswith("GMT")
    assert lrs.request("HEAD", path, where).content == b""
    assert lrs.delete(path, where, headers={"If-Match": got["ETag"]}).status_code == 204
    assert lrs.get(path, where).status_code == 404


@pytest.mark.parametrize(("path", "params"), RESOURCES)
def test_post_merges_json_objects(lrs: Lrs, path: str, params: Any) -> None:
    where = params()
    assert lrs.post(path, {"car": "Honda", "series": {"a": 1}}, where).status_code == 204
    assert lrs.post(path, {"type": "Civic", "series": {"b": 2}}, where).status_code == 204
    assert lrs.get(path, where).json() == {"car": "Honda", "type": "Civic",
                                           "series": {"b": 2}}


@pytest.mark.parametrize(("path", "params"), RESOURCES)
def test_post_onto_a_non_json_document_is_400(lrs: Lrs, path: str, params: Any) -> None:
    where = params()
    assert lrs.post(path, {"a": 1}, where).status_code == 204
    response = lrs.post(path, raw=b"abc", params=where,
                        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert lrs.get(path, where).json() == {"a": 1}


def test_documents_of_any_type_are_stored_as_sent(lrs: Lrs) -> None:
    where = state()
    body = b"\x00\x01binary\xff"
    assert lrs.put("activities/state", raw=body, params=where,
                   content_type="application/octet-stream").status_code == 204
    got = lrs.get("activities/state", where)
    assert got.content == body
    assert got["Content-Type"] == "application/octet-stream"
    for text in ("1", "true"):
        assert lrs.post("activities/profile", raw=text.encode(), params=activity_profile(),
                        content_type="application/x-www-form-urlencoded").status_code == 204


@pytest.mark.parametrize(("path", "params"), RESOURCES)
def test_if_match_mismatch_is_412_and_changes_nothing(lrs: Lrs, path: str,
                                                      params: Any) -> None:
    where = params()
    lrs.post(path, {"name": "original"}, where)
    for method in ("PUT", "POST", "DELETE"):
        response = lrs.request(method, path, where, body={"name": "changed"},
                               headers={"If-Match": '"1111111111111111111111111111111111111111"'})
        assert response.status_code == 412, method
    assert lrs.get(path, where).json() == {"name": "original"}


@pytest.mark.parametrize(("path", "params"), RESOURCES)
def test_if_none_match_star_on_an_existing_document_is_412(lrs: Lrs, path: str,
                                                           params: Any) -> None:
    where = params()
    lrs.post(path, {"name": "original"}, where)
    response = lrs.put(path, {"name": "changed"}, where, headers={"If-None-Match": "*"})
    assert response.status_code == 412


@pytest.mark.parametrize(("path", "params"), RESOURCES)
def test_if_match_on_a_missing_document_is_412(lrs: Lrs, path: str, params: Any) -> None:
    response = lrs.put(path, {"a": 1}, params(), headers={"If-Match": "*"})
    assert response.status_code == 412


@pytest.mark.parametrize(("path", "params"), RESOURCES[1:])
@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_profiles_refuse_a_blind_overwrite_with_409(lrs: Lrs, path: str, params: Any,
                                                    version: str) -> None:
    lrs.version = version
    where = params()
    lrs.post(path, {"name": "original"}, where)
    response = lrs.put(path, {"name": "changed"}, where)
    assert response.status_code == 409
    assert response.content  # it explains the situation
    assert lrs.get(path, where).json() == {"name": "original"}
    etag = lrs.get(path, where)["ETag"]
    assert lrs.put(path, {"name": "changed"}, where, headers={"If-Match": etag}
                   ).status_code == 204
    assert lrs.get(path, where).json() == {"name": "changed"}


def test_state_allows_a_blind_overwrite_in_1_0_3_but_not_in_2_0(lrs: Lrs, lrs2: Lrs) -> None:
    where = state()
    lrs.put("activities/state", {"n": 1}, where)
    assert lrs.put("activities/state", {"n": 2}, where).status_code == 204
    assert lrs2.put("activities/state", {"n": 3}, where).status_code == 409
    assert lrs.get("activities/state", where).json() == {"n": 2}


def test_state_listing_since_registration_and_delete_all(lrs: Lrs) -> None:
    registration = new_id()
    first, second = state(), state()
    with_registration = state(registration=registration)
    for where in (first, second, with_registration):
        assert lrs.put("activities/state", {"x": 1}, where).status_code == 204
    listing = {"activityId": ACTIVITY, "agent": AGENT}
    ids = lrs.get("activities/state", listing).json()
    assert set(ids) == {first["stateId"], second["stateId"]}
    assert lrs.get("activities/state", {**listing, "registration": registration}).json() == [
        with_registration["stateId"]]
    assert lrs.get("activities/state", {**listing, "since": "2100-01-01T00:00:00Z"}
                   ).json() == []
    assert lrs.delete("activities/state", listing).status_code == 204
    assert lrs.get("activities/state", listing).json() == []
    assert lrs.get("activities/state", {**listing, "registration": registration}).json() == [
        with_registration["stateId"]]


def test_profile_listing(lrs: Lrs) -> None:
    where = activity_profile()
    lrs.put("activities/profile", {"a": 1}, where, headers={"If-None-Match": "*"})
    ids = lrs.get("activities/profile", {"activityId": ACTIVITY}).json()
    assert where["profileId"] in ids
    agent = agent_profile()
    lrs.put("agents/profile", {"a": 1}, agent, headers={"If-None-Match": "*"})
    assert lrs.get("agents/profile", {"agent": AGENT}).json() == [agent["profileId"]]


@pytest.mark.parametrize("change", [
    {"activityId": None}, {"activityId": "1"}, {"activityId": "true"},
    {"activityId": '{"key": "value"}'}, {"agent": None}, {"agent": "not JSON"},
    {"agent": '{"name": "no identifier"}'}, {"registration": "not UUID"},
    {"stateId": None}, {"since": "not a timestamp"}, {"foo": "bar"}])
def test_bad_state_parameters_are_400(lrs: Lrs, change: dict[str, Any]) -> None:
    where = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in state().items()}
    for key, value in change.items():
        if value is None:
            where.pop(key, None)
        else:
            where[key] = value
    method = "GET" if "since" in change else "PUT"
    response = lrs.request(method, "activities/state", where, body={"a": 1})
    assert response.status_code == 400, change


def test_profile_delete_needs_a_profile_id(lrs: Lrs) -> None:
    assert lrs.delete("activities/profile", {"activityId": ACTIVITY}).status_code == 400


def test_malformed_json_document_is_400(lrs: Lrs) -> None:
    response = lrs.put("activities/state", raw=b"{bad", params=state(),
                       content_type="application/json")
    assert response.status_code == 400


def test_agents_resource_returns_a_person(lrs: Lrs) -> None:
    agent = {"objectType": "Agent", "name": "Ann", "mbox": "mailto:ann@example.com"}
    person = lrs.get("agents", {"agent": agent}).json()
    assert person == {"objectType": "Person", "name": ["Ann"],
                      "mbox": ["mailto:ann@example.com"]}
    assert lrs.get("agents").status_code == 400
    assert lrs.get("agents", {"agent": {"name": "no id"}}).status_code == 400


def test_activities_resource_for_an_unknown_activity(lrs: Lrs) -> None:
    iri = f"http://www.example.com/never-before-seen/{new_id()}"
    assert lrs.get("activities", {"activityId": iri}).json() == {"objectType": "Activity",
                                                                 "id": iri}
    assert lrs.get("activities").status_code == 400
    assert lrs.get("activities", {"activityId": "true"}).status_code == 400


def test_scopes_guard_documents(credential_for: Any) -> None:
    writer = credential_for(scopes=["statements/write"])
    assert writer.put("activities/state", {"a": 1}, state()).status_code == 403
    reader = credential_for(scopes=["all/read"])
    assert reader.get("activities/state", state()).status_code == 404
    assert reader.put("activities/state", {"a": 1}, state()).status_code == 403
    state_only = credential_for(scopes=["state"])
    assert state_only.put("activities/state", {"a": 1}, state()).status_code == 204
    assert state_only.put("activities/profile", {"a": 1}, activity_profile()
                          ).status_code == 403

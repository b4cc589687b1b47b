"""The statement resource (xAPI 1.0.3 Communication 2.1, 2.0 §4.1.6.1): storing,
retrieving, voiding, filters, paging, formats and the error paths, with the
specification's example statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.tracking.conftest import Lrs, new_id, statement

pytestmark = pytest.mark.django_db

VOIDED = "http://adlnet.gov/expapi/verbs/voided"

# The specification's "completed" example (xAPI 1.0.3 Data, Appendix A), lightly trimmed.
SPEC_EXAMPLE: dict[str, Any] = {
    "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
    "timestamp": "2015-11-18T12:17:00+00:00",
    "actor": {"objectType": "Agent", "name": "Example Learner",
              "mbox": "mailto:example.learner@adlnet.gov"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted",
             "display": {"en-US": "attempted"}},
    "object": {"id": "http://example.adlnet.gov/xapi/example/simpleCBT",
               "definition": {"name": {"en-US": "simple CBT course"},
                              "description": {"en-US": "A fictitious example CBT course."}},
               "objectType": "Activity"},
    "result": {"score": {"scaled": 0.95}, "success": True, "completion": True,
               "duration": "PT1234S"},
}


def test_post_stores_and_get_returns_the_statement_with_lrs_properties(lrs: Lrs) -> None:
    # given the specification's example statement
    # when it is posted and read back
    ids = lrs.store(SPEC_EXAMPLE)
    response = lrs.get("statements", {"statementId": ids[0]})
    # then it comes back as sent, with id, stored, authority and version added
    assert ids == [SPEC_EXAMPLE["id"]]
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Experience-API-Version"] == "1.0.3"
    got = response.json()
    for key in ("actor", "verb", "object", "result", "timestamp"):
        assert got[key] == SPEC_EXAMPLE[key]
    assert got["version"] == "1.0.0"
    assert got["authority"]["objectType"] == "Agent"
    assert got["stored"].endswith("Z")
    stored = datetime.fromisoformat(got["stored"].replace("Z", "+00:00"))
    assert response["Last-Modified"] == stored.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert response["X-Experience-API-Consistent-Through"] >= got["stored"]


def test_put_with_statement_id_stores_and_answers_204(lrs: Lrs) -> None:
    statement_id = new_id()
    response = lrs.put("statements", statement(), {"statementId": statement_id})
    assert response.status_code == 204
    assert lrs.get("statements", {"statementId": statement_id}).json()["id"] == statement_id


@pytest.mark.parametrize(("params", "body_id"), [
    ({}, None),  # PUT needs statementId
    ({"statementId": "not-a-uuid"}, None),
    ({"statementId": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"},
     "0d4f9b2a-0000-4000-8000-000000000000"),  # the body's id differs
    ({"StatementId": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"}, None),  # wrong case
])
def test_bad_put_is_400(lrs: Lrs, params: dict[str, str], body_id: str | None) -> None:
    body = statement(**({"id": body_id} if body_id else {}))
    assert lrs.put("statements", body, params).status_code == 400


def test_the_same_statement_again_is_accepted_and_a_different_one_is_409(lrs: Lrs) -> None:
    # given a stored statement
    statement_id = new_id()
    first = statement(id=statement_id)
    assert lrs.put("statements", first, {"statementId": statement_id}).status_code == 204
    # when the same statement comes again, by PUT or POST
    # then it is accepted and nothing changes
    assert lrs.put("statements", first, {"statementId": statement_id}).status_code == 204
    assert lrs.post("statements", first).status_code == 200
    # when a different statement uses the id
    changed = statement(id=statement_id, verb={"id": "http://example.com/different"})
    # then it is refused, by PUT or POST, and the stored one is unchanged
    assert lrs.put("statements", changed, {"statementId": statement_id}).status_code == 409
    assert lrs.post("statements", [statement(), changed]).status_code == 409
    got = lrs.get("statements", {"statementId": statement_id}).json()
    assert got["verb"]["id"] == first["verb"]["id"]


def test_equivalent_forms_of_a_statement_are_the_same_statement(lrs: Lrs) -> None:
    statement_id = new_id()
    first = statement(id=statement_id, timestamp="2015-11-18T12:17:00+00:00",
                      context={"contextActivities": {"parent": {"id": "http://x.example/p"}}})
    lrs.store(first)
    same = statement(id=statement_id.upper(), timestamp="2015-11-18T13:17:00.000+01:00",
                     context={"contextActivities": {"parent": [{"id": "http://x.example/p",
                                                                "objectType": "Activity"}]}})
    assert lrs.post("statements", same).status_code == 200


def test_a_batch_with_one_bad_statement_stores_nothing(lrs: Lrs) -> None:
    good, bad = statement(id=new_id()), statement(id=new_id(),
                                                  verb={"id": "should fail"})
    assert lrs.post("statements", [good, bad]).status_code == 400
    assert lrs.get("statements", {"statementId": good["id"]}).status_code == 404


def test_a_batch_using_one_id_twice_is_400(lrs: Lrs) -> None:
    statement_id = new_id()
    response = lrs.post("statements", [statement(id=statement_id), statement(id=statement_id)])
    assert response.status_code == 400


def test_a_batch_returns_every_id_in_order(lrs: Lrs) -> None:
    given = new_id()
    ids = lrs.store(statement(), statement(id=given), statement())
    assert len(ids) == 3
    assert ids[1] == given
    assert len(set(ids)) == 3


@pytest.mark.parametrize("headers", [{}, {"X-Experience-API-Version": "0.95"},
                                     {"X-Experience-API-Version": "1.1.0"},
                                     {"X-Experience-API-Version": "3.0.0"}])
def test_a_missing_or_unsupported_version_header_is_400(lrs: Lrs,
                                                        headers: dict[str, str]) -> None:
    response = lrs.post("statements", statement(), version=False, headers=headers)
    assert response.status_code == 400
    assert response["X-Experience-API-Version"] == "2.0.0"
    assert "X-Experience-API-Consistent-Through" in response


def test_version_is_checked_before_credentials(lrs: Lrs) -> None:
    # the conformance suites send neither and expect a 400
    response = lrs.get("statements", auth=False, version=False)
    assert response.status_code == 400
    assert "X-Experience-API-Consistent-Through" in response


@pytest.mark.parametrize("version", ["1.0", "1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.9"])
def test_every_1_0_x_version_is_answered_as_1_0_3(lrs: Lrs, version: str) -> None:
    lrs.version = version
    response = lrs.get("statements", {"limit": 1})
    assert response.status_code == 200
    assert response["X-Experience-API-Version"] == "1.0.3"


def test_2_0_requests_are_answered_as_2_0_0(lrs2: Lrs) -> None:
    ids = lrs2.store(statement())
    response = lrs2.get("statements", {"statementId": ids[0]})
    assert response["X-Experience-API-Version"] == "2.0.0"
    assert response.json()["version"] == "2.0.0"


@pytest.mark.parametrize("authorization", [
    None, "Basic Zm9vOmJhcg==", "Basic:Zm9vOmJhcg==", "Bearer abc", "Basic !!!"])
def test_bad_credentials_are_401(lrs: Lrs, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = lrs.post("statements", statement(), auth=False, headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response["X-Experience-API-Version"] == "1.0.3"


def test_a_wrong_secret_is_401(lrs: Lrs) -> None:
    lrs.secret = lrs.secret[:-1] + ("A" if lrs.secret[-1] != "A" else "B")
    assert lrs.get("statements").status_code == 401


@pytest.mark.parametrize("params", [
    {"foo": "bar"}, {"Verb": "http://adlnet.gov/expapi/verbs/attended"},
    {"limit": "-1"}, {"limit": "ten"}, {"format": "everything"}, {"ascending": "yes"},
    {"since": "yesterday"}, {"until": "01/011/2015"}, {"registration": "not a uuid"},
    {"verb": "not an iri"}, {"activity": "ab=c://x"}, {"agent": "not json"},
    {"agent": '{"mbox": "mailto:a@b.c", "openid": "http://o.example/1"}'},
    {"statementId": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0", "verb": "http://x.example/v"},
    {"voidedStatementId": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0", "limit": "1"},
    {"statementId": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
     "voidedStatementId": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"},
])
def test_bad_get_parameters_are_400(lrs: Lrs, params: dict[str, str]) -> None:
    response = lrs.get("statements", params)
    assert response.status_code == 400
    assert "X-Experience-API-Consistent-Through" in response


def test_statement_id_may_go_with_format_and_attachments(lrs: Lrs) -> None:
    ids = lrs.store(statement())
    assert lrs.get("statements", {"statementId": ids[0], "format": "ids"}).status_code == 200
    response = lrs.get("statements", {"statementId": ids[0], "attachments": "true"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("multipart/mixed; boundary=")


def test_unknown_statement_is_404(lrs: Lrs) -> None:
    assert lrs.get("statements", {"statementId": new_id()}).status_code == 404
    assert lrs.get("statements", {"voidedStatementId": new_id()}).status_code == 404


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "statements"), ("POST", "activities"), ("PUT", "activities"),
    ("DELETE", "agents"), ("POST", "about")])
def test_unsupported_methods_are_405(lrs: Lrs, method: str, path: str) -> None:
    response = lrs.request(method, path)
    assert response.status_code == 405
    assert "GET" in response["Allow"]
    assert response["X-Experience-API-Version"]


def test_content_types_other_than_json_and_multipart_are_400(lrs: Lrs) -> None:
    import json

    body = json.dumps(statement())
    for content_type in ("text/plain", "multipart/form-data; boundary=x",
                         "application/x-www-form-urlencoded"):
        response = lrs.post("statements", raw=body.encode(), content_type=content_type)
        assert response.status_code == 400, content_type


def test_malformed_json_and_duplicate_keys_are_400(lrs: Lrs) -> None:
    assert lrs.post("statements", raw=b'{"actor": ', content_type="application/json"
                    ).status_code == 400
    duplicated = (b'{"actor": {"mbox": "mailto:a@b.c"}, "actor": {"mbox": "mailto:d@e.f"},'
                  b' "verb": {"id": "http://x.example/v"}, "object": {"id": '
                  b'"http://x.example/o"}}')
    assert lrs.post("statements", raw=duplicated).status_code == 400


# --- voiding ---------------------------------------------------------------------------


def _voiding(target: str, **overrides: Any) -> dict[str, Any]:
    return statement(verb={"id": VOIDED, "display": {"en-US": "voided"}},
                     object={"objectType": "StatementRef", "id": target}, **overrides)


def test_a_voided_statement_is_only_returned_by_voided_statement_id(lrs: Lrs) -> None:
    # given a statement and a statement voiding it
    target = lrs.store(statement())[0]
    voiding = lrs.store(_voiding(target))[0]
    # then statementId no longer finds it, voidedStatementId does, lists leave it out
    assert lrs.get("statements", {"statementId": target}).status_code == 404
    assert lrs.get("statements", {"voidedStatementId": target}).json()["id"] == target
    listed = [s["id"] for s in lrs.get("statements").json()["statements"]]
    assert target not in listed
    assert voiding in listed


def test_a_voiding_statement_arriving_first_still_voids(lrs: Lrs) -> None:
    target = new_id()
    lrs.store(_voiding(target))
    lrs.store(statement(id=target))
    assert lrs.get("statements", {"statementId": target}).status_code == 404
    assert lrs.get("statements", {"voidedStatementId": target}).status_code == 200


def test_a_voiding_statement_cannot_be_voided(lrs: Lrs) -> None:
    target = lrs.store(statement())[0]
    voiding = lrs.store(_voiding(target))[0]
    lrs.store(_voiding(voiding))
    assert lrs.get("statements", {"statementId": voiding}).status_code == 200


def test_voiding_needs_a_statement_ref(lrs: Lrs) -> None:
    bad = statement(verb={"id": VOIDED})
    assert lrs.post("statements", bad).status_code == 400


def test_statements_targeting_a_voided_statement_match_its_filters(lrs: Lrs) -> None:
    # The ADL suite's XAPI-00162: a voided statement with verb V, the voiding statement,
    # and a StatementRef statement with verb V targeting the voided one.
    verb = f"http://adlnet.gov/expapi/test/voided/target/{new_id()}"
    voided = lrs.store(statement(verb={"id": verb}))[0]
    voiding = lrs.store(_voiding(voided))[0]
    ref = lrs.store(statement(verb={"id": verb},
                              object={"objectType": "StatementRef", "id": voided}))[0]
    found = [s["id"] for s in lrs.get("statements", {"verb": verb}).json()["statements"]]
    assert found == [ref, voiding]
    limited = lrs.get("statements", {"verb": verb, "limit": 1}).json()["statements"]
    assert [s["id"] for s in limited] == [ref]


# --- queries ---------------------------------------------------------------------------


def test_filters(lrs: Lrs) -> None:
    registration = new_id()
    alice = {"mbox": "mailto:alice@example.com"}
    bob = {"objectType": "Agent", "account": {"homePage": "https://lms.example",
                                              "name": "b-1"}}
    teacher = {"mbox": "mailto:teacher@example.com"}
    a1 = lrs.store(statement(actor=alice, context={
        "registration": registration, "instructor": teacher,
        "contextActivities": {"category": {"id": "http://x.example/category"}}}))[0]
    b1 = lrs.store(statement(actor=bob, verb={"id": "http://x.example/passed"},
                             object={"id": "http://x.example/quiz"}))[0]
    b2 = lrs.store(statement(actor=teacher, object={"objectType": "Agent", **bob}))[0]

    def found(**params: Any) -> set[str]:
        response = lrs.get("statements", params)
        assert response.status_code == 200, response.content
        return {s["id"] for s in response.json()["statements"]}

    assert found(agent=alice) == {a1}
    assert found(agent=bob) == {b1, b2}  # actor or object
    assert found(agent=teacher) == {b2}
    assert found(agent=teacher, related_agents=True) == {a1, b2}  # instructor too
    assert found(verb="http://x.example/passed") == {b1}
    assert found(activity="http://x.example/quiz") == {b1}
    assert found(activity="http://x.example/category") == set()
    assert found(activity="http://x.example/category", related_activities=True) == {a1}
    assert found(registration=registration) == {a1}
    assert found(agent=bob, verb="http://x.example/passed") == {b1}


def test_the_credential_is_the_authority_and_related_agents_find_it(lrs: Lrs) -> None:
    statement_id = lrs.store(statement())[0]
    authority = lrs.get("statements", {"statementId": statement_id}).json()["authority"]
    assert authority["account"]["name"] == lrs.key
    found = lrs.get("statements", {"agent": authority, "related_agents": True}).json()
    assert statement_id in [s["id"] for s in found["statements"]]
    assert lrs.get("statements", {"agent": authority}).json()["statements"] == []


def test_the_authority_a_client_sends_is_replaced(lrs: Lrs) -> None:
    sent = statement(authority={"objectType": "Agent", "mbox": "mailto:boss@example.com"})
    statement_id = lrs.store(sent)[0]
    got = lrs.get("statements", {"statementId": statement_id}).json()
    assert got["authority"]["account"]["name"] == lrs.key


def test_substatement_activities_and_agents_are_related(lrs: Lrs) -> None:
    sub = {"objectType": "SubStatement",
           "actor": {"mbox": "mailto:sub@example.com"},
           "verb": {"id": "http://x.example/will-visit"},
           "object": {"id": "http://x.example/museum"}}
    statement_id = lrs.store(statement(object=sub))[0]
    found = lrs.get("statements", {"activity": "http://x.example/museum",
                                   "related_activities": True}).json()["statements"]
    assert [s["id"] for s in found] == [statement_id]
    found = lrs.get("statements", {"agent": {"mbox": "mailto:sub@example.com"},
                                   "related_agents": True}).json()["statements"]
    assert [s["id"] for s in found] == [statement_id]


def test_paging_with_more_since_until_and_ascending(lrs: Lrs) -> None:
    # given five statements, stored one after the other
    ids = [lrs.store(statement(verb={"id": "http://x.example/paged"}))[0] for _ in range(5)]
    query = {"verb": "http://x.example/paged", "limit": 2}
    # when paging newest first
    seen: list[str] = []
    response = lrs.get("statements", query)
    while True:
        body = response.json()
        seen += [s["id"] for s in body["statements"]]
        if not body["more"]:
            break
        assert body["more"].startswith("/xapi/statements?more=")
        response = lrs.client.get(body["more"], headers=lrs.headers())  # type: ignore[union-attr]
        assert response.status_code == 200
    # then every statement comes exactly once, newest first
    assert seen == ids[::-1]
    ascending = lrs.get("statements", {**query, "ascending": True, "limit": 0}).json()
    assert [s["id"] for s in ascending["statements"]] == ids
    assert ascending["more"] == ""
    third = lrs.get("statements", {"statementId": ids[2]}).json()["stored"]
    after = lrs.get("statements", {**query, "since": third, "limit": 0}).json()["statements"]
    assert {s["id"] for s in after} <= set(ids[3:])
    upto = lrs.get("statements", {**query, "until": third, "limit": 0}).json()["statements"]
    assert ids[2] in {s["id"] for s in upto}
    assert ids[4] not in {s["id"] for s in upto}


def test_a_more_link_works_only_for_its_credential(lrs: Lrs, credential_for: Any) -> None:
    for _ in range(3):
        lrs.store(statement())
    more = lrs.get("statements", {"limit": 1}).json()["more"]
    other = credential_for()
    assert other.client.get(more, headers=other.headers()).status_code == 400
    tampered = more[:-3] + ("aaa" if not more.endswith("aaa") else "bbb")
    assert lrs.client.get(tampered, headers=lrs.headers()).status_code == 400  # type: ignore[union-attr]


def test_an_empty_result_is_an_empty_list(lrs: Lrs) -> None:
    body = lrs.get("statements", {"verb": "http://adlnet.gov/expapi/non/existent"}).json()
    assert body == {"statements": [], "more": ""}


def test_stored_is_not_after_consistent_through(lrs: Lrs) -> None:
    lrs.store(statement())
    response = lrs.get("statements")
    through = response["X-Experience-API-Consistent-Through"]
    assert all(s["stored"] <= through for s in response.json()["statements"])


def test_timestamp_defaults_to_stored_and_is_kept_when_sent(lrs: Lrs) -> None:
    sent, unsent = lrs.store(statement(timestamp="2013-05-18T05:32:34.804+02:00"),
                             statement())
    got = lrs.get("statements", {"statementId": sent}).json()
    assert got["timestamp"] == "2013-05-18T05:32:34.804+02:00"
    got = lrs.get("statements", {"statementId": unsent}).json()
    assert got["timestamp"] == got["stored"]


# --- formats ---------------------------------------------------------------------------


def test_format_ids_keeps_only_identifiers(lrs: Lrs) -> None:
    group = {"objectType": "Group", "name": "Team", "member": [
        {"name": "Ann", "mbox": "mailto:ann@example.com"}]}
    statement_id = lrs.store(statement(actor=group))[0]
    got = lrs.get("statements", {"statementId": statement_id, "format": "ids"}).json()
    assert got["actor"] == {"objectType": "Group",
                            "member": [{"mbox": "mailto:ann@example.com"}]}
    assert got["verb"] == {"id": "http://adlnet.gov/expapi/verbs/created"}
    assert got["object"] == {"id": "http://example.adlnet.gov/xapi/example/simplestatement"}


def test_format_canonical_picks_one_language_by_accept_language(lrs: Lrs) -> None:
    # The ADL suite's XAPI-00172: en-GB asked, en-US left out (canonical only).
    both = {"en-US": "attended", "en-GB": "attended (GB)"}
    sent = statement(verb={"id": "http://x.example/attended", "display": both},
                     context={"contextActivities": {"category": {
                         "id": "http://x.example/cat", "definition": {
                             "name": both, "description": both}}}})
    statement_id = lrs.store(sent)[0]
    canonical = lrs.get("statements", {"statementId": statement_id, "format": "canonical"},
                        headers={"Accept-Language": "en-GB"}).json()
    assert canonical["verb"]["display"] == {"en-GB": "attended (GB)"}
    category = canonical["context"]["contextActivities"]["category"][0]
    assert category["definition"]["name"] == {"en-GB": "attended (GB)"}
    exact = lrs.get("statements", {"statementId": statement_id},
                    headers={"Accept-Language": "en-GB"}).json()
    assert exact["verb"]["display"] == both
    assert exact["context"]["contextActivities"]["category"][0]["definition"]["name"] == both


def test_canonical_format_uses_the_merged_activity_definition(lrs: Lrs) -> None:
    activity = "http://x.example/merged"
    lrs.store(statement(object={"id": activity, "definition": {"name": {"en-US": "one"}}}))
    second = lrs.store(statement(object={"id": activity, "definition": {
        "name": {"fr-FR": "un"}}}))[0]
    got = lrs.get("activities", {"activityId": activity}).json()
    assert got == {"objectType": "Activity", "id": activity,
                   "definition": {"name": {"en-US": "one", "fr-FR": "un"}}}
    canonical = lrs.get("statements", {"statementId": second, "format": "canonical"},
                        headers={"Accept-Language": "fr"}).json()
    assert canonical["object"]["definition"]["name"] == {"fr-FR": "un"}


def test_without_define_scope_definitions_are_not_updated(credential_for: Any) -> None:
    writer = credential_for(scopes=["statements/write", "statements/read/mine"])
    writer.store(statement(object={"id": "http://x.example/undefined",
                                   "definition": {"name": {"en": "x"}}}))
    got = writer.get("activities", {"activityId": "http://x.example/undefined"}).json()
    assert got == {"objectType": "Activity", "id": "http://x.example/undefined"}


# --- HEAD, CORS, about, alternate syntax --------------------------------------------------


def test_head_answers_like_get_without_a_body(lrs: Lrs) -> None:
    lrs.store(statement())
    response = lrs.request("HEAD", "statements")
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-Experience-API-Consistent-Through"]
    assert lrs.request("HEAD", "about", auth=False, version=False).status_code == 200


def test_cors_preflight_and_headers(lrs: Lrs) -> None:
    preflight = lrs.request("OPTIONS", "statements", auth=False, version=False, headers={
        "Origin": "https://content.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,x-experience-api-version"})
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    allowed = preflight["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "x-experience-api-version" in allowed
    assert "Access-Control-Allow-Credentials" not in preflight
    response = lrs.get("statements", headers={"Origin": "https://content.example"})
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "X-Experience-API-Consistent-Through" in response[
        "Access-Control-Expose-Headers"]


def test_about_needs_no_credentials_and_lists_versions(lrs: Lrs) -> None:
    response = lrs.get("about", auth=False, version=False)
    assert response.status_code == 200
    assert response.json()["version"] == ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"]
    # a 1.0.x client is told only the versions it knows
    assert "2.0.0" not in lrs.get("about", auth=False).json()["version"]


def test_alternate_request_syntax_put_and_get(lrs: Lrs) -> None:
    import json
    from urllib.parse import urlencode

    statement_id = new_id()
    form = urlencode({"statementId": statement_id, "content": json.dumps(statement()),
                      "Authorization": lrs.headers()["Authorization"],
                      "X-Experience-API-Version": "1.0.3"})
    response = lrs.request("POST", "statements", {"method": "PUT"}, raw=form.encode(),
                           auth=False, version=False,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 204, response.content
    form = urlencode({"statementId": statement_id,
                      "Authorization": lrs.headers()["Authorization"],
                      "X-Experience-API-Version": "1.0.3"})
    response = lrs.request("POST", "statements", {"method": "GET"}, raw=form.encode(),
                           auth=False, version=False,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.json()["id"] == statement_id


@pytest.mark.parametrize(("method", "query", "form"), [
    ("GET", {"method": "POST"}, "content=x"),  # not issued as a POST
    ("POST", {"method": "PUT", "statementId": "x"}, "content=x"),  # extra query parameter
    ("POST", {"method": "PUT"}, ""),  # no content
    ("POST", {"method": "PATCH"}, "content=x"),
])
def test_bad_alternate_request_syntax_is_400(lrs: Lrs, method: str, query: dict[str, str],
                                             form: str) -> None:
    response = lrs.request(method, "statements", query, raw=form.encode(),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_2_0_has_no_alternate_request_syntax(lrs2: Lrs) -> None:
    response = lrs2.request("POST", "statements", {"method": "GET"}, raw=b"limit=1",
                            content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


# --- time -------------------------------------------------------------------------------


def test_stored_has_millisecond_precision_and_utc(lrs: Lrs) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    statement_id = lrs.store(statement())[0]
    stored = lrs.get("statements", {"statementId": statement_id}).json()["stored"]
    assert len(stored) == len("2026-01-01T00:00:00.000Z")
    assert datetime.fromisoformat(stored.replace("Z", "+00:00")) >= before


@pytest.mark.django_db(transaction=True)
def test_writes_outside_a_transaction_take_the_one_statement_path(lrs: Lrs) -> None:
    # Requests run in autocommit mode (tests elsewhere run inside a transaction): on
    # PostgreSQL new statements go in as one INSERT statement; repeated and conflicting
    # ids fall back to the transactional path. The outcome is the same on both backends.
    from coursewright.tracking.models import Statement, StatementActivity

    given = new_id()
    parent = {"contextActivities": {"parent": [{"id": "http://x.example/p"}]}}
    first = lrs.store(statement(id=given, context=parent), statement(context=parent))
    assert Statement.objects.count() == 2
    assert StatementActivity.objects.count() == 2
    assert lrs.post("statements", [statement(id=given, context=parent),
                                   statement()]).status_code == 200
    assert Statement.objects.count() == 3
    changed = statement(id=given, verb={"id": "http://x.example/other"})
    assert lrs.post("statements", [statement(), changed]).status_code == 409
    assert Statement.objects.count() == 3
    assert lrs.get("statements", {"statementId": first[0]}).json()["id"] == given

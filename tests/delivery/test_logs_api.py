"""A course's launch and error logs over the API (``delivery.api_logs``): owners, admins
and the organisation's key read them, filtered, paged and exported; authors and
reviewers are refused; Mallory (Globex) sees nothing of Acme's."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent, Channel
from coursewright.delivery.models import LaunchEvent, PlayerError
from coursewright.orgs.actions import add_member
from tests.conftest import PASSWORD, People, client_for, key_client
from tests.delivery.test_licenses_fixtures import ORIGIN
from tests.delivery.test_logs_fixtures import (
    CONTOSO_ORIGIN,
    FORMULA,
    GLOBEX_MESSAGE,
    LEARNER_CAP_TEXT,
    Logs,
    make_logs,
)


@pytest.fixture
def logs(people: People) -> Logs:
    return make_logs(people)


def url(logs: Logs, log: str) -> str:
    return f"/api/v1/courses/{logs.live.course.pk}/{log}"


def body(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return str(response.content.decode())


def admin_client(people: People) -> Client:
    from coursewright.accounts.models import User

    adam = User.objects.create_user("adam@acme.test", PASSWORD, display_name="Adam")
    add_member(people.acme, adam, "admin", actor=Actor.system(Channel.CLI))
    return client_for(adam)


def test_owners_admins_and_the_org_key_read_the_logs(people: People, logs: Logs) -> None:
    for client in (client_for(people.alice), admin_client(people),
                   key_client(people.acme_key)):
        launches = client.get(url(logs, "launches")).json()
        assert launches["count"] == 4
        errors = client.get(url(logs, "errors")).json()
        assert errors["count"] == 2
    # newest first, with what the learner was told about a refusal
    blocked = launches["items"][1]
    assert (blocked["outcome"], blocked["reason"], blocked["origin"]) == (
        "blocked", "learner_cap", ORIGIN)
    assert blocked["reason_text"] == LEARNER_CAP_TEXT
    assert blocked["license_name"] == "Northwind Moodle"
    assert launches["items"][0]["version"] == logs.live.version.number
    assert errors["items"][0]["kind"] == "lms"
    assert errors["items"][1]["message"] == FORMULA
    assert errors["items"][1]["detail"] == "player.js:12:5"
    # learners are pseudonyms: the LMS's ids never come back
    assert "learner-1" not in json.dumps(launches)
    assert len(errors["items"][0]["learner"]) == 64


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_authors_and_reviewers_are_refused(people: People, logs: Logs, name: str) -> None:
    client = client_for(getattr(people, name))
    for log in ("launches", "errors"):
        for query in ("", "?format=csv"):
            response = client.get(url(logs, log) + query)
            assert response.status_code == 403, (log, query)
            assert response.json()["error"]["code"] == "forbidden"
    assert not AuditEvent.objects.filter(action__startswith="course_logs.").exists()


def test_mallory_sees_nothing_of_acme(people: People, logs: Logs) -> None:
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        for log in ("launches", "errors"):
            for query in ("", "?format=json"):
                response = client.get(url(logs, log) + query)
                assert response.status_code == 404
                assert response.json()["error"]["code"] == "not_found"
                assert GLOBEX_MESSAGE not in body(response)


def test_filters(people: People, logs: Logs) -> None:
    alice = client_for(people.alice)
    launches, errors = url(logs, "launches"), url(logs, "errors")

    def count(path: str, **query: Any) -> int:
        response = alice.get(path, query)
        assert response.status_code == 200, response.content
        value: int = response.json()["count"]
        return value

    assert count(launches, outcome="blocked") == 1
    assert count(launches, outcome="launched") == 3
    assert count(launches, reason="learner_cap") == 1
    assert count(launches, reason="launch_cap") == 0
    assert count(launches, license_id=logs.contoso.pk) == 1
    assert count(launches, license_id=logs.northwind.pk, outcome="launched") == 2
    assert count(errors, kind="script") == 1
    assert count(errors, license_id=logs.contoso.pk) == 0
    # times: since is inclusive, until exclusive; no zone means UTC
    LaunchEvent.objects.filter(origin=CONTOSO_ORIGIN).update(
        created_at=timezone.now() - timedelta(days=10))
    PlayerError.objects.filter(pk=logs.lms_error.pk).update(
        created_at=timezone.now() - timedelta(days=10))
    week_ago = (timezone.now() - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S")
    assert count(launches, since=week_ago) == 3
    assert count(launches, until=week_ago + "Z") == 1
    assert count(errors, since=week_ago) == 1
    assert count(errors, until=week_ago) == 1
    # paging
    page = alice.get(launches, {"limit": 2, "offset": 1}).json()
    assert (page["count"], len(page["items"])) == (4, 2)


@pytest.mark.parametrize(("log", "query", "code"), [
    ("launches", {"outcome": "maybe"}, "invalid"),
    ("launches", {"reason": "bogus"}, "bad_filter"),
    ("launches", {"reason": "x" * 41}, "invalid"),
    ("errors", {"kind": "disk"}, "invalid"),
    ("errors", {"since": "yesterday"}, "invalid"),
    ("errors", {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
     "bad_filter"),
    ("launches", {"license_id": 999999}, "bad_filter"),
    ("launches", {"license_id": 0}, "invalid"),
    ("launches", {"limit": 0}, "invalid"),
    ("launches", {"limit": 1001}, "invalid"),
    ("errors", {"offset": -1}, "invalid"),
    ("errors", {"format": "xml"}, "invalid"),
])
def test_bad_input_is_a_clear_422(people: People, logs: Logs, log: str,
                                  query: dict[str, Any], code: str) -> None:
    response = client_for(people.alice).get(url(logs, log), query)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert not AuditEvent.objects.filter(action__startswith="course_logs.").exists()


def test_another_orgs_license_is_not_a_filter(people: People, logs: Logs) -> None:
    from coursewright.delivery.models import License

    globex_license = License.objects.get(org=people.globex)
    response = client_for(people.alice).get(url(logs, "launches"),
                                            {"license_id": globex_license.pk})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"field": "license_id", "message": "no such license in this organisation"}]


def test_exports_are_streamed_formula_safe_and_audited(people: People, logs: Logs) -> None:
    alice = client_for(people.alice)
    exported = alice.get(url(logs, "errors"), {"format": "csv", "kind": "script"})
    assert exported.status_code == 200
    assert exported.streaming
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported["Cache-Control"] == "no-store"
    assert exported["Content-Disposition"].startswith(
        f'attachment; filename="errors-course-{logs.live.course.pk}-')
    rows = list(csv.DictReader(io.StringIO(body(exported))))
    assert len(rows) == 1
    assert rows[0]["message"] == "'" + FORMULA  # a spreadsheet reads it as text
    assert rows[0]["license_name"] == "Northwind Moodle"
    assert GLOBEX_MESSAGE not in body(alice.get(url(logs, "errors"), {"format": "csv"}))

    as_json = alice.get(url(logs, "errors"), {"format": "json"})
    assert as_json["Content-Type"] == "application/json; charset=utf-8"
    items = json.loads(body(as_json))
    assert [i["message"] for i in items] == ["LMSCommit failed", FORMULA]  # JSON as is
    page = alice.get(url(logs, "errors")).json()["items"]
    assert [i["id"] for i in items] == [i["id"] for i in page]

    launches = list(csv.DictReader(io.StringIO(body(alice.get(
        url(logs, "launches"), {"format": "csv", "outcome": "blocked"})))))
    assert [(r["reason"], r["origin"]) for r in launches] == [("learner_cap", ORIGIN)]
    assert launches[0]["reason_text"] == LEARNER_CAP_TEXT

    exports = AuditEvent.objects.filter(org=people.acme, action="course_logs.exported")
    assert sorted((e.after["log"], e.after["format"]) for e in exports) == [
        ("errors", "csv"), ("errors", "csv"), ("errors", "json"), ("launches", "csv")]
    first = exports.order_by("id").first()
    assert first is not None
    assert first.after["filters"] == {"kind": "script"}
    assert first.object_type == "course_logs"
    assert AuditEvent.objects.filter(action="course_logs.read").count() == 1


def test_the_openapi_document_describes_both_endpoints(people: People) -> None:
    schema = client_for(people.alice).get("/api/v1/openapi.json").json()
    for log in ("launches", "errors"):
        operation = schema["paths"][f"/api/v1/courses/{{course_id}}/{log}"]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"course_id", "license_id", "since", "until", "limit", "offset",
                "format"} <= names
        assert "text/csv" in operation["responses"]["200"]["content"]

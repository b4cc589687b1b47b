"""Completion records (``tracking.completions``) and their API: records from launches,
cmi5 registrations and the LRS, merged per learner; filters; the summary figures
against numbers worked out by hand (``completion_fixtures``); exports; the audit rows;
owners, admins and the org's key read them, authors and reviewers are refused, Mallory
(Globex) finds nothing."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from coursewright.audit.models import AuditEvent, Channel
from coursewright.delivery.models import Deployment, License
from coursewright.errors import Invalid
from coursewright.orgs.actions import add_member
from coursewright.tracking.completions import (
    CompletionFilter,
    all_records,
    check_filter,
    duration_seconds,
    score_bins,
    summary_of,
)
from tests.conftest import PASSWORD, People, client_for, key_client
from tests.tracking.completion_fixtures import T0, World, attempt, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(people: People) -> World:
    return make_world(people)


def by_letter(world: World, **filters: Any) -> dict[str, Any]:
    checked = check_filter(world.live.course, CompletionFilter(**filters))
    names = {v: k for k, v in world.learners.items()}
    found = {}
    for record in all_records(world.live.course, checked):
        letter = names[record.learner]
        assert letter not in found, f"two records for {letter}"
        found[letter] = record
    return found


def url(world: World, rest: str = "") -> str:
    return f"/api/v1/courses/{world.live.course.pk}/completions{rest}"


def body(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return str(response.content.decode())


def admin_client(people: People) -> Client:
    from coursewright.accounts.models import User

    adam = User.objects.create_user("adam@acme.test", PASSWORD, display_name="Adam")
    add_member(people.acme, adam, "admin", actor=Actor.system(Channel.CLI))
    return client_for(adam)


# --- the records ------------------------------------------------------------------------


def test_records_from_launches(world: World) -> None:
    records = by_letter(world)
    assert set(records) == set("ABCDEFGH")
    a = records["A"]
    assert (a.sources, a.completion, a.success, a.score, a.attempts) == (
        {"launch"}, "completed", "passed", 0.9, 2)
    assert a.time_spent == 5 * 60 + 10 * 60  # first to last report, per attempt
    assert a.first_activity == T0
    assert a.last_activity == a.completed_at == T0 + timedelta(days=1, minutes=10)
    assert (a.license_id, a.deployment_id, a.license_name, a.version) == (
        world.northwind.pk, world.live.deployment.pk, "Northwind Moodle",
        world.live.version.number)
    b, c, h = records["B"], records["C"], records["H"]
    assert (b.completion, b.success, b.score, b.attempts, b.time_spent, b.completed_at) == (
        "incomplete", "unknown", None, 1, 120, None)
    assert (c.completion, c.success, c.score, c.time_spent, c.status) == (
        "completed", "failed", 0.45, 1200, "failed")
    assert (h.license_id, h.completion, h.time_spent) == (world.contoso.pk, "incomplete", 60)


def test_records_from_cmi5(world: World) -> None:
    d = by_letter(world)["D"]
    # only the cmi5 record: the registration's statements in the LRS are not a second one
    assert d.sources == {"cmi5"}
    assert (d.completion, d.success, d.score, d.attempts) == ("completed", "passed", 1.0, 1)
    assert d.time_spent == 11  # terminated - initialized
    assert (d.license_id, d.deployment_id) == (world.northwind.pk, world.live.deployment.pk)
    assert d.first_activity == T0 + timedelta(days=2)  # the session moved into the past
    assert d.completed_at is not None
    assert d.completed_at > T0 + timedelta(days=3)
    assert d.last_activity is not None
    assert d.last_activity >= d.completed_at


def test_records_from_the_lrs(world: World) -> None:
    records = by_letter(world)
    e, f, g = records["E"], records["F"], records["G"]
    assert (e.sources, e.license_id, e.deployment_id) == ({"xapi"}, None, None)
    assert (e.completion, e.success, e.score, e.attempts) == ("completed", "passed", 0.75, 1)
    assert e.time_spent == 120  # the terminated statement's duration, not the sum of all
    assert e.first_activity is not None
    assert e.completed_at is not None
    # a third-party cmi5 LMS's statement, found by its grouping (the course's AU)
    assert (f.license_id, f.completion, f.success, f.score, f.time_spent) == (
        world.contoso.pk, "completed", "failed", 0.3, 45)
    # Gina's completion was voided: she only started
    assert (g.completion, g.success, g.attempts, g.time_spent, g.completed_at) == (
        "incomplete", "unknown", 1, 0, None)
    # Erin's 5 hours on another activity, and Globex's statement, are not the course's
    assert all(r.time_spent < 3600 for r in records.values())


def test_one_learner_on_two_sources_is_one_record(people: People, world: World) -> None:
    from coursewright.cmi5.models import Registration

    # Erin's hash is the key of an LMS learner on Northwind launching a SCORM package:
    # the same (deployment, license, learner) from a launch and a cmi5 registration merge
    d_learner = world.learners["D"]
    attempt(world.northwind_token, world.live, "lms-learner-7",
            {"cmi.completion_status": "incomplete", "cmi.score.scaled": "0.5",
             "cmi.location": "s1"}, start=T0 + timedelta(days=5), minutes=3)
    assert Registration.objects.filter(learner=d_learner).exists()
    d = by_letter(world)["D"]
    assert d.sources == {"launch", "cmi5"}
    assert (d.completion, d.success, d.score, d.attempts, d.time_spent) == (
        "completed", "passed", 1.0, 2, 11 + 180)


def test_launches_without_a_learner_id_are_records_of_their_own(world: World) -> None:
    for minutes in (4, 6):
        attempt(world.northwind_token, world.live, "", {"cmi.completion_status": "incomplete",
                                                        "cmi.location": "s1"},
                start=T0 + timedelta(days=4), minutes=minutes)
    checked = check_filter(world.live.course, CompletionFilter())
    nameless = [r for r in all_records(world.live.course, checked) if r.learner == ""]
    assert sorted(r.time_spent for r in nameless) == [240, 360]
    assert {r.attempts for r in nameless} == {1}
    summary = summary_of(world.live.course, checked)
    assert summary.records == 10
    assert [(s.screen, s.attempts) for s in summary.drop_off] == [("s1", 3), ("s2", 2)]


def test_queries_do_not_grow_with_the_learners(world: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    checked = check_filter(world.live.course, CompletionFilter())

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            summary_of(world.live.course, checked)
        return len(captured.captured_queries)

    before = queries()
    for n in range(6):
        attempt(world.northwind_token, world.live, f"more-{n}",
                {"cmi.completion_status": "incomplete", "cmi.location": "s2"},
                start=T0 + timedelta(days=6), minutes=n + 1)
    assert queries() == before


def test_filters(world: World) -> None:
    assert set(by_letter(world, license_id=world.contoso.pk)) == {"H", "F"}
    assert set(by_letter(world, license_id=world.northwind.pk)) == {"A", "B", "C", "D"}
    assert set(by_letter(world, deployment_id=world.live.deployment.pk)) == set("ABCDH")
    assert set(by_letter(world, status="passed")) == {"A", "D", "E"}
    assert set(by_letter(world, status="failed")) == {"C", "F"}
    assert set(by_letter(world, status="completed")) == {"A", "C", "D", "E", "F"}
    assert set(by_letter(world, status="incomplete")) == {"B", "G", "H"}
    assert set(by_letter(world, status="not_attempted")) == set()
    # a record matches when its activity overlaps the range
    assert set(by_letter(world, since=T0, until=T0 + timedelta(days=1))) == {"A", "B"}
    assert set(by_letter(world, since=T0 + timedelta(days=1, minutes=11),
                         until=T0 + timedelta(days=2))) == {"C"}
    # H's only attempt, and D's span (session on T0 + 2 d, statements today); naive: UTC
    assert set(by_letter(world, since=datetime(2026, 3, 5, 9, 0),  # noqa: DTZ001
                         until=T0 + timedelta(days=3, minutes=30))) == {"D", "H"}


def test_bad_filters_are_refused_with_their_reasons(people: People, world: World) -> None:
    globex_license = License.objects.get(org=people.globex)
    other = Deployment.objects.get(course=world.globex_live.course)
    with pytest.raises(Invalid) as refused:
        check_filter(world.live.course, CompletionFilter(
            license_id=globex_license.pk, deployment_id=other.pk, status="done",
            since=T0 + timedelta(days=1), until=T0))
    assert refused.value.code == "bad_filter"
    assert {d["field"] for d in refused.value.details} == {
        "license_id", "deployment_id", "status", "since"}
    with pytest.raises(Invalid, match="at most 366 days"):
        check_filter(world.live.course, CompletionFilter(
            since=T0, until=T0 + timedelta(days=400)), summary=True)


def test_the_summary(world: World) -> None:
    course = world.live.course
    summary = summary_of(course, check_filter(course, CompletionFilter(
        since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 3, 5, tzinfo=UTC)),
        summary=True))
    # A and B (T0), C (T0 + 1 d), D (session on T0 + 2 d) were active then; H on 5 March
    assert summary.records == 4
    assert (summary.first_day, summary.last_day) == (date(2026, 3, 1), date(2026, 3, 4))
    # A and C completed on 3 March; D completed today, outside the range
    assert summary.completions_per_day == [(date(2026, 3, 1), 0), (date(2026, 3, 2), 0),
                                           (date(2026, 3, 3), 2), (date(2026, 3, 4), 0)]
    everything = summary_of(course, check_filter(course, CompletionFilter(), summary=True))
    assert (everything.records, everything.completed, everything.incomplete,
            everything.not_attempted, everything.passed, everything.failed) == (8, 5, 3, 0,
                                                                                 3, 2)
    assert everything.average_score == pytest.approx((0.9 + 0.45 + 1.0 + 0.75 + 0.3) / 5)
    assert [b.count for b in everything.scores] == [0, 0, 0, 1, 1, 0, 0, 1, 0, 2]
    # the last 30 days by default, up to today: D, E and F completed today
    today = datetime.now(UTC).date()
    assert everything.completions_per_day[-1] == (today, 3)
    assert len(everything.completions_per_day) == 30
    assert sum(n for _, n in everything.completions_per_day) == 3
    # drop-off: A's first attempt at s1; B and H at s2 (named from the version)
    assert [(s.screen, s.title, s.position, s.attempts) for s in everything.drop_off] == [
        ("s2", "Alarms", 2, 2), ("s1", "Exits", 1, 1)]
    northwind = summary_of(course, check_filter(course, CompletionFilter(
        license_id=world.northwind.pk), summary=True))
    assert [(s.screen, s.attempts) for s in northwind.drop_off] == [("s1", 1), ("s2", 1)]
    # only the failed learners' records: C's attempt completed, so no drop-off
    failed = summary_of(course, check_filter(course, CompletionFilter(status="failed"),
                                             summary=True))
    assert (failed.records, failed.drop_off) == (2, [])
    assert [b.count for b in failed.scores] == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]


def test_score_bins_and_durations() -> None:
    assert [b.count for b in score_bins([0, 0.099, 0.1, 0.5, 0.999, 1.0])] == [
        2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert duration_seconds("PT1M30S") == 90
    assert duration_seconds("P1DT1H") == 90000
    assert duration_seconds("PT0.5S") == 0.5
    assert duration_seconds("PT1,5M") == 90
    for bad in ("P", "PT", "1M", "PT1X", None, 90, "P1DT"):
        assert duration_seconds(bad) is None


# --- the API ----------------------------------------------------------------------------


def test_owners_admins_and_the_org_key_read_records(people: People, world: World) -> None:
    for client in (client_for(people.alice), admin_client(people),
                   key_client(people.acme_key)):
        page = client.get(url(world))
        assert page.status_code == 200, page.content
        assert page.json()["count"] == 8
    items = page.json()["items"]
    # the latest activity first: the LRS learners and D were active today
    assert items[-1]["learner"] == world.learners["B"]
    a = next(i for i in items if i["learner"] == world.learners["A"])
    assert a == {
        "course_id": world.live.course.pk, "learner": world.learners["A"],
        "sources": ["launch"], "license_id": world.northwind.pk,
        "license_name": "Northwind Moodle", "deployment_id": world.live.deployment.pk,
        "version": world.live.version.number, "status": "passed",
        "completion": "completed", "success": "passed", "score": 0.9, "attempts": 2,
        "time_spent": 900, "first_activity": "2026-03-02T09:00:00Z",
        "last_activity": "2026-03-03T09:10:00Z", "completed_at": "2026-03-03T09:10:00Z"}
    # learners are anonymous ids only
    assert "learner-a" not in json.dumps(items)
    assert "erin@example.com" not in json.dumps(items)
    paged = client_for(people.alice).get(url(world), {"limit": 3, "offset": 6}).json()
    assert (paged["count"], [i["learner"] for i in paged["items"]]) == (
        8, [i["learner"] for i in items[6:]])
    filtered = client_for(people.alice).get(url(world), {
        "status": "failed", "license_id": world.contoso.pk}).json()
    assert [i["learner"] for i in filtered["items"]] == [world.learners["F"]]


def test_the_openapi_document_describes_both_endpoints(people: People) -> None:
    schema = client_for(people.alice).get("/api/v1/openapi.json").json()
    records = schema["paths"]["/api/v1/courses/{course_id}/completions"]["get"]
    assert {"course_id", "deployment_id", "license_id", "status", "since", "until", "limit",
            "offset", "format"} <= {p["name"] for p in records["parameters"]}
    assert "text/csv" in records["responses"]["200"]["content"]
    summary = schema["paths"]["/api/v1/courses/{course_id}/completions/summary"]["get"]
    assert {"deployment_id", "license_id", "status", "since", "until"} <= {
        p["name"] for p in summary["parameters"]}


def test_the_summary_endpoint(people: People, world: World) -> None:
    response = client_for(people.alice).get(url(world, "/summary"), {
        "since": "2026-03-01T00:00:00Z", "until": "2026-03-05T00:00:00Z"})
    assert response.status_code == 200, response.content
    summary = response.json()
    assert (summary["since"], summary["until"]) == ("2026-03-01", "2026-03-04")
    assert summary["totals"] == {"records": 4, "completed": 3, "incomplete": 1,
                                 "not_attempted": 0, "passed": 2, "failed": 1,
                                 "average_score": pytest.approx((0.9 + 0.45 + 1.0) / 3,
                                                                abs=1e-4)}
    assert [d["completions"] for d in summary["completions_per_day"]] == [0, 0, 2, 0]
    assert summary["score_distribution"][9] == {"low": 0.9, "high": 1.0, "records": 2}
    assert summary["drop_off"] == [
        {"screen": "s1", "title": "Exits", "position": 1, "attempts": 1},
        {"screen": "s2", "title": "Alarms", "position": 2, "attempts": 1}]


def test_exports_are_streamed_formula_safe_and_audited(people: People,
                                                       world: World) -> None:
    alice = client_for(people.alice)
    # a license named like a formula must reach a spreadsheet as text
    License.objects.filter(pk=world.contoso.pk).update(name="=HYPERLINK(\"x\")")
    exported = alice.get(url(world), {"format": "csv", "license_id": world.contoso.pk})
    assert exported.status_code == 200
    assert exported.streaming
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported["Cache-Control"] == "no-store"
    assert exported["Content-Disposition"].startswith(
        f'attachment; filename="completions-course-{world.live.course.pk}-')
    rows = list(csv.DictReader(io.StringIO(body(exported))))
    assert sorted(r["learner"] for r in rows) == sorted(
        [world.learners["F"], world.learners["H"]])
    f = next(r for r in rows if r["learner"] == world.learners["F"])
    assert (f["sources"], f["status"], f["score"], f["time_spent"], f["license_name"]) == (
        "xapi", "failed", "0.3", "45", "'=HYPERLINK(\"x\")")

    as_json = alice.get(url(world), {"format": "json"})
    assert as_json["Content-Type"] == "application/json; charset=utf-8"
    items = json.loads(body(as_json))
    page = alice.get(url(world)).json()["items"]
    assert items == page

    exports = AuditEvent.objects.filter(org=people.acme, action="course_completions.exported")
    assert sorted(e.after["format"] for e in exports) == ["csv", "json"]
    first = exports.order_by("id").first()
    assert first is not None
    assert first.object_type == "course_completions"
    assert first.object_id == str(world.live.course.pk)
    assert first.after["filters"] == {"license_id": str(world.contoso.pk)}
    reads = AuditEvent.objects.filter(org=people.acme, action="course_completions.read")
    assert [e.after["view"] for e in reads.order_by("id")] == ["records"]
    alice.get(url(world, "/summary"))
    assert reads.count() == 2
    assert reads.order_by("-id").first().after["view"] == "summary"  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_authors_and_reviewers_are_refused(people: People, world: World, name: str) -> None:
    client = client_for(getattr(people, name))
    for path in (url(world), url(world) + "?format=csv", url(world, "/summary")):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "forbidden"
    assert not AuditEvent.objects.filter(action__startswith="course_completions.").exists()


def test_mallory_sees_nothing_of_acme(people: People, world: World) -> None:
    for client in (client_for(people.mallory), key_client(people.globex_key)):
        for path in (url(world), url(world) + "?format=json", url(world, "/summary")):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
    assert not AuditEvent.objects.filter(action__startswith="course_completions.").exists()
    # and Globex's own course shows only Globex's learner
    own = client_for(people.mallory).get(
        f"/api/v1/courses/{world.globex_live.course.pk}/completions").json()
    assert own["count"] == 1
    assert own["items"][0]["sources"] == ["launch"]


@pytest.mark.parametrize(("rest", "query", "code"), [
    ("", {"status": "done"}, "invalid"),
    ("", {"since": "yesterday"}, "invalid"),
    ("", {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, "bad_filter"),
    ("", {"license_id": 999999}, "bad_filter"),
    ("", {"deployment_id": 999999}, "bad_filter"),
    ("", {"license_id": 0}, "invalid"),
    ("", {"limit": 0}, "invalid"),
    ("", {"limit": 1001}, "invalid"),
    ("", {"offset": -1}, "invalid"),
    ("", {"format": "xml"}, "invalid"),
    ("/summary", {"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
     "bad_filter"),
    ("/summary", {"status": "maybe"}, "invalid"),
])
def test_bad_input_is_a_clear_422(people: People, world: World, rest: str,
                                  query: dict[str, Any], code: str) -> None:
    response = client_for(people.alice).get(url(world, rest), query)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert not AuditEvent.objects.filter(action__startswith="course_completions.").exists()


def test_another_orgs_license_or_deployment_is_not_a_filter(people: People,
                                                            world: World) -> None:
    globex_license = License.objects.get(org=people.globex)
    globex_deployment = Deployment.objects.get(course=world.globex_live.course)
    response = client_for(people.alice).get(url(world), {
        "license_id": globex_license.pk, "deployment_id": globex_deployment.pk})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"field": "license_id", "message": "no such license in this organisation"},
        {"field": "deployment_id", "message": "no such deployment of this course"}]

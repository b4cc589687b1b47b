"""The dashboard's logs page of a course (``web.log_views``): launches and player errors,
filtered, paged and exported (CSV, JSON) by owners and admins; authors and reviewers are
refused (403), Mallory (Globex) finds nothing (404)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coursewright.audit.models import AuditEvent
from coursewright.delivery.models import LaunchEvent, PlayerError
from tests.conftest import People, client_for
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


@pytest.fixture
def alice(people: People) -> Client:
    return client_for(people.alice)


def base(logs: Logs) -> str:
    return f"/o/acme/courses/{logs.live.course.pk}/logs/"


def urls(logs: Logs) -> list[str]:
    return [base(logs), f"{base(logs)}errors/",
            *(f"{base(logs)}{log}.{fmt}" for log in ("launches", "errors")
              for fmt in ("csv", "json"))]


def html(response: Any) -> str:
    return str(response.content.decode())


def streamed(response: Any) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_authors_and_reviewers_are_refused(people: People, logs: Logs, name: str) -> None:
    client = client_for(getattr(people, name))
    for url in urls(logs):
        assert client.get(url).status_code == 403, url
    course_page = html(client.get(f"/o/acme/courses/{logs.live.course.pk}/"))
    assert "/logs/" not in course_page
    assert not AuditEvent.objects.filter(action__startswith="course_logs.").exists()


def test_mallory_finds_nothing(people: People, logs: Logs) -> None:
    mallory = client_for(people.mallory)
    for url in urls(logs):
        for slug_url in (url, url.replace("/o/acme/", "/o/globex/")):
            response = mallory.get(slug_url)
            assert response.status_code == 404, slug_url
            assert b"Northwind" not in response.content


def test_the_course_page_links_the_logs_for_managers(logs: Logs, alice: Client) -> None:
    assert f'href="{base(logs)}"' in html(alice.get(f"/o/acme/courses/{logs.live.course.pk}/"))


def test_launches_are_listed(people: People, logs: Logs, alice: Client) -> None:
    page = html(alice.get(base(logs)))
    assert "4 launches" in page
    for text in ("Northwind Moodle", "Contoso LMS", "learner_cap", LEARNER_CAP_TEXT,
                 CONTOSO_ORIGIN, ORIGIN, f"Version {logs.live.version.number}"):
        assert text in page, text
    # learners are pseudonyms, shortened; the LMS's ids never appear
    assert "learner-1" not in page
    assert f"{logs.session.learner[:12]}…" in page
    assert "Globex" not in page
    read = AuditEvent.objects.get(action="course_logs.read")
    assert (read.object_type, read.object_id) == ("course_logs", str(logs.live.course.pk))
    assert read.after == {"log": "launches", "filters": {}, "format": "page"}


def test_player_errors_are_listed(people: People, logs: Logs, alice: Client) -> None:
    page = html(alice.get(f"{base(logs)}errors/"))
    assert "2 player errors" in page
    for text in ("Script error", "LMS call failed", "LMSCommit failed", "LMSCommit -&gt; 101",
                 "player.js:12:5", "Northwind Moodle"):
        assert text in page, text
    assert "=HYPERLINK(&quot;https://evil.example&quot;,&quot;Click&quot;)" in page  # escaped
    assert GLOBEX_MESSAGE not in page


def test_filters(people: People, logs: Logs, alice: Client) -> None:
    def heading(url: str, **query: Any) -> str:
        response = alice.get(url, query)
        assert response.status_code == 200, response.content
        text = html(response)
        start = text.index('<h2 id="rows-heading">') + len('<h2 id="rows-heading">')
        return text[start:text.index("</h2>", start)]

    launches, errors = base(logs), f"{base(logs)}errors/"
    assert heading(launches, outcome="blocked") == "1 launch"
    assert heading(launches, outcome="launched") == "3 launches"
    assert heading(launches, reason="learner_cap") == "1 launch"
    assert heading(launches, reason="launch_cap") == "0 launches"
    assert heading(launches, license=logs.contoso.pk) == "1 launch"
    assert heading(errors, kind="lms") == "1 player error"
    assert heading(errors, license=logs.contoso.pk) == "0 player errors"
    # dates are whole UTC days, both ends included
    LaunchEvent.objects.filter(origin=CONTOSO_ORIGIN).update(
        created_at=timezone.now() - timedelta(days=10))
    PlayerError.objects.filter(pk=logs.lms_error.pk).update(
        created_at=timezone.now() - timedelta(days=10))
    today = timezone.now().date()
    ten_days_ago = (today - timedelta(days=10)).isoformat()
    assert heading(launches, since=today.isoformat()) == "3 launches"
    assert heading(launches, since=ten_days_ago, until=ten_days_ago) == "1 launch"
    assert heading(errors, until=(today - timedelta(days=1)).isoformat()) == "1 player error"
    # the filters the form offers, and the export links keep them
    page = html(alice.get(launches, {"outcome": "blocked", "license": logs.northwind.pk}))
    assert f'<option value="{logs.northwind.pk}" selected>Northwind Moodle</option>' in page
    assert (f'logs/launches.csv?outcome=blocked&amp;license={logs.northwind.pk}"') in page
    # switching to the errors keeps the license and dates, not the launch-only filters
    assert f'logs/errors/?license={logs.northwind.pk}"' in page


@pytest.mark.parametrize("query", [
    {"since": "2026-02-01", "until": "2026-01-01"},
    {"since": "yesterday"},
    {"outcome": "maybe"},
    {"reason": "bogus"},
    {"license": "999999"},
    {"license": "abc"},
])
def test_bad_filters_are_a_400_with_the_reason(people: People, logs: Logs, alice: Client,
                                               query: dict[str, str]) -> None:
    response = alice.get(base(logs), query)
    assert response.status_code == 400
    assert "Please correct the following" in html(response)
    exported = alice.get(f"{base(logs)}launches.csv", query)
    assert exported.status_code == 400
    assert not AuditEvent.objects.filter(action__startswith="course_logs.").exists()


def test_another_orgs_license_is_not_offered(people: People, logs: Logs,
                                             alice: Client) -> None:
    from coursewright.delivery.models import License

    globex_license = License.objects.get(org=people.globex)
    page = html(alice.get(base(logs)))
    assert "Globex LMS" not in page
    assert alice.get(base(logs), {"license": globex_license.pk}).status_code == 400


def test_exports(people: People, logs: Logs, alice: Client) -> None:
    response = alice.get(f"{base(logs)}errors.csv", {"kind": "script"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="errors-course-{logs.live.course.pk}-')
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert [r["message"] for r in rows] == ["'" + FORMULA]  # never a spreadsheet formula
    assert rows[0]["detail"] == "player.js:12:5"

    everything = json.loads(streamed(alice.get(f"{base(logs)}errors.json")))
    assert [e["kind"] for e in everything] == ["lms", "script"]
    assert GLOBEX_MESSAGE not in json.dumps(everything)

    launches = json.loads(streamed(alice.get(f"{base(logs)}launches.json",
                                             {"outcome": "blocked"})))
    assert [(e["reason"], e["reason_text"]) for e in launches] == [
        ("learner_cap", LEARNER_CAP_TEXT)]
    launch_rows = list(csv.DictReader(io.StringIO(streamed(
        alice.get(f"{base(logs)}launches.csv")))))
    assert len(launch_rows) == 4
    assert {r["license_name"] for r in launch_rows} == {"Northwind Moodle", "Contoso LMS"}

    exported = AuditEvent.objects.filter(action="course_logs.exported").order_by("id")
    assert [(e.after["log"], e.after["format"]) for e in exported] == [
        ("errors", "csv"), ("errors", "json"), ("launches", "json"), ("launches", "csv")]
    first = exported.first()
    assert first is not None
    assert first.after["filters"] == {"kind": "script"}


def error_row(logs: Logs, kind: str, message: str) -> PlayerError:
    """A reported error made directly (one session may report only so many)."""
    s = logs.session
    return PlayerError.objects.create(
        org_id=s.org_id, session=s, license_id=s.license_id, course_id=s.course_id,
        deployment_id=s.deployment_id, version_id=s.version_id, learner=s.learner,
        kind=kind, message=message)


def test_pages_of_fifty(people: People, logs: Logs, alice: Client) -> None:
    for number in range(60):
        error_row(logs, "content", f"Missing file {number}.png")
    first = html(alice.get(f"{base(logs)}errors/", {"kind": "content"}))
    assert "60 player errors" in first
    assert "Page 1 of 2" in first
    assert "Missing file 59.png" in first
    assert "Missing file 9.png" not in first
    assert 'href="?kind=content&amp;page=2"' in first
    second = html(alice.get(f"{base(logs)}errors/", {"kind": "content", "page": "2"}))
    assert "Missing file 9.png" in second
    assert "Missing file 10.png" not in second


def test_the_query_count_does_not_grow_with_the_rows(people: People, logs: Logs,
                                                     alice: Client) -> None:
    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get(url).status_code == 200
        return len(captured)

    few = {url: queries(url) for url in (base(logs), f"{base(logs)}errors/")}
    for number in range(20):
        error_row(logs, "script", f"Error {number}")
        LaunchEvent.objects.create(org=people.acme, license=logs.contoso,
                                   course=logs.live.course, deployment=logs.live.deployment,
                                   outcome="launched", origin=CONTOSO_ORIGIN)
    many = {url: queries(url) for url in few}
    assert many == few

"""The dashboard's completions page of a course (``web.completion_views``): records,
the three server-drawn charts with their tables, filters, paging and the CSV/JSON
exports for owners and admins; authors and reviewers are refused (403), Mallory
(Globex) finds nothing (404); every view and export is in the audit log."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.delivery.models import License
from coursewright.web import completion_views
from coursewright.web.completion_views import column_chart, duration_text, row_chart
from tests.conftest import People, client_for
from tests.tracking.completion_fixtures import World, make_world


@pytest.fixture
def world(people: People) -> World:
    return make_world(people)


@pytest.fixture
def alice(people: People) -> Client:
    return client_for(people.alice)


def base(world: World, slug: str = "acme") -> str:
    return f"/o/{slug}/courses/{world.live.course.pk}/completions/"


def urls(world: World, slug: str = "acme") -> list[str]:
    return [base(world, slug), f"{base(world, slug)}completions.csv",
            f"{base(world, slug)}completions.json"]


def html(response: Any) -> str:
    return str(response.content.decode())


def streamed(response: Any) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def svg(page: str, chart_id: str) -> str:
    found = re.search(rf'<svg[^>]*aria-labelledby="{chart_id}-title {chart_id}-desc".*?</svg>',
                      page, re.S)
    assert found, f"no chart {chart_id}"
    return found.group(0)


def test_the_page_shows_records_charts_and_tables(people: People, world: World,
                                                  alice: Client) -> None:
    course_page = html(alice.get(f"/o/acme/courses/{world.live.course.pk}/"))
    assert f'href="{base(world)}"' in course_page
    response = alice.get(base(world))
    assert response.status_code == 200
    page = html(response)
    assert "8 learner records" in page
    assert page.count("<tbody>") >= 4  # three chart tables and the records
    assert page.count('<tr>\n        <td><code class="small"') == 8
    # the totals, worked out by hand in completion_fixtures
    for label, value in (("Completed", 5), ("Passed", 3), ("Failed", 2),
                         ("Incomplete", 3), ("Not attempted", 0)):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page
    assert "<dt>Average best score</dt><dd>68%</dd>" in page
    # completions per day: the last 30 days, one bar each, D, E and F today
    days = svg(page, "chart-days")
    assert 'role="img"' in days
    assert days.count("<rect") == 30
    assert "3 completions from" in days
    # the score distribution: ten bars, the last (90-100 %) holding A and D
    scores = svg(page, "chart-scores")
    assert scores.count("<rect") == 10
    assert "90% to 100%: 2" in scores
    assert "average 68%" in scores
    # drop-off: screens named from the version, the most attempts first
    drop = svg(page, "chart-dropoff")
    assert drop.count("<rect") == 2
    assert drop.index("2. Alarms") < drop.index("1. Exits")
    assert "2. Alarms: 2" in drop
    # and the same figures as tables
    assert "<td>90% to 100% (included)</td><td>2</td>" in page
    assert re.search(r"2\. Alarms <code class=\"small\">s2</code></td><td>2</td>", page)
    # learners as anonymous ids only
    assert "learner-a" not in page
    assert "erin@example.com" not in page
    event = AuditEvent.objects.get(org=people.acme, action="course_completions.read")
    assert (event.object_type, event.after["view"], event.after["format"]) == (
        "course_completions", "page", "page")


def test_filters_and_paging(world: World, alice: Client,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    failed = html(alice.get(base(world), {"status": "failed"}))
    assert "2 learner records" in failed
    contoso = html(alice.get(base(world), {"license": world.contoso.pk}))
    assert "2 learner records" in contoso
    assert "No unfinished launch attempts." not in contoso  # H stopped at s2
    dated = html(alice.get(base(world), {"since": "2026-03-01", "until": "2026-03-04"}))
    assert "4 learner records" in dated  # A, B, C and D (whole days, both included)
    assert "Completions per day, 1 Mar to 4 Mar 2026" in dated
    assert svg(dated, "chart-days").count("<rect") == 4
    deployed = html(alice.get(base(world), {"deployment": world.live.deployment.pk}))
    assert "5 learner records" in deployed
    # paging keeps the filters
    monkeypatch.setattr(completion_views, "PAGE_SIZE", 3)
    first = html(alice.get(base(world)))
    assert "Page 1 of 3" in first
    second = html(alice.get(base(world), {"status": "completed", "page": 2}))
    assert "Page 2 of 2" in second
    assert "status=completed&amp;page=1" in second


@pytest.mark.parametrize("query", [
    {"since": "2026-03-05", "until": "2026-03-01"},
    {"since": "2024-01-01", "until": "2026-01-01"},
    {"status": "bogus"},
    {"license": "abc"},
    {"since": "yesterday"},
])
def test_bad_filters_are_a_400_with_the_reason(world: World, alice: Client,
                                               query: dict[str, str]) -> None:
    response = alice.get(base(world), query)
    assert response.status_code == 400
    assert "Please correct the following" in html(response)
    assert alice.get(f"{base(world)}completions.csv", query).status_code == 400
    assert not AuditEvent.objects.filter(action__startswith="course_completions.").exists()


def test_a_forged_license_of_another_org_is_refused(people: People, world: World,
                                                    alice: Client) -> None:
    globex_license = License.objects.get(org=people.globex)
    response = alice.get(base(world), {"license": globex_license.pk})
    assert response.status_code == 400
    page = html(response)
    assert "Select a valid choice" in page
    assert "Globex LMS" not in page
    assert "learner records" not in page


def test_exports_match_the_api_and_are_audited(people: People, world: World,
                                               alice: Client) -> None:
    query = {"status": "failed"}
    exported = alice.get(f"{base(world)}completions.csv", query)
    assert exported.status_code == 200
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(streamed(exported))))
    assert sorted(r["learner"] for r in rows) == sorted(
        [world.learners["C"], world.learners["F"]])
    assert {r["status"] for r in rows} == {"failed"}
    as_json = json.loads(streamed(alice.get(f"{base(world)}completions.json", query)))
    api = alice.get(f"/api/v1/courses/{world.live.course.pk}/completions", query).json()
    assert as_json == api["items"]
    exports = AuditEvent.objects.filter(org=people.acme,
                                        action="course_completions.exported")
    assert sorted(e.after["format"] for e in exports) == ["csv", "json"]
    assert all(e.after["filters"] == {"status": "failed"} for e in exports)


@pytest.mark.parametrize("name", ["bob", "rita"])
def test_authors_and_reviewers_are_refused(people: People, world: World, name: str) -> None:
    client = client_for(getattr(people, name))
    for url in urls(world):
        assert client.get(url).status_code == 403, url
    course_page = html(client.get(f"/o/acme/courses/{world.live.course.pk}/"))
    assert "/completions/" not in course_page
    assert not AuditEvent.objects.filter(action__startswith="course_completions.").exists()


def test_mallory_finds_nothing(people: People, world: World) -> None:
    mallory = client_for(people.mallory)
    for url in (*urls(world), *urls(world, "globex")):
        response = mallory.get(url)
        assert response.status_code == 404, url
        assert b"Northwind" not in response.content
    # her own course's page works and shows only Globex's learner
    own = html(mallory.get(f"/o/globex/courses/{world.globex_live.course.pk}/completions/"))
    assert "1 learner record" in own
    assert not AuditEvent.objects.filter(org=people.acme,
                                         action__startswith="course_completions.").exists()


# --- the chart layout -------------------------------------------------------------------


def test_columns_are_proportional_and_start_at_the_baseline() -> None:
    chart = column_chart("c", "t", "d", [("a", 0, ""), ("b", 2, ""), ("c", 4, "")])
    _, baseline, _, _ = chart.axis
    heights = [bar.height for bar in chart.bars]
    assert heights[0] == 0
    assert heights[2] == pytest.approx(2 * heights[1])
    assert all(bar.y + bar.height == pytest.approx(baseline) for bar in chart.bars)
    assert [label.text for label in chart.y_labels] == ["0", "1", "2", "3", "4"]
    # every n-th label and the last, never two crowded together
    many = column_chart("m", "t", "d", [(str(i), 1, "") for i in range(32)], label_every=5)
    assert [label.text for label in many.x_labels] == ["0", "5", "10", "15", "20", "25", "31"]
    # an empty series still draws an axis from 0 to 1
    empty = column_chart("e", "t", "d", [("a", 0, "")])
    assert [label.text for label in empty.y_labels] == ["0", "1"]


def test_rows_are_proportional_and_long_names_are_cut() -> None:
    name = "A screen with a very long title that does not fit"
    chart = row_chart("r", "t", "d", [(name, 6, ""), ("Short", 3, "")])
    assert chart.bars[0].width == pytest.approx(2 * chart.bars[1].width)
    assert chart.y_labels[0].text.endswith("…")
    assert chart.y_labels[0].full == name
    assert chart.y_labels[1].full == ""
    assert [v.text for v in chart.values] == ["6", "3"]


def test_durations_read_like_people_write_them() -> None:
    assert duration_text(0) == "0 s"
    assert duration_text(45) == "45 s"
    assert duration_text(900) == "15 min 0 s"
    assert duration_text(3 * 3600 + 65) == "3 h 1 min"

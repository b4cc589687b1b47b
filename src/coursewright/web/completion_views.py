"""The dashboard's completions page of a course: the completion records (one per
anonymous learner, deployment and license), their figures as three charts —
completions per day, score distribution, drop-off by screen — and CSV/JSON exports.

Who may see it: whoever may see the course's logs (``web.log_views``), owners and
admins (``org_view(roles=MANAGING_ROLES)``: anyone else in the organisation gets a 403
page, someone outside it a 404). The records, the summary and the exports are
``tracking.completions``'s and ``tracking.api_completions``'s, so the page, ``GET
/api/v1/courses/{id}/completions[/summary]`` and the files agree; the form only turns
the page's dates (whole UTC days, both included) into that filter. Every page view and
export writes an audit row: these are learner records.

The charts are SVG drawn here, on the server (no script, no chart library, nothing
from another origin under the strict CSP): each has a title and a description naming
its main figures, and a table of the same figures right under it for anyone who cannot
read a chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET

from coursewright.courses.models import Course
from coursewright.delivery.models import Deployment, License
from coursewright.errors import Invalid
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import MANAGING_ROLES
from coursewright.tracking.completions import (
    MAX_SUMMARY_DAYS,
    CompletionFilter,
    CompletionRecord,
    Summary,
    all_records,
    check_filter,
    export_response,
    record_completions_read,
    summary_of,
)
from coursewright.web.access import OrgRequest, org_view, web_actor

PAGE_SIZE = 50
MAX_SCREENS_CHARTED = 15
STATUS_CHOICES = [("", "Any status"), ("completed", "Completed"),
                  ("incomplete", "Incomplete"), ("not_attempted", "Not attempted"),
                  ("passed", "Passed"), ("failed", "Failed")]
SOURCE_NAMES = {"launch": "Launch", "cmi5": "cmi5", "xapi": "xAPI"}


class CompletionFilterForm(forms.Form):
    license = forms.TypedChoiceField(label="License", required=False, coerce=int,
                                     empty_value=None)
    deployment = forms.TypedChoiceField(label="Deployment", required=False, coerce=int,
                                        empty_value=None)
    status = forms.ChoiceField(label="Status", required=False, choices=STATUS_CHOICES)
    since = forms.DateField(label="From", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, course: Course, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        licenses = License.objects.filter(org_id=course.org_id).order_by("name", "pk")
        license_field = self.fields["license"]
        assert isinstance(license_field, forms.TypedChoiceField)
        license_field.choices = [("", "Any license"), *(
            (str(lic.pk), lic.name if lic.status == "active"
             else f"{lic.name} ({lic.get_status_display().lower()})") for lic in licenses)]
        deployments = (Deployment.objects.filter(org_id=course.org_id, course=course)
                       .select_related("version").order_by("-id"))
        deployment_field = self.fields["deployment"]
        assert isinstance(deployment_field, forms.TypedChoiceField)
        deployment_field.choices = [("", "Any deployment"), *(
            (str(d.pk), f"Version {d.version.number} · {d.get_channel_display().lower()} · "
                        f"{d.created_at:%d %b %Y}") for d in deployments)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” must not be after “To”.")
        if since and until and (until - since).days >= MAX_SUMMARY_DAYS:
            raise forms.ValidationError(
                f"Choose at most {MAX_SUMMARY_DAYS} days: the chart shows one bar a day.")
        return data

    def filters(self) -> CompletionFilter:
        if not self.is_bound:
            return CompletionFilter()
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        return CompletionFilter(
            license_id=data.get("license"), deployment_id=data.get("deployment"),
            status=data.get("status") or "",
            since=datetime.combine(since, time.min, UTC) if since else None,
            until=datetime.combine(until + timedelta(days=1), time.min, UTC) if until
            else None)


# --- charts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    tip: str  # the bar's tooltip (its label and value)


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    full: str = ""  # the untruncated text, when ``text`` was cut


@dataclass
class Chart:
    """An SVG bar chart, laid out here; ``web/_chart.html`` draws it."""

    id: str
    title: str
    desc: str
    width: int
    height: int
    horizontal: bool = False
    bars: list[Bar] = field(default_factory=list)
    x_labels: list[Label] = field(default_factory=list)  # category (or value) labels
    y_labels: list[Label] = field(default_factory=list)
    grid: list[float] = field(default_factory=list)  # value lines (y, or x when horizontal)
    values: list[Label] = field(default_factory=list)  # figures drawn at the bars' ends
    axis: tuple[float, float, float, float] = (0, 0, 0, 0)  # the baseline x1, y1, x2, y2
    empty: str = ""  # said instead when there is nothing to draw

    @property
    def title_id(self) -> str:
        return f"{self.id}-title"

    @property
    def desc_id(self) -> str:
        return f"{self.id}-desc"


def _ticks(top: int) -> list[int]:
    """Up to five whole-number gridline values from 0 to at least ``top``."""
    step = max(1, math.ceil(top / 4))
    return list(range(0, step * math.ceil(max(top, 1) / step) + 1, step))


def column_chart(chart_id: str, title: str, desc: str, items: list[tuple[str, int, str]],
                 *, label_every: int = 1, width: int = 960, height: int = 260) -> Chart:
    """Vertical bars: ``items`` are (axis label, value, tooltip); every
    ``label_every``-th label is drawn, and the last (then not one just before it)."""
    left, right, top, bottom = 48, 12, 14, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _ticks(max((v for _, v, _ in items), default=0))
    scale = plot_h / ticks[-1]
    slot = plot_w / max(1, len(items))
    chart = Chart(id=chart_id, title=title, desc=desc, width=width, height=height,
                  axis=(left, top + plot_h, left + plot_w, top + plot_h))
    for tick in ticks:
        y = top + plot_h - tick * scale
        chart.grid.append(round(y, 2))
        chart.y_labels.append(Label(left - 8, round(y + 5, 2), str(tick)))
    gap = min(slot * 0.2, 8)
    for index, (label, value, tip) in enumerate(items):
        x = left + index * slot + gap / 2
        bar_h = value * scale
        chart.bars.append(Bar(round(x, 2), round(top + plot_h - bar_h, 2),
                              round(max(slot - gap, 1), 2), round(bar_h, 2), tip))
        last = len(items) - 1
        if index == last or (index % label_every == 0 and last - index >= label_every / 2):
            chart.x_labels.append(Label(round(x + (slot - gap) / 2, 2), height - bottom + 20,
                                        label))
    return chart


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1].rstrip() + "…"


def row_chart(chart_id: str, title: str, desc: str, items: list[tuple[str, int, str]],
              *, width: int = 960) -> Chart:
    """Horizontal bars: ``items`` are (row label, value, tooltip), top to bottom."""
    left, right, top, bottom, row = 280, 56, 10, 32, 36
    height = top + bottom + row * max(1, len(items))
    plot_w = width - left - right
    ticks = _ticks(max((v for _, v, _ in items), default=0))
    scale = plot_w / ticks[-1]
    chart = Chart(id=chart_id, title=title, desc=desc, width=width, height=height,
                  horizontal=True, axis=(left, top, left, height - bottom))
    for tick in ticks:
        x = left + tick * scale
        chart.grid.append(round(x, 2))
        chart.x_labels.append(Label(round(x, 2), height - bottom + 20, str(tick)))
    for index, (label, value, tip) in enumerate(items):
        y = top + index * row
        chart.bars.append(Bar(left, y + 7, round(max(value * scale, 1), 2), row - 14, tip))
        cut = _cut(label, 36)
        chart.y_labels.append(Label(left - 10, y + row / 2 + 5, cut,
                                    label if cut != label else ""))
        chart.values.append(Label(round(left + value * scale + 8, 2), y + row / 2 + 5,
                                  str(value)))
    return chart


def _day(day: date) -> str:
    return f"{day.day} {day:%b}"


def _percent(value: float) -> str:
    return f"{round(value * 100)}%"


def screen_label(screen: str, title: str | None, position: int | None) -> str:
    if not screen:
        return "No bookmark (never left the start)"
    if title is None:
        return f"Screen “{screen}” (not in these versions)"
    return f"{position}. {title}"


def charts(summary: Summary) -> list[Chart]:
    days = summary.completions_per_day
    total = sum(n for _, n in days)
    busiest = max(days, key=lambda d: d[1], default=None)
    span = f"{_day(summary.first_day)} to {_day(summary.last_day)} {summary.last_day.year}"
    day_desc = f"{total} completion{'s' if total != 1 else ''} from {span}" + (
        f"; the most on {_day(busiest[0])} ({busiest[1]})." if busiest and busiest[1]
        else ".")
    per_day = column_chart(
        "chart-days", f"Completions per day, {span}", day_desc,
        [(_day(d), n, f"{d:%d %b %Y}: {n}") for d, n in days],
        label_every=max(1, math.ceil(len(days) / 7)))
    scored = sum(b.count for b in summary.scores)
    score_desc = (f"Best scores of {scored} learner{'s' if scored != 1 else ''}"
                  + (f", average {_percent(summary.average_score)}."
                     if summary.average_score is not None else "."))
    scores = column_chart(
        "chart-scores", "Score distribution", score_desc,
        [(f"{round(b.low * 100)}–{round(b.high * 100)}", b.count,
          f"{_percent(b.low)} to {_percent(b.high)}: {b.count}") for b in summary.scores])
    if not scored:
        scores.empty = "No scores yet."
    screens = summary.drop_off[:MAX_SCREENS_CHARTED]
    stopped = sum(s.attempts for s in summary.drop_off)
    drop_desc = (f"{stopped} unfinished launch attempt{'s' if stopped != 1 else ''}"
                 + (f"; the most stopped at {screen_label(screens[0].screen, screens[0].title, screens[0].position)} ({screens[0].attempts})."  # noqa: E501
                    if screens else "."))
    drop = row_chart(
        "chart-dropoff", "Where unfinished attempts stopped", drop_desc,
        [(screen_label(s.screen, s.title, s.position), s.attempts,
          f"{screen_label(s.screen, s.title, s.position)}: {s.attempts}") for s in screens])
    if not screens:
        drop.empty = "No unfinished launch attempts."
    return [per_day, scores, drop]


# --- the page -----------------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _row(record: CompletionRecord) -> dict[str, Any]:
    return {"record": record, "time": duration_text(record.time_spent),
            "score": None if record.score is None else _percent(record.score),
            "sources": ", ".join(SOURCE_NAMES[s] for s in ("launch", "cmi5", "xapi")
                                 if s in record.sources),
            "status_text": dict(STATUS_CHOICES)[record.status]}


def _course(request: OrgRequest, course_id: int) -> Course:
    return get_scoped(Course, request.principal, pk=course_id, org=request.org)


def _filters(request: OrgRequest, course: Course
             ) -> tuple[CompletionFilterForm, CompletionFilter | None]:
    form = CompletionFilterForm(request.GET or None, course=course)
    if form.is_bound and not form.is_valid():
        return form, None
    try:
        return form, check_filter(course, form.filters(), summary=True)
    except Invalid as exc:  # the form offers only valid values; kept for a forged query
        form.add_error(None, exc.message)
        return form, None


def _query(request: OrgRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@org_view(roles=MANAGING_ROLES)
@require_GET
def completions_page(request: OrgRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id)
    form, filters = _filters(request, course)
    context: dict[str, Any] = {"course": course, "form": form,
                               "filter_query": _query(request)}
    if filters is None:
        return render(request, "web/completions.html", context, status=400)
    records = all_records(course, filters)
    summary = summary_of(course, filters, records)
    record_completions_read(course, actor=web_actor(request), view="page", filters=filters)
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    context.update(summary=summary, charts=charts(summary), page=page,
                   rows=[_row(r) for r in page.object_list],
                   average=None if summary.average_score is None
                   else _percent(summary.average_score))
    return render(request, "web/completions.html", context)


# org_view is typed for HttpResponse; a streamed export is an HttpResponseBase
@org_view(roles=MANAGING_ROLES)  # type: ignore[arg-type]
@require_GET
def completions_export(request: OrgRequest, course_id: int,
                       fmt: str) -> HttpResponse | StreamingHttpResponse:
    course = _course(request, course_id)
    form, filters = _filters(request, course)
    if filters is None:
        return render(request, "web/completions.html",
                      {"course": course, "form": form, "filter_query": _query(request)},
                      status=400)
    assert fmt in ("csv", "json")
    records = all_records(course, filters)
    record_completions_read(course, actor=web_actor(request), view="records",
                            filters=filters, fmt=fmt)
    return export_response(course, "csv" if fmt == "csv" else "json", records)


_BASE = "o/<slug:org_slug>/courses/<int:course_id>/completions/"
patterns: list[URLPattern] = [
    path(_BASE, completions_page, name="course_completions"),
    *(path(f"{_BASE}completions.{fmt}", completions_export, {"fmt": fmt},
           name=f"course_completions_{fmt}") for fmt in ("csv", "json")),
]

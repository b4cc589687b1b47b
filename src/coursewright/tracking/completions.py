"""Completion records of a course: who (an anonymous id) reached what, from the three
places learners' results arrive, computed when they are read.

Design note
-----------
- **Read side only.** Nothing is stored for this and nothing is added to the launch,
  report or LRS ingestion paths: each read aggregates what those paths already keep,
  with SQL aggregates per source (one grouped query each), then merges the groups in
  Python. So a record is always as fresh as its sources, deleting or purging a source
  row (learner deletion, retention, course or organisation deletion) removes it from
  every record at once, and no new table needs privacy hooks of its own.
- **The sources.**
  ``launch``: ``delivery.LaunchProgress``, one row per launch session of a SCORM (or
  cmi5 dispatch) package, filed by ``delivery.reports``; grouped by deployment, license
  and hashed learner. ``cmi5``: ``cmi5.Registration`` (one per license, course and
  learner) with its AU sessions, for launches through the platform's own launching
  system; the score comes from the passed/failed statements of its registration in our
  LRS. ``xapi``: every other statement of the LRS about the course's activities (the
  xAPI package's, a third-party cmi5 LMS's), grouped by the credential's license and the
  actor's keyed hash; statements of a cmi5 registration of ours are that
  registration's, never a second record.
- **Which statements are the course's.** Those whose object, or a context activity
  (cmi5's grouping holds the publisher's AU id), is one of the course's activity IRIs:
  ``publishing.actions.activity_base`` (the TinCan activity and the cmi5 course), its
  AUs ``<base>/au`` and ``<base>/au/<screen>`` for every screen of every approved
  version, and the ids the launching system makes from them (``cmi5.launching.
  generated_id``). Matching is by the indexed IRI digests; voided statements are left
  out. Only statements that carry a result we need are decrypted: completed, passed,
  failed and terminated.
- **One record** per (course, deployment where known, license where known, learner).
  The learner is the per-license pseudonym from launches and cmi5, or the LRS's keyed
  hash of the actor; a launch that sent no learner id is a record of its own.
  A cmi5 registration is filed under the deployment of its latest launched session.
  When two sources give the same key, their figures are merged.
- **The figures.** ``completion``: completed when any attempt completed (xAPI:
  completed, passed, failed or satisfied was sent; cmi5: the registration is satisfied
  or every AU completed), else incomplete when anything was attempted, else not
  attempted. ``success``: passed when any attempt passed (cmi5: every AU that needs a
  pass passed), else failed when any failed, else unknown. ``score``: the **best**
  scaled score (0..1) of any attempt — a retake never lowers it. ``attempts``: launch
  sessions that reported (launch), initialized AU sessions (cmi5), initialized
  statements (xAPI; at least 1 when there are statements). ``time_spent``: seconds;
  launch: the sum of ``updated_at - created_at`` per attempt (first to last report);
  cmi5: the sum of ``terminated - initialized`` of the sessions that terminated (an
  abandoned session counts nothing); xAPI: ``result.duration`` per session (the cmi5
  session id, else the registration, else all the learner's statements with neither):
  its terminated statements' durations when there are any (each closes an attempt and
  carries the attempt's whole time), else the longest of its completed/passed/failed
  ones (each carries the time so far), summed over the sessions; ISO 8601 years and
  months count 365 and 30 days. ``first_activity``/``last_activity``: the earliest and
  latest time any source saw the learner (LRS: the stored time, not the client's
  timestamp). ``completed_at``: the first completion (xAPI: the first completed,
  passed, failed or satisfied statement stored; cmi5: when the last AU completed).
- **Filters.** Deployment and license (another organisation's license, or a deployment
  of another course, is refused like one that does not exist), status
  (``not_attempted``, ``incomplete``, ``completed``, ``passed``, ``failed``) and a date
  range: a record matches when its activity (first to last) overlaps [since, until).
  Records are ordered by last activity, newest first.
- **Summary** (the dashboard's chart): completions per UTC day over the range (the last
  30 days when none is given; at most 366 days), counted by each selected record's
  ``completed_at``; the distribution of the selected records' scores in tenths; and
  drop-off: for the launch attempts of the selected records that did not complete, how
  many stopped at each screen (the bookmark), named from the versions' content.
- **Cost.** Every read aggregates the course's whole history (a grouped query per
  source) and decrypts the course's result-bearing statements; fine for thousands of
  learners per course, the point to add a materialised table if courses reach millions.
- **Exports** (the API's and the dashboard's): every matching record as CSV (through
  ``csvexport``, formula cells defused) or a JSON array of the API's rows, streamed.
- Reads of records are reads of learner data: callers record them in the audit log
  (``record_completions_read``) after the filters were checked.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import CombinedExpression
from django.http import StreamingHttpResponse
from django.utils import timezone

from coursewright.audit.actions import record_read
from coursewright.audit.actor import Actor
from coursewright.cmi5.launching import generated_id
from coursewright.cmi5.models import AuSession, Registration
from coursewright.courses.content import CourseContent
from coursewright.courses.models import IMMUTABLE_STATES, Course, CourseVersion
from coursewright.csvexport import csv_lines
from coursewright.delivery.models import (
    Completion,
    Deployment,
    LaunchProgress,
    License,
    Success,
)
from coursewright.errors import Invalid
from coursewright.publishing.actions import activity_base
from coursewright.tracking.models import Statement, StatementActivity
from coursewright.tracking.statements import iri_digest, open_statement, voided_ids

ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = {name: ADL + name for name in ("initialized", "completed", "passed", "failed",
                                       "terminated")}
VERBS["satisfied"] = "https://w3id.org/xapi/adl/verbs/satisfied"
VERB_DIGESTS = {name: iri_digest(iri) for name, iri in VERBS.items()}
RESULT_VERBS = ("completed", "passed", "failed", "terminated")  # the ones decrypted
SESSION_EXT = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"

NOT_ATTEMPTED, INCOMPLETE, COMPLETED = "not_attempted", "incomplete", "completed"
PASSED, FAILED, UNKNOWN = "passed", "failed", "unknown"
COMPLETIONS = (NOT_ATTEMPTED, INCOMPLETE, COMPLETED)
STATUSES = (NOT_ATTEMPTED, INCOMPLETE, COMPLETED, PASSED, FAILED)
SOURCES = ("launch", "cmi5", "xapi")
SUMMARY_DAYS = 30
MAX_SUMMARY_DAYS = 366

# (deployment id, license id, learner, attempt id for a launch without a learner id)
Key = tuple[int | None, int | None, str, int]
K = TypeVar("K")
ExportFormat = Literal["csv", "json"]


# --- filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionFilter:
    deployment_id: int | None = None
    license_id: int | None = None
    status: str = ""
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def as_dict(self) -> dict[str, str]:
        return {k: v.isoformat() if isinstance(v, datetime) else str(v)
                for k, v in asdict(self).items() if v is not None and v != ""}


def _aware(value: datetime | None) -> datetime | None:
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, UTC)


def check_filter(course: Course, filters: CompletionFilter, *,
                 summary: bool = False) -> CompletionFilter:
    """``filters`` with naive times read as UTC; :class:`Invalid` (``bad_filter``) naming
    every problem. ``summary``: the range must also fit the chart (at most 366 days)."""
    problems: list[dict[str, Any]] = []
    if filters.status and filters.status not in STATUSES:
        problems.append({"field": "status",
                         "message": "status must be one of " + ", ".join(STATUSES)})
    if filters.license_id is not None and not License.objects.filter(
            org_id=course.org_id, pk=filters.license_id).exists():
        # another organisation's license is reported exactly like one that does not exist
        problems.append({"field": "license_id",
                         "message": "no such license in this organisation"})
    if filters.deployment_id is not None and not Deployment.objects.filter(
            org_id=course.org_id, course=course, pk=filters.deployment_id).exists():
        problems.append({"field": "deployment_id",
                         "message": "no such deployment of this course"})
    since, until = _aware(filters.since), _aware(filters.until)
    if since is not None and until is not None and since > until:
        problems.append({"field": "since", "message": "since must not be after until"})
    elif summary:
        first, last = summary_range(since, until)
        if (last - first).days > MAX_SUMMARY_DAYS:
            problems.append({"field": "since", "message": "the summary covers at most "
                             f"{MAX_SUMMARY_DAYS} days; narrow since and until"})
    if problems:
        raise Invalid("; ".join(p["message"] for p in problems), code="bad_filter",
                      details=problems)
    return CompletionFilter(deployment_id=filters.deployment_id,
                            license_id=filters.license_id, status=filters.status,
                            since=since, until=until)


def summary_range(since: datetime | None, until: datetime | None) -> tuple[date, date]:
    """The chart's first day and the day after its last (UTC days): the range's days, up
    to today when it has no end, or the last ``SUMMARY_DAYS`` days when it has neither."""
    tomorrow = timezone.now().astimezone(UTC).date() + timedelta(days=1)
    if until is not None:
        moment = until.astimezone(UTC)
        end = moment.date() + (timedelta(0) if moment.time() == time.min
                               else timedelta(days=1))  # until is exclusive
    elif since is not None:
        end = max(tomorrow, since.astimezone(UTC).date() + timedelta(days=1))
    else:
        end = tomorrow
    start = (since.astimezone(UTC).date() if since is not None
             else end - timedelta(days=SUMMARY_DAYS))
    return start, max(start, end)


# --- records ----------------------------------------------------------------------------


@dataclass
class CompletionRecord:
    course_id: int
    learner: str  # "" for a launch that sent no learner id
    license_id: int | None
    deployment_id: int | None
    sources: set[str] = field(default_factory=set)
    completion: str = NOT_ATTEMPTED
    success: str = UNKNOWN
    score: float | None = None  # the best scaled score, 0..1
    attempts: int = 0
    time_spent: float = 0.0  # seconds
    first_activity: datetime | None = None
    last_activity: datetime | None = None
    completed_at: datetime | None = None
    license_name: str | None = None
    version: int | None = None  # the number of the deployment's version
    # a launch that sent no learner id is a record of its own: its progress row's id
    anonymous_attempt: int = 0

    @property
    def status(self) -> str:
        """The one word a list shows: passed/failed when judged, else the completion."""
        return self.success if self.success in (PASSED, FAILED) else self.completion

    def merge(self, other: CompletionRecord) -> None:
        self.sources |= other.sources
        self.completion = max(self.completion, other.completion, key=COMPLETIONS.index)
        self.success = (PASSED if PASSED in (self.success, other.success) else
                        FAILED if FAILED in (self.success, other.success) else UNKNOWN)
        self.score = _best(self.score, other.score)
        self.attempts += other.attempts
        self.time_spent += other.time_spent
        self.first_activity = _earliest(self.first_activity, other.first_activity)
        self.last_activity = _latest(self.last_activity, other.last_activity)
        self.completed_at = _earliest(self.completed_at, other.completed_at)

    def matches(self, filters: CompletionFilter) -> bool:
        if filters.deployment_id is not None and self.deployment_id != filters.deployment_id:
            return False
        if filters.license_id is not None and self.license_id != filters.license_id:
            return False
        if filters.status in COMPLETIONS and self.completion != filters.status:
            return False
        if filters.status in (PASSED, FAILED) and self.success != filters.status:
            return False
        if filters.since is not None and (self.last_activity is None
                                          or self.last_activity < filters.since):
            return False
        return not (filters.until is not None and (
            self.first_activity is None or self.first_activity >= filters.until))

    def as_row(self) -> dict[str, Any]:
        return {
            "course_id": self.course_id, "learner": self.learner,
            "sources": sorted(self.sources, key=SOURCES.index),
            "license_id": self.license_id, "license_name": self.license_name,
            "deployment_id": self.deployment_id, "version": self.version,
            "status": self.status, "completion": self.completion, "success": self.success,
            "score": None if self.score is None else round(self.score, 4),
            "attempts": self.attempts, "time_spent": round(self.time_spent),
            "first_activity": _iso(self.first_activity),
            "last_activity": _iso(self.last_activity),
            "completed_at": _iso(self.completed_at),
        }


ROW_COLUMNS = ("course_id", "learner", "sources", "license_id", "license_name",
               "deployment_id", "version", "status", "completion", "success", "score",
               "attempts", "time_spent", "first_activity", "last_activity", "completed_at")


def _iso(moment: datetime | None) -> str | None:
    """As the API's JSON writes times: UTC, "Z", milliseconds."""
    if moment is None:
        return None
    text: str = DjangoJSONEncoder().default(moment.astimezone(UTC))
    return text


def _best(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _seconds(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    return max(0.0, float(value) / 1_000_000)  # a backend that sums microseconds


def _flag(condition: Q) -> Max:
    return Max(Case(When(condition, then=Value(1)), default=Value(0),
                    output_field=IntegerField()))


def _span(later: str, earlier: str) -> ExpressionWrapper[CombinedExpression]:
    return ExpressionWrapper(F(later) - F(earlier), output_field=DurationField())


def _launch_records(course: Course, filters: CompletionFilter) -> list[CompletionRecord]:
    rows = LaunchProgress.objects.filter(org_id=course.org_id, course=course)
    if filters.license_id is not None:
        rows = rows.filter(license_id=filters.license_id)
    if filters.deployment_id is not None:
        rows = rows.filter(deployment_id=filters.deployment_id)
    grouped = (rows.annotate(anonymous=_anonymous_attempt())
               .values("deployment_id", "license_id", "learner", "anonymous")
               .annotate(n=Count("id"),
                         completed=_flag(Q(completion=Completion.COMPLETED)),
                         started=_flag(Q(completion__in=[Completion.INCOMPLETE,
                                                         Completion.UNKNOWN])),
                         passed=_flag(Q(success=Success.PASSED)),
                         failed=_flag(Q(success=Success.FAILED)),
                         best=Max("score"), first=Min("created_at"), last=Max("updated_at"),
                         done=Min("completed_at"),
                         spent=Sum(_span("updated_at", "created_at")))
               .order_by())
    records = []
    for g in grouped:
        records.append(CompletionRecord(
            course_id=course.pk, learner=g["learner"], license_id=g["license_id"],
            deployment_id=g["deployment_id"], sources={"launch"},
            completion=(COMPLETED if g["completed"] else INCOMPLETE if g["started"]
                        else NOT_ATTEMPTED),
            success=PASSED if g["passed"] else FAILED if g["failed"] else UNKNOWN,
            score=g["best"], attempts=g["n"], time_spent=_seconds(g["spent"]),
            first_activity=g["first"], last_activity=g["last"], completed_at=g["done"],
            anonymous_attempt=g["anonymous"]))
    return records


def _anonymous_attempt() -> Case:
    """A launch without a learner id is its own learner: grouped by its row id."""
    return Case(When(learner="", then=F("id")), default=Value(0),
                output_field=IntegerField())


# --- the LRS's part ---------------------------------------------------------------------


def course_activity_iris(course: Course) -> set[str]:
    """Every activity IRI a statement about ``course`` may name (see the module note)."""
    base = activity_base(course)
    aus = {f"{base}/au"}
    for version in CourseVersion.objects.filter(org_id=course.org_id, course=course,
                                                state__in=IMMUTABLE_STATES):
        content = CourseContent.model_validate(version.content)
        aus |= {f"{base}/au/{screen.id}" for screen in content.screens}
    return {base, generated_id("course", base), *aus,
            *(generated_id("au", au) for au in aus)}


def _course_statements(course: Course) -> QuerySet[Statement]:
    digests = sorted({iri_digest(iri) for iri in course_activity_iris(course)})
    related = StatementActivity.objects.filter(activity__in=digests).values("statement_id")
    return (Statement.objects.filter(org_id=course.org_id, voiding=False)
            .filter(Q(activity__in=digests) | Q(pk__in=related))
            .exclude(statement_id__in=voided_ids(course.org_id)))


_DURATION = re.compile(
    r"^P(?:(?P<Y>\d+(?:[.,]\d+)?)Y)?(?:(?P<Mo>\d+(?:[.,]\d+)?)M)?(?:(?P<W>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<D>\d+(?:[.,]\d+)?)D)?(?:T(?:(?P<H>\d+(?:[.,]\d+)?)H)?"
    r"(?:(?P<Mi>\d+(?:[.,]\d+)?)M)?(?:(?P<S>\d+(?:[.,]\d+)?)S)?)?$")
_UNIT_SECONDS = {"Y": 365 * 86400, "Mo": 30 * 86400, "W": 7 * 86400, "D": 86400,
                 "H": 3600, "Mi": 60, "S": 1}


def duration_seconds(text: Any) -> float | None:
    """An ISO 8601 duration in seconds (a year counts 365 days, a month 30); None when it
    is not one."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    found = _DURATION.match(text)
    if found is None or text in ("P", "PT") or text.endswith("T"):
        return None
    return sum(float(value.replace(",", ".")) * _UNIT_SECONDS[unit]
               for unit, value in found.groupdict().items() if value is not None)


@dataclass
class _Results:
    """What the decrypted statements of one learner (or registration) say."""

    score: float | None = None
    # per session: [the terminated statements' durations, summed; the longest other one]
    sessions: dict[str, list[float | None]] = field(default_factory=dict)

    def add(self, statement: dict[str, Any], verb: str) -> None:
        result = statement.get("result")
        if not isinstance(result, dict):
            return
        score = result.get("score")
        scaled = score.get("scaled") if isinstance(score, dict) else None
        if isinstance(scaled, int | float) and not isinstance(scaled, bool):
            self.score = _best(self.score, min(1.0, max(0.0, float(scaled))))
        seconds = duration_seconds(result.get("duration"))
        if seconds is None:
            return
        context = statement.get("context")
        context = context if isinstance(context, dict) else {}
        extensions = context.get("extensions")
        # the cmi5 session, else the registration, else all of the learner's statements
        # without either (then every terminated statement closed an attempt of its own)
        session = (extensions.get(SESSION_EXT) if isinstance(extensions, dict) else None) \
            or context.get("registration") or ""
        slot = self.sessions.setdefault(str(session), [None, None])
        if verb == "terminated":
            slot[0] = (slot[0] or 0.0) + seconds
        else:
            slot[1] = seconds if slot[1] is None else max(slot[1], seconds)

    @property
    def seconds(self) -> float:
        return sum(t if t is not None else (o or 0.0) for t, o in self.sessions.values())


def _results(course: Course, rows: QuerySet[Statement],
             key: Callable[[Statement], K]) -> dict[K, _Results]:
    """Decrypt the result-bearing statements of ``rows`` (only those), by ``key``."""
    names = {VERB_DIGESTS[v]: v for v in RESULT_VERBS}
    key_id = str(course.org.key_id)
    out: dict[K, _Results] = defaultdict(_Results)
    wanted = rows.filter(verb__in=list(names)).only(
        "statement_id", "data", "verb", "license_id", "actor", "registration").order_by()
    for row in wanted.iterator(chunk_size=500):
        out[key(row)].add(open_statement(key_id, row), names[row.verb])
    return out


def _xapi_records(course: Course, filters: CompletionFilter,
                  statements: QuerySet[Statement]) -> list[CompletionRecord]:
    if filters.deployment_id is not None:
        return []  # the LRS does not know deployments
    ours = Registration.objects.filter(course=course).values("registration")
    rows = statements.filter(Q(registration__isnull=True) | ~Q(registration__in=ours)) \
        .exclude(actor="")
    if filters.license_id is not None:
        rows = rows.filter(license_id=filters.license_id)
    d = VERB_DIGESTS
    finished = [d["completed"], d["passed"], d["failed"], d["satisfied"]]
    grouped = (rows.values("license_id", "actor")
               .annotate(initialized=Count("id", filter=Q(verb=d["initialized"])),
                         completed=_flag(Q(verb__in=finished)),
                         passed=_flag(Q(verb=d["passed"])), failed=_flag(Q(verb=d["failed"])),
                         first=Min("stored"), last=Max("stored"),
                         done=Min(Case(When(verb__in=finished, then=F("stored")))))
               .order_by())
    results = _results(course, rows, lambda row: (row.license_id, row.actor))
    records = []
    for g in grouped:
        found = results.get((g["license_id"], g["actor"]), _Results())
        records.append(CompletionRecord(
            course_id=course.pk, learner=g["actor"], license_id=g["license_id"],
            deployment_id=None, sources={"xapi"},
            completion=COMPLETED if g["completed"] else INCOMPLETE,
            success=PASSED if g["passed"] else FAILED if g["failed"] else UNKNOWN,
            score=found.score, attempts=max(1, g["initialized"]), time_spent=found.seconds,
            first_activity=g["first"], last_activity=g["last"], completed_at=g["done"]))
    return records


# --- cmi5 registrations -------------------------------------------------------------------


def _cmi5_records(course: Course, filters: CompletionFilter,
                  statements: QuerySet[Statement]) -> list[CompletionRecord]:
    registrations = Registration.objects.filter(org_id=course.org_id, course=course)
    if filters.license_id is not None:
        registrations = registrations.filter(license_id=filters.license_id)
    latest_deployment = (AuSession.objects.filter(registration=OuterRef("pk"),
                                                  launch__isnull=False)
                         .order_by("-created_at", "-id").values("launch__deployment_id")[:1])
    found = list(registrations.annotate(
        deployment=Subquery(latest_deployment),
        initialized=Count("sessions", filter=Q(sessions__initialized_at__isnull=False)),
        first_session=Min("sessions__created_at"),
        last_created=Max("sessions__created_at"),
        last_initialized=Max("sessions__initialized_at"),
        last_terminated=Max("sessions__terminated_at"),
        spent=Sum(_span("sessions__terminated_at", "sessions__initialized_at"),
                  # terminated is the AU's clock, initialized ours: skip a skewed pair
                  filter=Q(sessions__terminated_at__gt=F("sessions__initialized_at"))),
    ).values("registration", "license_id", "learner", "structure", "achieved",
             "satisfied_at", "created_at", "deployment", "initialized", "first_session",
             "last_created", "last_initialized", "last_terminated", "spent").order_by())
    if not found:
        return []
    mine = statements.filter(registration__in=registrations.values("registration"))
    seen: dict[uuid.UUID | None, dict[str, Any]] = {
        g["registration"]: dict(g) for g in mine.values("registration").annotate(
        first=Min("stored"), last=Max("stored")).order_by()}
    # when each AU first completed (the object of its statements is our id for the AU)
    au_completed: dict[uuid.UUID | None, dict[str, datetime]] = defaultdict(dict)
    for g in (mine.filter(verb=VERB_DIGESTS["completed"]).values("registration", "activity")
              .annotate(at=Min("stored")).order_by()):
        au_completed[g["registration"]][g["activity"]] = g["at"]
    results = _results(course, mine.filter(verb__in=[VERB_DIGESTS["passed"],
                                                     VERB_DIGESTS["failed"]]),
                       lambda row: row.registration)
    return [_cmi5_record(course, dict(reg), seen.get(reg["registration"], {}),
                         au_completed.get(reg["registration"], {}),
                         results.get(reg["registration"], _Results())) for reg in found]


def _cmi5_record(course: Course, reg: dict[str, Any], seen: dict[str, Any],
                 au_completed: dict[str, datetime], results: _Results) -> CompletionRecord:
    aus: dict[str, str] = (reg["structure"] or {}).get("aus", {})
    achieved: dict[str, Any] = reg["achieved"] or {}
    judged = [au for au, move_on in aus.items() if "Passed" in move_on]
    completed = reg["satisfied_at"] is not None or (
        bool(aus) and all(achieved.get(au, {}).get("completed") for au in aus))
    passed = bool(judged) and all(achieved.get(au, {}).get("passed") for au in judged)
    failed = any(isinstance(a, dict) and a.get("failed") for a in achieved.values())
    attempted = reg["initialized"] > 0 or bool(achieved)
    done: datetime | None = None
    if completed:  # when the last AU completed (satisfied: when the course was)
        times = [au_completed.get(iri_digest(generated_id("au", au))) for au in aus]
        known = [t for t in times if t is not None]
        done = max(known) if known and len(known) == len(times) else reg["satisfied_at"]
    moments = (reg["created_at"], reg["first_session"], reg["last_created"],
               reg["last_initialized"], reg["last_terminated"], seen.get("first"),
               seen.get("last"))
    known_moments = [m for m in moments if m is not None]
    return CompletionRecord(
        course_id=course.pk, learner=reg["learner"], license_id=reg["license_id"],
        deployment_id=reg["deployment"], sources={"cmi5"},
        completion=COMPLETED if completed else INCOMPLETE if attempted else NOT_ATTEMPTED,
        success=PASSED if passed else FAILED if failed else UNKNOWN,
        score=results.score, attempts=reg["initialized"], time_spent=_seconds(reg["spent"]),
        first_activity=min(known_moments), last_activity=max(known_moments),
        completed_at=done)


# --- putting them together ----------------------------------------------------------------


def _key(record: CompletionRecord) -> Key:
    return (record.deployment_id, record.license_id, record.learner,
            record.anonymous_attempt)


def all_records(course: Course, filters: CompletionFilter) -> list[CompletionRecord]:
    """Every record of ``course`` matching ``filters`` (checked), the latest activity
    first (see the module note)."""
    statements = _course_statements(course)
    merged: dict[Key, CompletionRecord] = {}
    for record in (*_launch_records(course, filters), *_cmi5_records(course, filters, statements),
                   *_xapi_records(course, filters, statements)):
        key = _key(record)
        if key in merged:
            merged[key].merge(record)
        else:
            merged[key] = record
    records = [r for r in merged.values() if r.matches(filters)]
    _name(course, records)
    epoch = datetime.min.replace(tzinfo=UTC)
    records.sort(key=lambda r: (r.last_activity or epoch, r.learner), reverse=True)
    return records


def _name(course: Course, records: Iterable[CompletionRecord]) -> None:
    records = list(records)
    licenses = {r.license_id for r in records if r.license_id is not None}
    deployments = {r.deployment_id for r in records if r.deployment_id is not None}
    names = dict(License.objects.filter(org_id=course.org_id, pk__in=licenses)
                 .values_list("pk", "name")) if licenses else {}
    numbers = dict(Deployment.objects.filter(org_id=course.org_id, pk__in=deployments)
                   .values_list("pk", "version__number")) if deployments else {}
    for record in records:
        record.license_name = names.get(record.license_id) if record.license_id else None
        record.version = numbers.get(record.deployment_id) if record.deployment_id else None


# --- the summary --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreenDropOff:
    screen: str  # the bookmark: a screen id ("" when the attempt set none)
    title: str | None  # the screen's title in the newest version that has it
    position: int | None  # 1-based, in that version
    attempts: int


@dataclass(frozen=True)
class ScoreBin:
    low: float
    high: float  # exclusive, except the last bin's 1.0
    count: int


@dataclass
class Summary:
    first_day: date
    last_day: date  # inclusive
    records: int
    completed: int
    incomplete: int
    not_attempted: int
    passed: int
    failed: int
    average_score: float | None
    completions_per_day: list[tuple[date, int]]
    scores: list[ScoreBin]
    drop_off: list[ScreenDropOff]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.first_day.isoformat(), "until": self.last_day.isoformat(),
            "totals": {"records": self.records, "completed": self.completed,
                       "incomplete": self.incomplete, "not_attempted": self.not_attempted,
                       "passed": self.passed, "failed": self.failed,
                       "average_score": None if self.average_score is None
                       else round(self.average_score, 4)},
            "completions_per_day": [{"date": d.isoformat(), "completions": n}
                                    for d, n in self.completions_per_day],
            "score_distribution": [{"low": b.low, "high": b.high, "records": b.count}
                                   for b in self.scores],
            "drop_off": [asdict(s) for s in self.drop_off],
        }


def score_bins(scores: Iterable[float]) -> list[ScoreBin]:
    counts = [0] * 10
    for score in scores:
        counts[min(9, int(round(score * 100, 6)) // 10)] += 1
    return [ScoreBin(low=i / 10, high=(i + 1) / 10, count=n) for i, n in enumerate(counts)]


def summary_of(course: Course, filters: CompletionFilter,
               records: list[CompletionRecord] | None = None) -> Summary:
    """The chart's figures for the records matching ``filters`` (checked)."""
    if records is None:
        records = all_records(course, filters)
    first_day, end = summary_range(filters.since, filters.until)
    days = [first_day + timedelta(days=n) for n in range((end - first_day).days)]
    per_day: dict[date, int] = dict.fromkeys(days, 0)
    for record in records:
        if record.completed_at is not None:
            day = record.completed_at.astimezone(UTC).date()
            if day in per_day:
                per_day[day] += 1
    scored = [r.score for r in records if r.score is not None]
    return Summary(
        first_day=first_day, last_day=end - timedelta(days=1) if days else first_day,
        records=len(records),
        completed=sum(r.completion == COMPLETED for r in records),
        incomplete=sum(r.completion == INCOMPLETE for r in records),
        not_attempted=sum(r.completion == NOT_ATTEMPTED for r in records),
        passed=sum(r.success == PASSED for r in records),
        failed=sum(r.success == FAILED for r in records),
        average_score=sum(scored) / len(scored) if scored else None,
        completions_per_day=list(per_day.items()),
        scores=score_bins(scored),
        drop_off=drop_off(course, filters, records))


def drop_off(course: Course, filters: CompletionFilter,
             records: list[CompletionRecord]) -> list[ScreenDropOff]:
    """Where the launch attempts of ``records`` that did not complete stopped, most
    attempts first."""
    keys = {_key(r) for r in records if "launch" in r.sources}
    if not keys:
        return []
    rows = LaunchProgress.objects.filter(org_id=course.org_id, course=course).exclude(
        completion=Completion.COMPLETED)
    if filters.license_id is not None:
        rows = rows.filter(license_id=filters.license_id)
    if filters.deployment_id is not None:
        rows = rows.filter(deployment_id=filters.deployment_id)
    counts: dict[str, int] = defaultdict(int)
    versions: set[int] = set()
    for g in (rows.annotate(anonymous=_anonymous_attempt())
              .values("deployment_id", "license_id", "learner", "anonymous", "location",
                      "version_id").annotate(n=Count("id")).order_by()):
        if (g["deployment_id"], g["license_id"], g["learner"], g["anonymous"]) in keys:
            counts[g["location"]] += g["n"]
            if g["version_id"] is not None:
                versions.add(g["version_id"])
    screens = screen_names(course, versions)
    out = [ScreenDropOff(screen=screen, title=screens.get(screen, (None, None))[0],
                         position=screens.get(screen, (None, None))[1], attempts=n)
           for screen, n in counts.items()]
    out.sort(key=lambda s: (-s.attempts, s.position or 10**6, s.screen))
    return out


def screen_names(course: Course, version_ids: Iterable[int]) -> dict[str, tuple[str, int]]:
    """Screen id → (title, 1-based position) from the given versions of ``course``, the
    newest version winning."""
    names: dict[str, tuple[str, int]] = {}
    wanted = list(version_ids)
    if not wanted:
        return names
    for version in CourseVersion.objects.filter(org_id=course.org_id, course=course,
                                                pk__in=wanted).order_by("number"):
        content = CourseContent.model_validate(version.content)
        for position, screen in enumerate(content.screens, start=1):
            names[screen.id] = (screen.title, position)
    return names


# --- exports ---------------------------------------------------------------------------


def _cells(row: dict[str, Any]) -> list[Any]:
    return [" ".join(row[c]) if c == "sources" else row[c] for c in ROW_COLUMNS]


def export_lines(fmt: ExportFormat, records: Iterable[CompletionRecord]) -> Iterator[str]:
    """Every record, as CSV lines (formula-safe; sources space-separated) or one JSON
    array (the rows the API's pages hold), produced lazily."""
    rows = (r.as_row() for r in records)
    if fmt == "csv":
        return csv_lines(ROW_COLUMNS, (_cells(row) for row in rows))
    return _json_array(rows)


def _json_array(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield "["
    for number, row in enumerate(rows):
        yield ("," if number else "") + json.dumps(row)
    yield "]\n"


def export_response(course: Course, fmt: ExportFormat,
                    records: list[CompletionRecord]) -> StreamingHttpResponse:
    """The API's and the dashboard's download of ``records``."""
    content_type = ("text/csv; charset=utf-8" if fmt == "csv"
                    else "application/json; charset=utf-8")
    response = StreamingHttpResponse(export_lines(fmt, records), content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="completions-course-{course.pk}-{stamp}.{fmt}"')
    response["Cache-Control"] = "no-store"
    return response


# --- the audit row ------------------------------------------------------------------------


def record_completions_read(course: Course, *, actor: Actor, view: str,
                            filters: CompletionFilter, fmt: str = "page") -> None:
    """Write the audit row of a read of completion records (``view``: records, summary or
    page; ``fmt``: page, csv or json)."""
    record_read(org=course.org, actor=actor, object_type="course_completions",
                object_id=course.pk,
                action="course_completions.read" if fmt == "page"
                else "course_completions.exported",
                details={"view": view, "filters": filters.as_dict(), "format": fmt})

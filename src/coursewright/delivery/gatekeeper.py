"""The Gatekeeper: decides every launch of a licensed course, and records it.

Design, and what it guarantees:

- **Checked on every call, uncached.** The token's signature is verified with the key
  its ``kid`` names (``delivery.signing``: one algorithm, our key set only), then its
  issuer and audience (``delivery.licenses.read_token``). The license row is then read
  from the database on every launch — no cache anywhere — so a revocation, suspension,
  new cap or new origin list applies to the very next launch. Checks, in order (the
  first failing one is the reason): token → license status → expiry (the row's
  ``expires_at`` *and* the token's ``exp``) → origin → the course is on the license →
  the course has a production deployment → learner cap → launch cap.
- **Origins.** The browser's ``Origin`` header must equal one of the license's allowed
  origins exactly (scheme, host and port, normalised). A launch without an ``Origin``
  (or with ``Origin: null``) is refused unless the license's list is empty, which
  means "any origin". The header is the browser's word, not proof against a non-browser
  client holding the token; it stops a leaked token from being used by another site's
  pages, which is what it can do.
- **Caps are race-free.** A new learner takes a slot with a conditional update
  (``learners < max_learners``), a launch with another (``launches < max_launches``),
  both inside one transaction with the learner's row (inserted with ``ON CONFLICT DO
  NOTHING``, so the same learner arriving twice at once counts once). A refusal rolls
  the whole transaction back: a refused launch uses neither a slot nor a launch. The
  counter updates come last, so the license row is locked only until the commit right
  after them. A learner already seen on the license may always launch again at the
  learner cap. When a license has a learner cap, a launch that names no learner is
  refused (``no_learner``): otherwise leaving the id out would dodge the cap.
- **Learners are pseudonyms.** The LMS's learner id is hashed with HMAC-SHA256 keyed by
  the license's salt and only the hash is stored (launch events, the license's learner
  list, launch sessions); the raw id is never written or logged.
- **Every call leaves a LaunchEvent**, allowed or refused, with the reason code (and
  the license, course and deployment as far as they were known).
- **Launch sessions.** An allowed launch creates a ``LaunchSession`` with a random
  credential (256 bits, returned once; only its SHA-256 is stored) that names the
  deployment and version the learner got, so the rest of the attempt stays on them. A
  learner whose latest reported attempt on the license and course is not completed
  (``LaunchProgress``) is launched on that attempt's deployment and version again, so a
  promotion or rollback never moves anyone mid-attempt (the bookmark and suspend data
  the LMS keeps belong to that version).

Cost: one signature verification (~90 µs) and five indexed statements on the allowed
path: one SELECT (license, course on it, production deployment and version), the
session and the event, the learner upsert and the launch counter (one more for a new
learner's counter, and one indexed SELECT of the learner's latest attempt when the LMS
names a learner). All of them are plain SQL built once per process from the models'
metadata: the ORM spent more time compiling the session and event inserts and the
attempt lookup than the database spent answering them (~1 ms of a ~2.5 ms launch).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Field, Model
from django.utils import timezone

from coursewright.courses.models import Course, CourseVersion
from coursewright.delivery.licenses import hash_learner, read_token, request_origin
from coursewright.delivery.models import (
    Channel,
    ChannelName,
    Completion,
    Deployment,
    LaunchEvent,
    LaunchOutcome,
    LaunchProgress,
    LaunchSession,
    License,
    LicenseLearner,
    LicenseStatus,
)
from coursewright.delivery.signing import TokenRefused

SESSION_TTL = timedelta(hours=8)
MAX_LEARNER_ID = 255
MAX_ORIGIN = 300

# Reason codes, and what the learner (or the LMS administrator) is told.
REASONS: dict[str, str] = {
    "bad_token": "The course link in your learning platform is not valid.",
    "unknown_key": "The course link in your learning platform is no longer valid.",
    "revoked": "Access to this course has ended for your organisation.",
    "suspended": "Access to this course is paused for your organisation.",
    "expired": "Access to this course has expired for your organisation.",
    "wrong_course": "This course is not included in your organisation's access.",
    "not_deployed": "This course is not available at the moment.",
    "origin_not_allowed": "This course cannot be opened from this website.",
    "launch_cap": "Your organisation has used all the course launches it has.",
    "learner_cap": "Your organisation has reached the number of learners it may have.",
    "no_learner": "Your learning platform did not say who is taking the course.",
}


@dataclass(frozen=True)
class LaunchDecision:
    allowed: bool
    reason: str = ""  # a REASONS code when refused
    # whether the calling origin may read the answer (CORS): known only with a license
    origin_allowed: bool = False
    session: str = ""  # the session credential (allowed launches only; shown once)
    session_expires_at: datetime | None = None
    course_uid: str = ""
    deployment_uid: str = ""
    version: int | None = None

    @property
    def message(self) -> str:
        return REASONS.get(self.reason, "")


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _uuid(value: str | uuid.UUID | None) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


# --- the one read of the launch path ---------------------------------------------------
#
# Everything the decision needs (the license row, whether the course is on it, the
# course's production deployment and its version) comes from one indexed SELECT: the ORM
# would need two queries and spends more time compiling them than the database spends
# answering. Column values go through the same converters the ORM applies, so the result
# is the same on SQLite and PostgreSQL, and the license is a normal model instance (its
# encrypted salt decrypts as usual).

_LICENSE_FIELDS = ("id", "org", "uid", "status", "expires_at", "allowed_origins",
                   "max_learners", "max_launches", "learner_salt")


@dataclass(frozen=True)
class _Facts:
    license: License
    course_id: int | None  # set when the course is on the license
    course_uid: uuid.UUID | None
    deployment_id: int | None  # set when that course has a production deployment
    deployment_uid: uuid.UUID | None
    version_id: int | None
    version_number: int | None


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _column(model: type[Model], name: str) -> str:
    column = _field(model, name).column
    assert column is not None
    return _q(column)


@cache
def _facts_sql(vendor: str, by: str) -> str:
    """The launch path's SELECT (``by``: ``uid`` or ``id`` names the course). Only
    identifiers from the models' metadata are put into the text; values are parameters."""
    through = License.courses.through
    columns = ", ".join([
        *(f"l.{_column(License, name)}" for name in _LICENSE_FIELDS),
        f"lc.{_column(through, 'course')}", f"c.{_column(Course, 'uid')}",
        f"d.{_column(Deployment, 'id')}", f"d.{_column(Deployment, 'uid')}",
        f"d.{_column(Deployment, 'version')}", f"v.{_column(CourseVersion, 'number')}"])
    return " ".join([
        f"SELECT {columns}",
        f"FROM {_q(License._meta.db_table)} l",
        f"LEFT JOIN {_q(Course._meta.db_table)} c ON c.{_column(Course, by)} = %s",
        f"LEFT JOIN {_q(through._meta.db_table)} lc",
        f"ON lc.{_column(through, 'license')} = l.{_column(License, 'id')}",
        f"AND lc.{_column(through, 'course')} = c.{_column(Course, 'id')}",
        f"LEFT JOIN {_q(Channel._meta.db_table)} ch",
        f"ON ch.{_column(Channel, 'course')} = lc.{_column(through, 'course')}",
        f"AND ch.{_column(Channel, 'name')} = %s",
        f"LEFT JOIN {_q(Deployment._meta.db_table)} d",
        f"ON d.{_column(Deployment, 'id')} = ch.{_column(Channel, 'current')}",
        f"LEFT JOIN {_q(CourseVersion._meta.db_table)} v",
        f"ON v.{_column(CourseVersion, 'id')} = d.{_column(Deployment, 'version')}",
        f"WHERE l.{_column(License, 'uid')} = %s",
    ])


_converters: dict[tuple[str, type[Model], str], Any] = {}


def _convert(model: type[Model], name: str, value: Any) -> Any:
    """``value`` as the ORM would hand it over (dates, JSON, UUIDs, sealed fields)."""
    key = (connection.vendor, model, name)
    steps = _converters.get(key)
    if steps is None:
        field = _field(model, name)
        column = field.get_col(model._meta.db_table)
        steps = (column, [*connection.ops.get_db_converters(column),
                          *field.get_db_converters(connection)])
        _converters[key] = steps
    column, functions = steps
    for function in functions:
        value = function(value, column, connection)
    return value


def _prep(model: type[Model], name: str, value: Any) -> Any:
    return _field(model, name).get_db_prep_value(value, connection, prepared=False)


def _facts(license_uid: uuid.UUID, course_uid: uuid.UUID | None,
           course_id: int | None) -> _Facts | None:
    by, course_key = ("uid", _prep(Course, "uid", course_uid)) if course_uid else (
        "id", course_id)
    with connection.cursor() as cursor:
        cursor.execute(_facts_sql(connection.vendor, by),
                       [course_key, ChannelName.PRODUCTION,
                        _prep(License, "uid", license_uid)])
        row = cursor.fetchone()
    if row is None:
        return None
    count = len(_LICENSE_FIELDS)
    values = [_convert(License, name, value)
              for name, value in zip(_LICENSE_FIELDS, row[:count], strict=True)]
    attnames = [_field(License, name).attname for name in _LICENSE_FIELDS]
    license = License.from_db(connection.alias, attnames, values)
    on_license, course_uid_value, deployment_id, deployment_uid, version_id, number = (
        row[count:])
    return _Facts(
        license=license, course_id=on_license,
        course_uid=_convert(Course, "uid", course_uid_value) if on_license else None,
        deployment_id=deployment_id,
        deployment_uid=_convert(Deployment, "uid", deployment_uid) if deployment_id else None,
        version_id=version_id, version_number=number)


def _count(license_id: int, column: str, cap: int | None) -> bool:
    """Add one to the license's ``launches`` or ``learners`` unless that reaches past
    ``cap``: one conditional UPDATE, so concurrent launches cannot overshoot it."""
    sql = (f"UPDATE {_q(License._meta.db_table)} SET {_q(column)} = {_q(column)} + 1 "  # noqa: S608
           f"WHERE {_column(License, 'id')} = %s")
    params: list[Any] = [license_id]
    if cap is not None:
        sql += f" AND {_q(column)} < %s"
        params.append(cap)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount)


@cache
def _insert_sql(vendor: str, model: type[Model]) -> tuple[str, tuple[Field[Any, Any], ...]]:
    fields = tuple(f for f in model._meta.concrete_fields if f is not model._meta.auto_field)
    columns = ", ".join(_column(model, f.name) for f in fields)
    return (f"INSERT INTO {_q(model._meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(fields))})"), fields


def _insert(model: type[Model], **values: Any) -> None:
    """One row of ``model`` as ``objects.create(**values)`` writes it (keys are attnames;
    fields not given get their default, ``auto_now(_add)`` ones the time; every value is
    prepared by its field), without compiling a query per call. No signals are sent:
    none are connected to the rows written here."""
    sql, fields = _insert_sql(connection.vendor, model)
    unknown = values.keys() - {f.attname for f in fields}
    assert not unknown, f"{model.__name__} has no field {unknown}"
    params: list[Any] = []
    for f in fields:
        if f.attname in values:
            value = values[f.attname]
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = timezone.now()
        else:
            value = f.get_default()
        params.append(f.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _record(*, outcome: str, reason: str, license: License | None, course_id: int | None,
            deployment_id: int | None, learner: str, origin: str, now: datetime) -> None:
    _insert(LaunchEvent, org_id=license.org_id if license else None,
            license_id=license.pk if license else None, course_id=course_id,
            deployment_id=deployment_id, learner=learner, outcome=outcome, reason=reason,
            origin=origin, created_at=now)


def _insert_learner(license_id: int, learner: str, now: datetime) -> bool:
    """Add the learner to the license's list; False when it was already there (a
    concurrent first launch of the same learner included: the unique row decides)."""
    columns = [_column(LicenseLearner, name) for name in ("license", "learner", "first_seen")]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_q(LicenseLearner._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES (%s, %s, %s) ON CONFLICT ({', '.join(columns[:2])}) DO NOTHING",
            [license_id, learner, connection.ops.adapt_datetimefield_value(now)])
        return bool(cursor.rowcount)


def launch(token: str, *, course_uid: str | uuid.UUID | None = None,
           course_id: int | None = None, learner_id: str = "",
           origin: str | None = None) -> LaunchDecision:
    """Decide a launch of a course (by uid, or by id) for a learner (the LMS's opaque id,
    may be empty) from ``origin`` (the request's ``Origin`` header)."""
    now = timezone.now()
    try:
        claims = read_token(token)
    except TokenRefused as refused:
        _record(outcome=LaunchOutcome.BLOCKED, reason=refused.reason, license=None,
                course_id=None, deployment_id=None, learner="",
                origin=(origin or "")[:MAX_ORIGIN], now=now)
        return LaunchDecision(False, refused.reason)
    return _decide(claims.license_uid, token_exp=claims.exp, course_uid=course_uid,
                   course_id=course_id, learner_id=learner_id, origin=origin,
                   check_origin=True, now=now)


def launch_for_license(license_uid: uuid.UUID, *, course_uid: str | uuid.UUID | None,
                       learner_id: str, origin: str | None = None) -> LaunchDecision:
    """Decide a launch whose caller authenticated the license another way — an LTI 1.3
    platform's signed id_token, verified by ``lti.launch`` against the key set of the
    platform registered for that license. Every rule applies (status, expiry, the course
    on the license, a production deployment, caps, resuming an unfinished attempt) but
    the license token's and the ``Origin`` check: the platform's signature stands in for
    both. Recorded like any launch."""
    return _decide(license_uid, token_exp=None, course_uid=course_uid, course_id=None,
                   learner_id=learner_id, origin=origin, check_origin=False,
                   now=timezone.now())


def _decide(license_uid: uuid.UUID, *, token_exp: int | None,
            course_uid: str | uuid.UUID | None, course_id: int | None, learner_id: str,
            origin: str | None, check_origin: bool, now: datetime) -> LaunchDecision:
    stored_origin = (origin or "")[:MAX_ORIGIN]
    learner_id = learner_id or ""

    def refuse(reason: str, license: License | None = None, *, learner: str = "",
               course: int | None = None, deployment: int | None = None,
               origin_allowed: bool = False) -> LaunchDecision:
        _record(outcome=LaunchOutcome.BLOCKED, reason=reason, license=license,
                course_id=course, deployment_id=deployment, learner=learner,
                origin=stored_origin, now=now)
        return LaunchDecision(False, reason, origin_allowed=origin_allowed)

    wanted = _uuid(course_uid)
    if wanted is None and (isinstance(course_id, bool) or not isinstance(course_id, int)):
        course_id = None
    facts = _facts(license_uid, wanted, course_id)
    if facts is None:  # the license (or its organisation) was deleted
        return refuse("revoked")
    license = facts.license

    caller = request_origin(origin)
    origin_ok = (not check_origin or not license.allowed_origins
                 or caller in license.allowed_origins)
    learner = hash_learner(license, learner_id[:MAX_LEARNER_ID]) if learner_id else ""

    def refuse_for_license(reason: str, course: int | None = None,
                           deployment: int | None = None) -> LaunchDecision:
        return refuse(reason, license, learner=learner, course=course,
                      deployment=deployment, origin_allowed=origin_ok)

    # refusals name the course when it is on the license, so they show in its logs
    if license.status != LicenseStatus.ACTIVE:
        return refuse_for_license(
            "revoked" if license.status == LicenseStatus.REVOKED else "suspended",
            facts.course_id)
    if ((license.expires_at is not None and license.expires_at <= now)
            or (token_exp is not None and token_exp <= now.timestamp())):
        return refuse_for_license("expired", facts.course_id)
    if not origin_ok:
        return refuse_for_license("origin_not_allowed", facts.course_id)
    if facts.course_id is None:  # not on the license (another organisation's included)
        return refuse_for_license("wrong_course")
    if facts.deployment_id is None or facts.version_id is None:
        return refuse_for_license("not_deployed", facts.course_id)
    if license.max_learners is not None and not learner:
        return refuse_for_license("no_learner", facts.course_id, facts.deployment_id)

    deployment_id, deployment_uid = facts.deployment_id, facts.deployment_uid
    version_id, version_number = facts.version_id, facts.version_number
    if learner and (unfinished := _unfinished(license.pk, facts.course_id, learner)):
        deployment_id, deployment_uid, version_id, version_number = unfinished

    secret = secrets.token_urlsafe(32)
    expires_at = now + SESSION_TTL
    try:
        with transaction.atomic():
            _insert(LaunchSession, org_id=license.org_id, license_id=license.pk,
                    course_id=facts.course_id, deployment_id=deployment_id,
                    version_id=version_id, learner=learner,
                    secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
                    created_at=now, expires_at=expires_at)
            _record(outcome=LaunchOutcome.LAUNCHED, reason="", license=license,
                    course_id=facts.course_id, deployment_id=deployment_id,
                    learner=learner, origin=stored_origin, now=now)
            # the counters last: the license row stays locked only until the commit
            # a learner new to this license takes one of its slots
            new_learner = bool(learner) and _insert_learner(license.pk, learner, now)
            if new_learner and not _count(license.pk, "learners", license.max_learners):
                raise _Refused("learner_cap")
            if not _count(license.pk, "launches", license.max_launches):
                raise _Refused("launch_cap")
    except _Refused as refused:
        return refuse_for_license(refused.reason, facts.course_id, facts.deployment_id)
    return LaunchDecision(True, origin_allowed=origin_ok, session=secret,
                          session_expires_at=expires_at, course_uid=str(facts.course_uid),
                          deployment_uid=str(deployment_uid), version=version_number)


def _unfinished(license_id: int, course_id: int,
                learner: str) -> tuple[int, uuid.UUID, int, int] | None:
    """The deployment and version of the learner's latest attempt on this license and
    course when it is not completed (the relay reported it): a learner in the middle of
    an attempt is launched on the version they started, whatever was promoted since."""
    with connection.cursor() as cursor:
        cursor.execute(_progress_sql(connection.vendor), [license_id, course_id, learner])
        row = cursor.fetchone()
    if row is None or row[0] == Completion.COMPLETED or row[1] is None or row[3] is None:
        return None
    return row[1], _convert(Deployment, "uid", row[2]), row[3], row[4]


@cache
def _progress_sql(vendor: str) -> str:
    """The learner's latest attempt on a license and course, with its deployment's uid
    and its version's number (the index on license, course, learner, -id answers it)."""
    p = LaunchProgress
    return " ".join([
        f"SELECT p.{_column(p, 'completion')}, p.{_column(p, 'deployment')},",
        f"d.{_column(Deployment, 'uid')}, p.{_column(p, 'version')},",
        f"v.{_column(CourseVersion, 'number')}",
        f"FROM {_q(p._meta.db_table)} p",
        f"LEFT JOIN {_q(Deployment._meta.db_table)} d",
        f"ON d.{_column(Deployment, 'id')} = p.{_column(p, 'deployment')}",
        f"LEFT JOIN {_q(CourseVersion._meta.db_table)} v",
        f"ON v.{_column(CourseVersion, 'id')} = p.{_column(p, 'version')}",
        f"WHERE p.{_column(p, 'license')} = %s AND p.{_column(p, 'course')} = %s",
        f"AND p.{_column(p, 'learner')} = %s",
        f"ORDER BY p.{_column(p, 'id')} DESC LIMIT 1",
    ])


def live_session(secret: str) -> LaunchSession | None:
    """The launch session a credential opens, while it is live and its license active
    and unexpired (checked in the database on every call, like a launch)."""
    if not secret or len(secret) > 100:
        return None
    session = (LaunchSession.objects
               .filter(secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
                       expires_at__gt=timezone.now())
               .select_related("license", "org").first())
    if session is None:
        return None
    license = session.license
    if license.status != LicenseStatus.ACTIVE or (
            license.expires_at is not None and license.expires_at <= timezone.now()):
        return None
    return session

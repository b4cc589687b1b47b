"""The platform as a cmi5 launching system (the "LMS" role of cmi5, quartz edition) for
its own deliveries: launches of a licensed course's cmi5 package.

Design note
-----------
- **Every launch goes through the Gatekeeper.** ``launch_au`` takes the same license
  token, course and LMS learner id as ``POST /launch/v1`` and calls
  ``delivery.gatekeeper.launch``: license status, expiry, origins, caps, the launch event
  and the launch session are all the Gatekeeper's. A learner id is required (cmi5 needs
  an actor); the actor is an account named by the per-license pseudonym
  (``tracking.agents.learner_account``): never the LMS's id, a name or an e-mail.
- **Where the AU is.** The caller names where the course's cmi5 package is served
  (``au_url``: its root, ending in "/", or the AU's own URL, e.g. a cmi5 dispatch
  package's ``launcher.html``); it must be on one of the license's allowed origins (any,
  when the license allows any). The AU's URL from the
  course structure is resolved against it and the cmi5 parameters are merged into its
  query (section 8.1: endpoint, fetch, actor, registration, activityId).
- **Registration.** One per license, course and learner (the enrollment), kept across
  launches: it records the course structure the learner is enrolled in (one AU, or one
  per module) and what each AU reported, to decide "satisfied".
- **Before the AU runs** (one transaction): the session row, the LMS.LaunchData state
  document (contextTemplate with the session id and the publisher id as grouping
  activity, launchMode, launchMethod, moveOn, masteryScore, returnURL) and the
  "launched" statement (with the launchMode, launchURL, moveOn and masteryScore
  extensions) are written into our LRS under the license's launching-system credential
  (``cmi5.system``). The activity id is made here from the publisher id (a version-5
  UUID under our own IRI), so it never equals it, and is the same for every
  registration.
- **The fetch URL is single-use** (section 8.2): it holds 256 random bits, of which
  only the SHA-256 is stored; the first POST swaps it, with a conditional update, for
  an auth-token (another 256 random bits, digest stored) that the LMS listener accepts
  until the session expires (the launch session's lifetime). Every later POST, and a
  POST after the session expired, gets error-code 1; an unknown fetch URL error-code 2;
  a failure on our side error-code 3 — each with HTTP 200 and ``application/json`` as
  the specification requires.
- **Satisfied.** When a statement the listener accepted makes every AU of the
  registration's course structure meet its moveOn criterion, the launching system
  records "satisfied" for the course (an id it made, never the publisher's), with the
  AU session's id, once per registration (conditional update).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from coursewright.cmi5.models import AuSession, LaunchMode, Registration
from coursewright.cmi5.system import system_caller
from coursewright.courses.actions import validate_content
from coursewright.delivery import gatekeeper
from coursewright.delivery.licenses import read_token, request_origin
from coursewright.delivery.models import LaunchSession, License, LicenseStatus
from coursewright.delivery.signing import TokenRefused
from coursewright.publishing.actions import activity_base
from coursewright.publishing.xapi_manifests import LAYOUTS, assignable_units
from coursewright.tracking import documents, statements
from coursewright.tracking.agents import learner_account
from coursewright.tracking.models import DocumentKind

CMI5_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
MOVEON_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/moveon"
EXT = "https://w3id.org/xapi/cmi5/context/extensions/"
SESSION_EXT = EXT + "sessionid"
MASTERY_EXT = EXT + "masteryscore"
LAUNCH_MODE_EXT = EXT + "launchmode"
LAUNCH_URL_EXT = EXT + "launchurl"
MOVE_ON_EXT = EXT + "moveon"
VERB = {
    "launched": "http://adlnet.gov/expapi/verbs/launched",
    "initialized": "http://adlnet.gov/expapi/verbs/initialized",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "passed": "http://adlnet.gov/expapi/verbs/passed",
    "failed": "http://adlnet.gov/expapi/verbs/failed",
    "terminated": "http://adlnet.gov/expapi/verbs/terminated",
    "abandoned": "https://w3id.org/xapi/adl/verbs/abandoned",
    "waived": "https://w3id.org/xapi/adl/verbs/waived",
    "satisfied": "https://w3id.org/xapi/adl/verbs/satisfied",
}
COURSE_TYPE = "https://w3id.org/xapi/cmi5/activitytype/course"
LAUNCH_DATA = "LMS.LaunchData"
IDS = uuid.UUID("4f0b7e36-1a51-5c39-9d1e-6c6d6935c0de")  # namespace of our generated ids
MAX_URL = 2000


class LaunchRefused(Exception):
    """A launch the launching system (or the Gatekeeper) refuses: ``code`` and HTTP
    ``status``; ``origin_allowed``: whether the caller's origin may read the answer."""

    def __init__(self, code: str, message: str, status: int = 403, *,
                 origin_allowed: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.origin_allowed = origin_allowed


@dataclass(frozen=True)
class LaunchRequest:
    token: str
    course: str  # the course's uid
    learner: str  # the LMS's opaque learner id
    au_url: str
    au: str = ""  # the AU's publisher id (default: the structure's only AU)
    layout: str = "course"
    launch_mode: str = LaunchMode.NORMAL
    return_url: str = ""
    origin: str | None = None


@dataclass(frozen=True)
class Launch:
    url: str
    registration: str
    session_id: str
    activity_id: str
    expires_at: datetime


def learner_actor(pseudonym: str) -> dict[str, Any]:
    return learner_account(pseudonym)


def generated_id(kind: str, publisher_id: str) -> str:
    """An activity id of ours for a publisher's AU or course (never equal to it)."""
    return f"{settings.BASE_URL}/xapi/activities/cmi5/{kind}/{uuid.uuid5(IDS, publisher_id)}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _http_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if (len(value) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc
            or parts.username or parts.password):
        raise LaunchRefused("bad_request", f'"{name}" must be an absolute http(s) URL.', 400)
    return value


def _check_request(request: LaunchRequest) -> None:
    if not request.learner:
        raise LaunchRefused("no_learner", "A cmi5 launch needs the LMS's learner id.", 400)
    _http_url(request.au_url, "au_url")
    if request.return_url:
        _http_url(request.return_url, "return_url")
    if request.launch_mode not in LaunchMode.values:
        raise LaunchRefused("bad_request", '"launch_mode" must be Normal, Browse or Review.',
                            400)
    if request.layout not in LAYOUTS:
        raise LaunchRefused("bad_request", '"layout" must be course or module.', 400)


def _check_au_origin(request: LaunchRequest) -> None:
    """The AU must be served from an origin the license allows (before the Gatekeeper
    counts a launch); an unreadable token is left to the Gatekeeper to refuse."""
    try:
        claims = read_token(request.token)
    except TokenRefused:
        return
    license = License.objects.filter(uid=claims.license_uid).first()
    if license is None or not license.allowed_origins:
        return
    caller_ok = request_origin(request.origin) in license.allowed_origins
    parts = urlsplit(request.au_url)
    if request_origin(f"{parts.scheme}://{parts.netloc}") not in license.allowed_origins:
        raise LaunchRefused("au_origin_not_allowed", "The course package must be served "
                            "from one of the license's allowed origins.", 403,
                            origin_allowed=caller_ok)


def _launch_url(au_url: str, relative: str, params: dict[str, str]) -> tuple[str, str]:
    """(the URL that launches the AU, the same without the cmi5 parameters): the AU's URL
    from the course structure resolved against ``au_url`` when that is the package's
    root (ends in "/"), else ``au_url`` is the AU's own URL (the structure's query kept)."""
    if urlsplit(au_url).path.endswith("/"):
        plain = urljoin(au_url, relative)
    else:
        extra = urlsplit(relative).query
        base = urlsplit(au_url)
        joined = "&".join(q for q in (base.query, extra) if q)
        plain = urlunsplit(base._replace(query=joined, fragment=""))
    parts = urlsplit(plain)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in params]
    full = urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))
    return full, plain


def launch_data(session: AuSession) -> dict[str, Any]:
    """The LMS.LaunchData document of a session (section 10)."""
    data: dict[str, Any] = {
        "contextTemplate": {
            "contextActivities": {"grouping": [{"objectType": "Activity",
                                                "id": session.au_id}]},
            "extensions": {SESSION_EXT: str(session.session_id)},
        },
        "launchMode": session.launch_mode,
        "launchMethod": "AnyWindow",
        "moveOn": session.move_on,
    }
    if session.mastery_score is not None:
        data["masteryScore"] = float(session.mastery_score)
    if session.return_url:
        data["returnURL"] = session.return_url
    return data


def _lms_context(session: AuSession, extensions: dict[str, Any]) -> dict[str, Any]:
    return {
        "registration": str(session.registration.registration),
        "contextActivities": {
            "category": [{"objectType": "Activity", "id": CMI5_CATEGORY}],
            "grouping": [{"objectType": "Activity", "id": session.au_id}],
        },
        "extensions": {SESSION_EXT: str(session.session_id), **extensions},
    }


def _now_iso() -> str:
    return statements.iso(statements.now_ms())


def launched_statement(session: AuSession, actor: dict[str, Any]) -> dict[str, Any]:
    extensions: dict[str, Any] = {LAUNCH_MODE_EXT: session.launch_mode,
                                  LAUNCH_URL_EXT: session.launch_url,
                                  MOVE_ON_EXT: session.move_on}
    if session.mastery_score is not None:
        extensions[MASTERY_EXT] = float(session.mastery_score)
    return {
        "id": str(uuid.uuid4()), "timestamp": _now_iso(), "actor": actor,
        "verb": {"id": VERB["launched"], "display": {"en-US": "launched"}},
        "object": {"objectType": "Activity", "id": session.activity_id},
        "context": _lms_context(session, extensions),
    }


def _store(license: License, items: list[dict[str, Any]]) -> None:
    caller = system_caller(license)
    statements.store(caller, statements.prepare(caller, items, v2=False))


def _write_launch_data(license: License, session: AuSession, actor: dict[str, Any]) -> None:
    caller = system_caller(license)
    target = documents.Target(kind=DocumentKind.STATE, activity=session.activity_id,
                              agent=actor, registration=str(session.registration.registration),
                              document_id=LAUNCH_DATA)
    body = json.dumps(launch_data(session), sort_keys=True).encode()
    documents.write(caller, target, body, "application/json", merge=False, if_match=None,
                    if_none_match=None, v2=False)


def launch_au(request: LaunchRequest) -> Launch:
    """Launch one AU of a licensed course's cmi5 package (see the module note)."""
    _check_request(request)
    _check_au_origin(request)
    decision = gatekeeper.launch(request.token, course_uid=request.course,
                                 learner_id=request.learner, origin=request.origin)
    if not decision.allowed:
        raise LaunchRefused(decision.reason, decision.message, 403,
                            origin_allowed=decision.origin_allowed)
    found = gatekeeper.live_session(decision.session)
    assert found is not None
    return _start(found, request, origin_allowed=decision.origin_allowed)


def _start(found: LaunchSession, request: LaunchRequest, *, origin_allowed: bool) -> Launch:
    license, version = found.license, found.version
    course = version.course
    base = activity_base(course)
    units = {u.id: u for u in assignable_units(validate_content(version.content),
                                               activity_base=base,
                                               layout=request.layout)}  # type: ignore[arg-type]
    registration, _ = Registration.objects.get_or_create(
        license=license, course=course, learner=found.learner,
        defaults={"org_id": found.org_id, "structure": {
            "course": base, "aus": {u.id: u.move_on for u in units.values()}}})
    enrolled = registration.structure.get("aus", {})
    wanted = request.au or (next(iter(enrolled)) if len(enrolled) == 1 else "")
    if wanted not in enrolled or wanted not in units:
        raise LaunchRefused("unknown_au", "Name one AU of the course structure (\"au\": its "
                            "id in cmi5.xml).", 400, origin_allowed=origin_allowed)
    unit = units[wanted]
    actor = learner_actor(found.learner)
    fetch_secret = secrets.token_urlsafe(32)
    fetch_url = settings.BASE_URL + f"/cmi5/v1/fetch/{fetch_secret}"
    session = AuSession(
        org_id=found.org_id, registration=registration, launch=found, version=version,
        au_id=unit.id, activity_id=generated_id("au", unit.id),
        launch_mode=request.launch_mode, move_on=enrolled[wanted],
        mastery_score=unit.mastery_score, return_url=request.return_url,
        fetch_hash=_digest(fetch_secret), created_at=timezone.now(),
        expires_at=found.expires_at)
    url, plain = _launch_url(request.au_url, unit.url, {
        "endpoint": settings.BASE_URL + "/cmi5/v1/xapi/",
        "fetch": fetch_url,
        "actor": json.dumps(actor, separators=(",", ":")),
        "registration": str(registration.registration),
        "activityId": session.activity_id,
    })
    session.launch_url = plain
    with transaction.atomic():
        session.save()
        _write_launch_data(license, session, actor)
        _store(license, [launched_statement(session, actor)])
    return Launch(url=url, registration=str(registration.registration),
                  session_id=str(session.session_id), activity_id=session.activity_id,
                  expires_at=session.expires_at)


# --- the fetch URL ------------------------------------------------------------------------


def fetch_error(code: str, text: str) -> dict[str, str]:
    return {"error-code": code, "error-text": text}


def _live(session: AuSession, now: datetime) -> bool:
    if session.expires_at <= now:
        return False
    license = session.registration.license
    return license.status == LicenseStatus.ACTIVE and (
        license.expires_at is None or license.expires_at > now)


def fetch_token(secret: str) -> dict[str, str]:
    """The answer to a POST to a fetch URL (section 8.2)."""
    if not secret or len(secret) > 100:
        return fetch_error("2", "This fetch URL is not valid.")
    session = (AuSession.objects.filter(fetch_hash=_digest(secret))
               .select_related("registration__license").first())
    if session is None:
        return fetch_error("2", "This fetch URL is not valid.")
    now = timezone.now()
    if session.fetched_at is not None:
        return fetch_error("1", "The authorization token has already been returned.")
    if not _live(session, now):
        return fetch_error("1", "The AU session has expired.")
    token = secrets.token_urlsafe(32)
    claimed = AuSession.objects.filter(pk=session.pk, fetched_at__isnull=True).update(
        fetched_at=now, token_hash=_digest(token))
    if not claimed:
        return fetch_error("1", "The authorization token has already been returned.")
    return {"auth-token": base64.b64encode(f"cmi5:{token}".encode()).decode()}


def session_for_token(authorization: str | None) -> AuSession | None:
    """The live session an ``Authorization: Basic <auth-token>`` header names."""
    import binascii

    if not authorization or len(authorization) > 300:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, token = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if user != "cmi5" or not sep or not token:
        return None
    session = (AuSession.objects.filter(token_hash=_digest(token))
               .select_related("registration__license__org").first())
    if session is None or not _live(session, timezone.now()):
        return None
    return session


# --- what the AU reported, and "satisfied" --------------------------------------------------


def _met(move_on: str, achieved: dict[str, Any]) -> bool:
    completed, passed = bool(achieved.get("completed")), bool(achieved.get("passed"))
    return {
        "Passed": passed,
        "Completed": completed,
        "CompletedAndPassed": completed and passed,
        "CompletedOrPassed": completed or passed,
    }.get(move_on, True)


def satisfied_statement(session: AuSession, registration: Registration) -> dict[str, Any]:
    course_id = registration.structure.get("course", "")
    return {
        "id": str(uuid.uuid4()), "timestamp": _now_iso(),
        "actor": learner_actor(registration.learner),
        "verb": {"id": VERB["satisfied"], "display": {"en-US": "satisfied"}},
        "object": {"objectType": "Activity", "id": generated_id("course", course_id),
                   "definition": {"type": COURSE_TYPE}},
        "context": {
            "registration": str(registration.registration),
            "contextActivities": {
                "category": [{"objectType": "Activity", "id": CMI5_CATEGORY}],
                "grouping": [{"objectType": "Activity", "id": course_id}],
            },
            "extensions": {SESSION_EXT: str(session.session_id)},
        },
    }


def record_outcomes(session: AuSession, verbs: list[str]) -> bool:
    """Note what the AU reported (completed, passed, failed) on its registration, and
    record "satisfied" for the course when every AU now meets its moveOn criterion.
    Returns whether "satisfied" was recorded now. Runs inside the listener's
    transaction, with the session row locked."""
    outcomes = [v for v in verbs if v in ("completed", "passed", "failed")]
    if not outcomes:
        return False
    registration = Registration.objects.select_for_update().get(pk=session.registration_id)
    achieved = dict(registration.achieved)
    mine = dict(achieved.get(session.au_id, {}))
    for verb in outcomes:
        mine[verb] = True
    achieved[session.au_id] = mine
    registration.achieved = achieved
    registration.save(update_fields=["achieved"])
    aus: dict[str, str] = registration.structure.get("aus", {})
    if registration.satisfied_at is not None or not all(
            _met(move_on, achieved.get(au, {})) for au, move_on in aus.items()):
        return False
    claimed = Registration.objects.filter(pk=registration.pk,
                                          satisfied_at__isnull=True).update(
        satisfied_at=timezone.now())
    if not claimed:
        return False
    _store(registration.license, [satisfied_statement(session, registration)])
    return True


def mastery_of(session: AuSession) -> Decimal | None:
    return session.mastery_score

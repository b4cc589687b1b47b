"""The LMS listener: the xAPI endpoint a launched AU talks to (the ``endpoint`` launch
parameter, ``/cmi5/v1/xapi/``).

Design note
-----------
- **A gate in front of the LRS, not a second LRS.** A request carries the session's
  auth-token (``Authorization: Basic <auth-token>``, section 8.2). The listener checks
  it (a live session whose fetch URL was used; license active), applies the cmi5 rules
  (``cmi5.rules``) and what a learner's AU may touch, then hands the very request to the
  LRS (``tracking.lrs``) under the license's launching-system credential, so every xAPI
  behaviour (validation, versions, concurrency, errors, headers) is the LRS's own. The
  auth-token is useless at ``/xapi/`` directly: it is no LRS credential.
- **What an AU may do:** write statements (checked); read statements of its own
  registration and actor only (``registration`` and ``agent`` both given, or a ``more``
  link the LRS signed for such a query); read and write state documents of its own actor
  (and registration, when one is named) except that LMS.LaunchData is read-only
  (section 10); read and write its actor's agent profile (the cmi5LearnerPreferences
  document, section 11); read activity profiles and activities. Anything else is 403.
- **One request at a time per session.** The session row is locked while the rules
  are checked, the LRS stores and the outcome is recorded, so two requests of one AU
  cannot both pass a once-only rule; "satisfied" is recorded in the same transaction
  (``cmi5.launching.record_outcomes``).
- Answers carry the LRS's CORS and version headers, also when the listener refuses.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from coursewright.cmi5 import rules
from coursewright.cmi5.launching import (
    LAUNCH_DATA,
    learner_actor,
    record_outcomes,
    session_for_token,
)
from coursewright.cmi5.models import AuSession
from coursewright.cmi5.system import basic_header, system_credential
from coursewright.tracking import lrs
from coursewright.tracking.agents import canonical_ifi

VIEWS = {
    "about": lrs.about,
    "statements": lrs.statement_resource,
    "activities": lrs.activities,
    "activities/state": lrs.state,
    "activities/profile": lrs.activity_profile,
    "agents": lrs.agents,
    "agents/profile": lrs.agent_profile,
}
READS = ("GET", "HEAD")


def _answer(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["X-Experience-API-Version"] = "1.0.3"
    response["Cache-Control"] = "no-store"
    for name, value in lrs.CORS.items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="cmi5"'
    return response


def _params(request: HttpRequest) -> dict[str, str]:
    return {k: str(v) for k, v in request.GET.items()}


def _same_agent(value: str | None, session: AuSession) -> bool:
    if value is None:
        return False
    try:
        agent = json.loads(value)
    except ValueError:
        return False
    return isinstance(agent, dict) and canonical_ifi(agent) == canonical_ifi(
        learner_actor(session.registration.learner))


def _allowed(resource: str, method: str, params: dict[str, str],
             session: AuSession) -> str | None:
    """Why the AU may not make this request, or None when it may."""
    registration = str(session.registration.registration)
    if resource == "statements":
        if method in READS:
            if set(params) == {"more"}:
                return None
            if params.get("registration", "").lower() != registration or not _same_agent(
                    params.get("agent"), session):
                return ("an AU reads statements of its own registration and actor only "
                        "(give both registration and agent)")
        return None
    if resource in ("activities/state", "agents/profile", "agents"):
        if not _same_agent(params.get("agent"), session):
            return "an AU reads and writes its own actor's documents only"
        if "registration" in params and params["registration"].lower() != registration:
            return "an AU uses its own registration only"
        if (resource == "activities/state" and method not in READS
                and params.get("stateId", LAUNCH_DATA) == LAUNCH_DATA):
            return "LMS.LaunchData is the LMS's document: an AU must not change it"
        return None
    if resource in ("activities/profile", "activities") and method not in READS:
        return "an AU reads activity profiles only"
    return None


def _statements(request: HttpRequest) -> list[Any] | None:
    """The statements of a POST/PUT to the statement resource (None: not JSON; the LRS
    will say what is wrong with it)."""
    mime = (request.content_type or "").lower()
    if mime != "application/json":
        return None if mime != "multipart/mixed" else []
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return None
    return body if isinstance(body, list) else [body]


def _delegate(request: HttpRequest, resource: str, session: AuSession) -> HttpResponse:
    request.META["HTTP_AUTHORIZATION"] = basic_header(
        system_credential(session.registration.license))
    request.__dict__.pop("headers", None)  # rebuilt from META on next access
    response: HttpResponse = VIEWS[resource](request)
    return response


@csrf_exempt
def listener(request: HttpRequest, resource: str) -> HttpResponse:
    if resource not in VIEWS:
        return _answer(404, "no such xAPI resource")
    if request.method == "OPTIONS" or resource == "about":
        response: HttpResponse = VIEWS[resource](request)
        return response
    session = session_for_token(request.headers.get("Authorization"))
    if session is None:
        return _answer(401, "send the auth-token of a live cmi5 session (from the fetch URL)")
    method = request.method or "GET"
    if "method" in request.GET:
        return _answer(403, "the alternate request syntax is not accepted here")
    why = _allowed(resource, method, _params(request), session)
    if why is not None:
        return _answer(403, why)
    if resource != "statements" or method not in ("POST", "PUT"):
        return _delegate(request, resource, session)
    items = _statements(request)
    if items is None:
        return _delegate(request, resource, session)  # the LRS refuses it with its reason
    with transaction.atomic():
        locked = (AuSession.objects.select_for_update()
                  .select_related("registration__license__org").get(pk=session.pk))
        try:
            verdict = rules.check(locked, items)
        except rules.Refused as refused:
            return _answer(403, f"cmi5: {refused.message}")
        response = _delegate(request, resource, locked)
        if response.status_code in (200, 204):
            _note(locked, verdict)
    return response


def _note(session: AuSession, verdict: rules.Verdict) -> None:
    if not verdict.verbs:
        return
    fields = ["verbs"]
    session.verbs = [*session.verbs, *verdict.verbs]
    if verdict.initialized:
        session.initialized_at = timezone.now()
        fields.append("initialized_at")
    if verdict.terminated_at is not None:
        session.terminated_at = verdict.terminated_at
        fields.append("terminated_at")
    session.save(update_fields=fields)
    record_outcomes(session, verdict.verbs)

"""One audit entry per API call: method, path, who (API key or person), organisation,
status and duration.

It sits outside the API (near the top of ``MIDDLEWARE``), so the status it records is
the one the client got, errors included; the API's authentication leaves the caller on
``request.auth`` on the way. The organisation is the API key's, or the person's when
they belong to one (or name it with ``?org=<slug>``); a view that knows better may set
``request.audit_org``. A call nobody authenticated is recorded as anonymous, without an
organisation. The OpenAPI document and the docs page are not recorded.

Recording happens after the response exists, in its own transaction; if it fails, the
failure is logged and the client still gets its answer (the state change, if any, has
committed with its own audit entry already).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponseBase

from coursewright.audit.actions import record_api_call
from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel

if TYPE_CHECKING:
    from coursewright.orgs.models import Organisation

logger = logging.getLogger(__name__)

NOT_RECORDED = ("/api/v1/openapi.json", "/api/v1/docs")


class ApiCallAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path
        if not path.startswith("/api/") or path.startswith(NOT_RECORDED):
            return self.get_response(request)
        started = time.monotonic()
        response = self.get_response(request)
        duration_ms = round((time.monotonic() - started) * 1000)
        try:
            actor, org = caller(request)
            record_api_call(org=org, actor=actor, method=request.method or "", path=path,
                            status=response.status_code, duration_ms=duration_ms)
        except Exception:
            logger.exception("could not record the API call %s %s in the audit log",
                             request.method, path)
        return response


def caller(request: HttpRequest) -> tuple[Actor, Organisation | None]:
    from coursewright.orgs.access import Principal

    auth = getattr(request, "auth", None)
    if not isinstance(auth, Principal):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return Actor.person(user, Channel.API), None  # e.g. a session without 2FA
        return Actor.anonymous(), None
    org: Organisation | None = getattr(request, "audit_org", None)
    if org is None or org.pk not in auth.orgs:
        slug = request.GET.get("org")
        orgs = list(auth.orgs.values())
        org = next((o for o in orgs if o.slug == slug), None) if slug else None
        if org is None and len(orgs) == 1:
            org = orgs[0]
    return auth.actor, org

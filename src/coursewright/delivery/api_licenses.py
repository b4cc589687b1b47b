"""Licenses over the API (``/api/v1/licenses``): issue, read, change, suspend, revoke,
reinstate, mint a new token, download a dispatch package, and read a license's launches.

Who may do what (decided here, checked after the scoped lookup, so another
organisation's license is a 404 before any role question):

- read licenses: every member of the organisation, and its API keys;
- read a license's launches (``/launches``, with CSV and JSON export): owners and admins,
  and the organisation's API key (as with the audit log);
- issue, change, suspend, revoke, reinstate, mint a token, download a dispatch package
  (it carries a freshly minted token): a signed-in owner or admin.
  API keys cannot: a token is a credential to the organisation's courses, and an API
  key (a CI secret) minting them would widen what a leaked key gives away.

The token is in the answers of ``POST /licenses`` and ``POST /licenses/{id}/token``, and
inside the dispatch package of ``GET /licenses/{id}/dispatch/{fmt}``.
(No postponed annotations here: query schemas are resolved at runtime.)
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from coursewright.api import principal
from coursewright.api_types import MAX_OFFSET, IsoDateTime, ObjectId, Pagination
from coursewright.audit.actions import record_read
from coursewright.audit.models import ActorKind
from coursewright.delivery import licenses as actions
from coursewright.delivery.models import LaunchEvent, License
from coursewright.errors import Forbidden
from coursewright.orgs.access import Principal, get_scoped, scoped
from coursewright.orgs.models import ALL_ROLES, MANAGING_ROLES

router = Router(tags=["licenses"])


class LicenseOut(Schema):
    id: int
    uid: str
    name: str
    status: str
    courses: list[int] = Field(description="Ids of the courses the license may launch")
    expires_at: datetime | None
    expired: bool
    allowed_origins: list[str] = Field(
        description="Origins (scheme://host[:port]) launches may come from; empty: any")
    max_learners: int | None
    max_launches: int | None
    learners: int = Field(description="Distinct learners seen so far")
    launches: int = Field(description="Launches allowed so far")
    token_kid: str = Field(description="The signing key of the newest token")
    created_at: datetime
    status_changed_at: datetime | None

    @staticmethod
    def resolve_uid(obj: License) -> str:
        return str(obj.uid)

    @staticmethod
    def resolve_courses(obj: License) -> list[int]:
        return sorted(c.pk for c in obj.courses.all())

    @staticmethod
    def resolve_expired(obj: License) -> bool:
        return obj.expires_at is not None and obj.expires_at <= timezone.now()


class IssuedOut(Schema):
    license: LicenseOut
    token: str = Field(description="The license token, shown now: give it to the client "
                                   "LMS (it goes into the dispatch package)")


class TokenOut(Schema):
    license_id: int
    token: str
    kid: str


class LicenseIn(Schema):
    name: str = Field(max_length=200)
    courses: list[ObjectId] = Field(min_length=1, max_length=1000)
    expires_at: IsoDateTime | None = None
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)
    max_learners: int | None = Field(default=None, ge=1)
    max_launches: int | None = Field(default=None, ge=1)


class LicensePatch(Schema):
    name: str | None = Field(default=None, max_length=200)
    courses: list[ObjectId] | None = Field(default=None, min_length=1, max_length=1000)
    expires_at: IsoDateTime | None = Field(
        default=None, description="null removes the expiry. Tokens minted earlier keep the "
                                  "expiry they carry: mint a new token after extending it")
    allowed_origins: list[str] | None = Field(default=None, max_length=50)
    max_learners: int | None = Field(default=None, ge=1, description="null: no cap")
    max_launches: int | None = Field(default=None, ge=1, description="null: no cap")


class StatusChangeIn(Schema):
    reason: str = Field(default="", max_length=500,
                        description="Why (kept in the audit log)")


class LaunchEventOut(Schema):
    id: int
    created_at: datetime
    outcome: str
    reason: str = Field(description="Why it was refused (empty when launched)")
    course_id: int | None
    deployment_id: int | None
    learner: str = Field(description="The learner's pseudonym on this license (HMAC of "
                                     "the LMS's id); empty when none was sent")
    origin: str


class LaunchPage(Schema):
    items: list[LaunchEventOut]
    count: int


class LaunchQuery(Schema):
    outcome: Literal["launched", "blocked"] | None = None
    reason: str | None = Field(default=None, max_length=40)
    course_id: int | None = None
    since: IsoDateTime | None = Field(default=None, description="From this time (inclusive)")
    until: IsoDateTime | None = Field(default=None,
                                      description="Before this time (exclusive)")
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    format: Literal["csv", "json"] | None = Field(
        default=None, description="Export every matching launch as a CSV or JSON file "
                                  "(limit and offset do not apply)")


def _require_manager(p: Principal, org_id: int, doing: str) -> None:
    if p.actor.kind == ActorKind.API_KEY:
        p.require(org_id, ALL_ROLES, doing)  # another organisation's key: 404 first
        raise Forbidden(f"To {doing} you need to be signed in as an owner or admin; API "
                        "keys cannot.", code="person_required")
    p.require(org_id, MANAGING_ROLES, doing)


def _license(request: HttpRequest, license_id: int, *, manage: str | None = None) -> License:
    p = principal(request)
    license = get_scoped(License, p, pk=license_id)
    if manage:
        _require_manager(p, license.org_id, manage)
    else:
        p.require(license.org_id, ALL_ROLES, "see licenses")
    request.audit_org = license.org  # type: ignore[attr-defined]
    return license


@router.get("", response=list[LicenseOut], summary="The organisation's licenses")
@paginate(Pagination)
def list_licenses(request: HttpRequest, org: str | None = None,
                  status: Literal["active", "suspended", "revoked"] | None = None,
                  ) -> QuerySet[License]:
    p = principal(request)
    organisation = p.default_org(org)
    p.require(organisation, ALL_ROLES, "see licenses")
    found = scoped(License, p).filter(org=organisation).prefetch_related("courses")
    return found.filter(status=status) if status else found


@router.post("", response={201: IssuedOut},
             summary="Issue a license for a client LMS (owners and admins); answers its token")
def issue_license(request: HttpRequest, body: LicenseIn,
                  org: str | None = None) -> Status[object]:
    p = principal(request)
    organisation = p.default_org(org)
    _require_manager(p, organisation.pk, "issue licenses")
    license, token = actions.issue_license(
        organisation, name=body.name, courses=body.courses, expires_at=body.expires_at,
        allowed_origins=body.allowed_origins, max_learners=body.max_learners,
        max_launches=body.max_launches, actor=p.actor)
    return Status(201, {"license": license, "token": token})


@router.get("/{license_id}", response=LicenseOut, summary="One license")
def get_license(request: HttpRequest, license_id: int) -> License:
    return _license(request, license_id)


@router.patch("/{license_id}", response=LicenseOut,
              summary="Change a license's name, courses, expiry, origins or caps")
def update_license(request: HttpRequest, license_id: int, body: LicensePatch) -> License:
    license = _license(request, license_id, manage="change licenses")
    changes = body.dict(exclude_unset=True)
    return actions.update_license(license, actor=principal(request).actor, **changes)


@router.post("/{license_id}/suspend", response=LicenseOut,
             summary="Pause a license: launches are refused until it is reinstated")
def suspend_license(request: HttpRequest, license_id: int,
                    body: StatusChangeIn | None = None) -> License:
    license = _license(request, license_id, manage="suspend licenses")
    return actions.suspend_license(license, actor=principal(request).actor,
                                   reason=body.reason if body else "")


@router.post("/{license_id}/revoke", response=LicenseOut,
             summary="End a license for good: the next launch is refused")
def revoke_license(request: HttpRequest, license_id: int,
                   body: StatusChangeIn | None = None) -> License:
    license = _license(request, license_id, manage="revoke licenses")
    return actions.revoke_license(license, actor=principal(request).actor,
                                  reason=body.reason if body else "")


@router.post("/{license_id}/reinstate", response=LicenseOut,
             summary="Reinstate a suspended or revoked license (its tokens work again)")
def reinstate_license(request: HttpRequest, license_id: int,
                      body: StatusChangeIn | None = None) -> License:
    license = _license(request, license_id, manage="reinstate licenses")
    return actions.reinstate_license(license, actor=principal(request).actor,
                                     reason=body.reason if body else "")


@router.post("/{license_id}/token", response=TokenOut,
             summary="Mint a new token for a license (earlier tokens keep working)")
def mint_token(request: HttpRequest, license_id: int) -> dict[str, Any]:
    license = _license(request, license_id, manage="mint license tokens")
    token = actions.license_token(license, actor=principal(request).actor)
    return {"license_id": license.pk, "token": token, "kid": license.token_kid}


# --- dispatch packages ----------------------------------------------------------------


@router.get("/{license_id}/dispatch/{fmt}", response={200: bytes},
            summary="Download a thin SCORM dispatch package of one of the license's courses "
                    "(owners and admins; mints a fresh token into it)",
            openapi_extra={"responses": {200: {"description": "The package (zip)", "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}})
def download_dispatch(request: HttpRequest, license_id: int,
                      fmt: Literal["scorm12", "scorm2004", "cmi5"],
                      course: int | None = None) -> HttpResponse:
    from coursewright.delivery.dispatch import download_dispatch_package

    license = _license(request, license_id, manage="download dispatch packages")
    data, name = download_dispatch_package(license, course_id=course, fmt=fmt,
                                           actor=principal(request).actor)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


# --- launches --------------------------------------------------------------------------

EXPORT_COLUMNS = ("id", "created_at", "outcome", "reason", "course_id", "deployment_id",
                  "learner", "origin")


def _aware(value: datetime) -> datetime:
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _launches(license: License, params: LaunchQuery) -> QuerySet[LaunchEvent]:
    events = LaunchEvent.objects.filter(org_id=license.org_id, license=license)
    if params.outcome:
        events = events.filter(outcome=params.outcome)
    if params.reason:
        events = events.filter(reason=params.reason)
    if params.course_id is not None:
        events = events.filter(course_id=params.course_id)
    if params.since:
        events = events.filter(created_at__gte=_aware(params.since))
    if params.until:
        events = events.filter(created_at__lt=_aware(params.until))
    return events.order_by("-id")


def _row(event: LaunchEvent) -> dict[str, Any]:
    return {"id": event.pk, "created_at": event.created_at.isoformat(),
            "outcome": event.outcome, "reason": event.reason, "course_id": event.course_id,
            "deployment_id": event.deployment_id, "learner": event.learner,
            "origin": event.origin}


def _csv(events: QuerySet[LaunchEvent]) -> Iterator[str]:
    from coursewright.csvexport import csv_lines

    return csv_lines(EXPORT_COLUMNS, ([_row(e)[c] for c in EXPORT_COLUMNS]
                                      for e in events.iterator(chunk_size=1000)))


def _json_array(events: QuerySet[LaunchEvent]) -> Iterator[str]:
    yield "["
    for number, event in enumerate(events.iterator(chunk_size=1000)):
        yield ("," if number else "") + json.dumps(_row(event))
    yield "]\n"


@router.get("/{license_id}/launches",
            # ?format=json: every launch as one JSON array (a file)
            response=LaunchPage | list[LaunchEventOut],
            summary="A license's launches, allowed and refused, newest first "
                    "(?format=csv|json exports them all)",
            openapi_extra={"responses": {200: {
                "description": "A page of launches; with format, a file of all of them",
                "content": {"text/csv": {"schema": {"type": "string"}}}}}})
def list_launches(request: HttpRequest, license_id: int,
                  params: Query[LaunchQuery]) -> HttpResponseBase | dict[str, Any]:
    p = principal(request)
    license = get_scoped(License, p, pk=license_id)
    if p.actor.kind != ActorKind.API_KEY:
        p.require(license.org_id, MANAGING_ROLES, "read launch logs")
    request.audit_org = license.org  # type: ignore[attr-defined]
    events = _launches(license, params)
    filters = params.dict(exclude={"limit", "offset", "format"}, exclude_none=True)
    record_read(org=license.org, actor=p.actor, object_type="launch_events",
                object_id=license.pk, details={
                    "filters": {k: str(v) for k, v in filters.items()},
                    "format": params.format or "page"})
    if params.format is None:
        page = list(events[params.offset:params.offset + params.limit])
        return {"items": page, "count": events.count()}
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    name = f"launches-{license.uid}-{stamp}.{params.format}"
    if params.format == "csv":
        response: StreamingHttpResponse = StreamingHttpResponse(
            _csv(events), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_json_array(events),
                                         content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


"""Webhook endpoints and their deliveries over the API (``/api/v1/webhooks``).

Only a signed-in owner or admin manages them, as statement forwarding targets and LRS
credentials: an API key (or an embed token minted from one) cannot — an endpoint is an
outbound channel for the organisation's events and holds a signing secret, and a leaked
key must not be able to add a receiver or read deliveries. Another organisation's
endpoint or delivery is a 404 before any role question. The signing secret is in the
answers of ``POST /webhooks/endpoints`` and ``POST …/{id}/rotate-secret`` only.
(No postponed annotations here: schemas are resolved at runtime.)
"""

import json
from datetime import datetime
from typing import Any, Literal, TypeVar

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status
from pydantic import ConfigDict

from coursewright.api import principal
from coursewright.api_types import Pagination
from coursewright.errors import Invalid
from coursewright.orgs.access import get_scoped
from coursewright.tracking.api_xapi import _manager
from coursewright.webhooks import actions
from coursewright.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint

router = Router(tags=["webhooks"])
Row = TypeVar("Row", WebhookEndpoint, WebhookDelivery)

EventType = Literal["course.created", "course.published", "course.commenced",
                    "course.completed"]


class EndpointOut(Schema):
    id: int
    uid: str
    url: str
    description: str
    events: list[EventType]
    active: bool
    secret_rotated_at: datetime | None
    previous_secret_valid_until: datetime | None = Field(
        description="Until then deliveries carry a second signature, made with the "
                    "previous secret")
    created_at: datetime
    updated_at: datetime


class EndpointWithSecretOut(EndpointOut):
    secret: str = Field(description="The signing secret, shown now and never again "
                                    "(whsec_…; the whole string is the HMAC key)")


class EndpointIn(Schema):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, description="Where events are POSTed (a public "
                                                  "http(s) address; redirects are not "
                                                  "followed)")
    events: list[EventType] = Field(min_length=1, max_length=4)
    description: str = Field(default="", max_length=100)
    active: bool = True


class EndpointPatch(Schema):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, max_length=2000)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=4)
    description: str | None = Field(default=None, max_length=100)
    active: bool | None = None


class RotateIn(Schema):
    model_config = ConfigDict(extra="forbid")
    keep_previous_hours: int = Field(
        default=actions.DEFAULT_GRACE_HOURS, ge=0, le=actions.MAX_GRACE_HOURS,
        description="How long the previous secret keeps signing too (0: stop at once)")


class DeliveryOut(Schema):
    id: int
    uid: str = Field(description="The Coursewright-Delivery header")
    event_id: str = Field(description="The payload's id (the same for every endpoint "
                                      "and every attempt)")
    endpoint_id: int
    event: EventType
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None = Field(description="The last attempt's HTTP status (null: "
                                                "no answer)")
    last_error: str
    delivered_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_uid(obj: Any) -> str:
        return str(obj["uid"] if isinstance(obj, dict) else obj.uid)

    @staticmethod
    def resolve_event_id(obj: Any) -> str:
        return str(obj["event_id"] if isinstance(obj, dict) else obj.event_id)


class AttemptOut(Schema):
    number: int
    manual: bool = Field(description="A resend a person asked for")
    at: datetime = Field(description="When it was sent (the signature's timestamp)")
    duration_ms: int
    status: int | None
    error: str
    response: str | None = Field(description="The start of the receiver's answer")


class DeliveryDetailOut(DeliveryOut):
    payload: dict[str, Any] = Field(description="The body sent (the same bytes every "
                                                "attempt)")
    history: list[AttemptOut]


def endpoint_out(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    until = endpoint.previous_secret_until
    data: dict[str, Any] = {
        "id": endpoint.pk, "uid": str(endpoint.uid), "url": endpoint.url,
        "description": endpoint.description, "events": endpoint.events,
        "active": endpoint.active, "secret_rotated_at": endpoint.secret_rotated_at,
        "previous_secret_valid_until": until if endpoint.previous_secret else None,
        "created_at": endpoint.created_at, "updated_at": endpoint.updated_at}
    if secret is not None:
        data["secret"] = secret
    return data


def delivery_out(row: WebhookDelivery) -> dict[str, Any]:
    return {"id": row.pk, "uid": str(row.uid), "event_id": str(row.event_id),
            "endpoint_id": row.endpoint_id, "event": row.event, "state": row.state,
            "attempts": row.attempts, "next_attempt_at": row.next_attempt_at,
            "last_attempt_at": row.last_attempt_at, "last_status": row.last_status,
            "last_error": row.last_error, "delivered_at": row.delivered_at,
            "created_at": row.created_at}


def _managed(request: HttpRequest, model: type[Row], pk: int, doing: str) -> Row:
    """The caller's organisation's row (another's is a 404), for an owner or admin."""
    p = principal(request)
    row = get_scoped(model, p, pk=pk)
    _manager(p, row.org_id, doing)
    request.audit_org = row.org  # type: ignore[attr-defined]
    return row


def _endpoint(request: HttpRequest, webhook_id: int, doing: str) -> WebhookEndpoint:
    return _managed(request, WebhookEndpoint, webhook_id, doing)


def _delivery(request: HttpRequest, delivery_id: int, doing: str) -> WebhookDelivery:
    return _managed(request, WebhookDelivery, delivery_id, doing)


@router.get("/endpoints", response=list[EndpointOut],
            summary="The organisation's webhook endpoints (owners and admins)")
def list_webhooks(request: HttpRequest, org: str | None = None) -> list[dict[str, Any]]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "see webhook endpoints")
    return [endpoint_out(e) for e in actions.list_endpoints(organisation)]


@router.post("/endpoints", response={201: EndpointWithSecretOut},
             summary="Send the organisation's course events to a URL (a public address); "
                     "answers the signing secret, once")
def create_webhook(request: HttpRequest, body: EndpointIn,
                   org: str | None = None) -> Status[object]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "add webhook endpoints")
    endpoint, secret = actions.create_endpoint(
        organisation, url=body.url, events=body.events, description=body.description,
        active=body.active, actor=p.actor)
    return Status(201, endpoint_out(endpoint, secret))


@router.get("/endpoints/{webhook_id}", response=EndpointOut, summary="One webhook endpoint")
def get_webhook(request: HttpRequest, webhook_id: int) -> dict[str, Any]:
    return endpoint_out(_endpoint(request, webhook_id, "see webhook endpoints"))


@router.patch("/endpoints/{webhook_id}", response=EndpointOut,
              summary="Change a webhook endpoint's URL, events, description, or switch it "
                      "off and on")
def update_webhook(request: HttpRequest, webhook_id: int,
                   body: EndpointPatch) -> dict[str, Any]:
    endpoint = _endpoint(request, webhook_id, "change webhook endpoints")
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise Invalid("leave out what does not change; null is not a value here",
                      code="bad_value")
    return endpoint_out(actions.update_endpoint(endpoint, actor=principal(request).actor,
                                                **changes))


@router.delete("/endpoints/{webhook_id}", response={204: None},
               summary="Remove a webhook endpoint and its deliveries")
def delete_webhook(request: HttpRequest, webhook_id: int) -> Status[None]:
    endpoint = _endpoint(request, webhook_id, "remove webhook endpoints")
    actions.delete_endpoint(endpoint, actor=principal(request).actor)
    return Status(204, None)


@router.post("/endpoints/{webhook_id}/rotate-secret", response=EndpointWithSecretOut,
             summary="A new signing secret (answered once); the previous one keeps "
                     "signing for a grace period")
def rotate_webhook_secret(request: HttpRequest, webhook_id: int,
                          body: RotateIn | None = None) -> dict[str, Any]:
    endpoint = _endpoint(request, webhook_id, "rotate webhook secrets")
    hours = body.keep_previous_hours if body else actions.DEFAULT_GRACE_HOURS
    rotated, secret = actions.rotate_secret(endpoint, actor=principal(request).actor,
                                            keep_previous_hours=hours)
    return endpoint_out(rotated, secret)


@router.get("/deliveries", response=list[DeliveryOut],
            summary="The organisation's webhook deliveries, newest first (kept 30 days)")
@paginate(Pagination)
def list_webhook_deliveries(
        request: HttpRequest, org: str | None = None,
        endpoint_id: int | None = None,
        event: EventType | None = None,
        state: Literal["pending", "delivered", "failed"] | None = None,
) -> QuerySet[WebhookDelivery]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "see webhook deliveries")
    rows = WebhookDelivery.objects.filter(org=organisation).defer("payload")
    if endpoint_id is not None:
        rows = rows.filter(endpoint_id=endpoint_id)
    if event is not None:
        rows = rows.filter(event=event)
    if state is not None:
        rows = rows.filter(state=DeliveryState(state))
    return rows.order_by("-id")


@router.get("/deliveries/{delivery_id}", response=DeliveryDetailOut,
            summary="One delivery: the body sent and every attempt")
def get_webhook_delivery(request: HttpRequest, delivery_id: int) -> dict[str, Any]:
    row = _delivery(request, delivery_id, "see webhook deliveries")
    history = [{"number": a.number, "manual": a.manual, "at": a.signed_at,
                "duration_ms": a.duration_ms, "status": a.status, "error": a.error,
                "response": a.response} for a in row.history.order_by("number")]
    return {**delivery_out(row), "payload": json.loads(row.payload), "history": history}


@router.post("/deliveries/{delivery_id}/resend", response={202: DeliveryOut},
             summary="Send a delivery again now, with a fresh timestamp and signature")
def resend_webhook_delivery(request: HttpRequest, delivery_id: int) -> Status[object]:
    row = _delivery(request, delivery_id, "resend webhook deliveries")
    actions.resend_delivery(row, actor=principal(request).actor)
    return Status(202, delivery_out(WebhookDelivery.objects.get(pk=row.pk)))


"""Webhook endpoints: every change is one function, one transaction, one audit row.

- **The URL** passes the outbound guard when saved (syntax, and every address its host
  resolves to must be public unless the operator allows private targets): a bad one is a
  clear 422 here, not a silent failure later. The guard checks again at every send.
- **The signing secret** is made here (``signing.new_secret``) and returned only by
  ``create_endpoint`` and ``rotate_secret``, to be shown once; it is stored sealed under
  the organisation's key and never appears in an audit row, an answer or an export.
  Audit rows show the URL without its query (which may carry a token).
- **A resend** is a person's request: audited, then one attempt in a job, signed afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from coursewright import outbound
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.errors import Conflict, Invalid
from coursewright.webhooks import signing
from coursewright.webhooks.models import Event, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from coursewright.orgs.models import Organisation

MAX_ENDPOINTS = 5
MAX_DESCRIPTION = 100
DEFAULT_GRACE_HOURS = 24
MAX_GRACE_HOURS = 168


def _events(values: Any) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise Invalid("events must be a list of event types", code="bad_events")
    events = list(dict.fromkeys(values))
    unknown = [str(e)[:50] for e in events if e not in Event.values]
    if unknown:
        raise Invalid(f"unknown event type {unknown[0]!r}; the events are "
                      f"{', '.join(Event.values)}", code="bad_events")
    if not events:
        raise Invalid("subscribe to at least one event", code="bad_events")
    return [str(e) for e in events]


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("the description must be text", code="bad_description")
    text = value.strip()
    if len(text) > MAX_DESCRIPTION or any(ord(c) < 32 for c in text):
        raise Invalid(f"keep the description to one line of at most {MAX_DESCRIPTION} "
                      "characters", code="bad_description")
    return text


def describe(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What an audit row says about an endpoint: never its secret."""
    return {"url": outbound.shown_url(endpoint.url), "description": endpoint.description,
            "events": list(endpoint.events), "active": endpoint.active}


def list_endpoints(org: Organisation) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(org=org).order_by("id"))


def create_endpoint(org: Organisation, *, url: str, events: Iterable[str],
                    description: str = "", active: bool = True,
                    actor: Actor) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (the only time the caller sees it)."""
    from coursewright.orgs.models import Organisation

    secret = signing.new_secret()
    endpoint = WebhookEndpoint(org=org, url=outbound.vet_url(url), events=_events(events),
                               description=_description(description), active=bool(active),
                               secret=secret,
                               created_by=actor.user if actor.is_person else None)
    with transaction.atomic():
        # the organisation's row serialises concurrent creations (the cap holds)
        Organisation.objects.select_for_update().filter(pk=org.pk).first()
        if WebhookEndpoint.objects.filter(org=org).count() >= MAX_ENDPOINTS:
            raise Conflict(f"an organisation has at most {MAX_ENDPOINTS} webhook endpoints",
                           code="too_many_endpoints")
        endpoint.save()
        record_event(org=org, actor=actor, action="webhook.created",
                     object_type="webhook_endpoint", object_id=endpoint.pk,
                     after=describe(endpoint))
    return endpoint, secret


_UNSET: Any = object()


def update_endpoint(endpoint: WebhookEndpoint, *, actor: Actor, url: Any = _UNSET,
                    events: Any = _UNSET, description: Any = _UNSET,
                    active: Any = _UNSET) -> WebhookEndpoint:
    """Change what is given; ``active=False`` stops deliveries (pending ones fail)."""
    changes: dict[str, Any] = {}
    if url is not _UNSET:
        changes["url"] = outbound.vet_url(url)
    if events is not _UNSET:
        changes["events"] = _events(events)
    if description is not _UNSET:
        changes["description"] = _description(description)
    if active is not _UNSET:
        if not isinstance(active, bool):
            raise Invalid("active must be true or false", code="bad_active")
        changes["active"] = active
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = describe(current)
        for attribute, value in changes.items():
            setattr(current, attribute, value)
        current.save(update_fields=[*changes, "updated_at"])
        record_event(org=current.org, actor=actor, action="webhook.updated",
                     object_type="webhook_endpoint", object_id=current.pk,
                     before=before, after=describe(current))
    return current


def delete_endpoint(endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    """Forget the endpoint and its deliveries."""
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = {**describe(current),
                  "deliveries": WebhookDelivery.objects.filter(endpoint=current).count()}
        pk, org = current.pk, current.org
        current.delete()
        record_event(org=org, actor=actor, action="webhook.deleted",
                     object_type="webhook_endpoint", object_id=pk, before=before)


def rotate_secret(endpoint: WebhookEndpoint, *, actor: Actor,
                  keep_previous_hours: int = DEFAULT_GRACE_HOURS
                  ) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (returned once). The one it replaces keeps signing too, for
    ``keep_previous_hours`` (0: it stops at once), so the receiver can switch over."""
    if (isinstance(keep_previous_hours, bool) or not isinstance(keep_previous_hours, int)
            or not 0 <= keep_previous_hours <= MAX_GRACE_HOURS):
        raise Invalid(f"keep_previous_hours must be a whole number from 0 to "
                      f"{MAX_GRACE_HOURS}", code="bad_grace")
    secret = signing.new_secret()
    now = timezone.now()
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if keep_previous_hours:
            current.previous_secret = current.secret
            current.previous_secret_until = now + timedelta(hours=keep_previous_hours)
        else:
            current.previous_secret, current.previous_secret_until = None, None
        current.secret, current.secret_rotated_at = secret, now
        current.save(update_fields=["secret", "previous_secret", "previous_secret_until",
                                    "secret_rotated_at", "updated_at"])
        until = current.previous_secret_until
        record_event(org=current.org, actor=actor, action="webhook.secret_rotated",
                     object_type="webhook_endpoint", object_id=current.pk,
                     after={"previous_valid_until": until.isoformat() if until else None})
    return current, secret


def resend_delivery(delivery: WebhookDelivery, *, actor: Actor) -> WebhookDelivery:
    """Send a delivery again now (a job), with a fresh timestamp and signature."""
    with transaction.atomic():
        current = (WebhookDelivery.objects.select_for_update().select_related("endpoint")
                   .get(pk=delivery.pk))
        if not current.endpoint.active:
            raise Conflict("the endpoint is disabled: enable it to send to it",
                           code="endpoint_disabled")
        record_event(org=current.endpoint.org, actor=actor, action="webhook.resent",
                     object_type="webhook_delivery", object_id=current.pk,
                     after={"delivery": str(current.uid), "event": current.event,
                            "endpoint": current.endpoint_id, "state": current.state})
        delivery_id = current.pk
        transaction.on_commit(lambda: _enqueue(delivery_id, manual=True))
    return current


def _enqueue(delivery_id: int, *, manual: bool) -> None:
    from coursewright.webhooks.tasks import deliver_webhook_task

    deliver_webhook_task(delivery_id, manual)

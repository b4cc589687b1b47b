"""Webhooks under the privacy rules: retention, learner export and deletion, the
organisation export and deletion counts.

Design note
-----------
- **Retention.** Deliveries are a sender's log: they are kept ``KEEP_DAYS`` (30) days at
  most, whatever the organisation's rules (``expire_deliveries``, daily, one system
  audit row per organisation with the count), and less when the organisation's
  ``launch_logs`` rule is shorter: ``register`` chains their purge after that category's
  (so its receipt counts them). Attempts go with their delivery. Endpoints are settings,
  kept until removed.
- **Learners.** Events about a learner (commenced, completed) name them only by the
  hashed id the platform keeps; the delivery row carries that hash in ``learner``, so a
  learner's export lists those deliveries (with the payloads we sent) and their deletion
  removes them — found by the pseudonyms ``privacy.learners`` computes, without opening
  any payload. What was already delivered is the receiver's copy, beyond our reach.
- **The organisation.** Its export lists the endpoints (never a secret) and the
  deliveries' metadata (never a payload); its deletion removes both by cascade from the
  organisation (bounded: 30 days of deliveries at most), counted in the receipt.
- Functions here write no audit row, except the expiry: the caller (``privacy.*``)
  writes the receipt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from coursewright.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from coursewright.orgs.models import Organisation

KEEP_DAYS = 30


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def purge_deliveries(org: Organisation, cutoff: datetime) -> int:
    """Deliveries (with their attempts) recorded before ``cutoff``; how many."""
    old = WebhookDelivery.objects.filter(org=org, created_at__lt=cutoff)
    count = old.count()
    if count:
        WebhookAttempt.objects.filter(delivery__in=old.values("pk")).delete()
        old.delete()
    return count


def register() -> None:
    """Chain ``purge_deliveries`` after the launch-log purge (once)."""
    from coursewright.privacy import retention
    from coursewright.privacy.models import Category

    launch_logs = retention.PURGERS[Category.LAUNCH_LOGS]
    if getattr(launch_logs, "with_webhook_deliveries", False):
        return

    def with_deliveries(org: Organisation, cutoff: datetime) -> int:
        return launch_logs(org, cutoff) + purge_deliveries(org, cutoff)

    with_deliveries.with_webhook_deliveries = True  # type: ignore[attr-defined]
    retention.PURGERS[Category.LAUNCH_LOGS] = with_deliveries


def expire_deliveries(now: datetime | None = None) -> dict[str, int]:
    """Deliveries older than ``KEEP_DAYS``, organisation by organisation (every delivery
    belongs to an endpoint, so only organisations with one are looked at)."""
    from coursewright.audit.actions import record_event
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

    cutoff = (now or timezone.now()) - timedelta(days=KEEP_DAYS)
    report: dict[str, int] = {}
    org_ids = WebhookEndpoint.objects.values_list("org_id", flat=True).distinct()
    for org in Organisation.objects.filter(pk__in=org_ids).order_by("pk"):
        with transaction.atomic():
            count = purge_deliveries(org, cutoff)
            if count:
                record_event(org=org, actor=Actor.system(),
                             action="webhook.deliveries_expired",
                             object_type="organisation", object_id=org.pk,
                             after={"keep_days": KEEP_DAYS, "deliveries": count})
                report[org.slug] = count
    return report


# --- one learner --------------------------------------------------------------------------


def _learner_deliveries(org: Organisation,
                        pseudonyms: Iterable[str]) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(org=org, learner__in=[p for p in pseudonyms if p])


def learner_export(org: Organisation, pseudonyms: Iterable[str]) -> dict[str, Any]:
    """The deliveries about the learner, with what they said."""
    return {"webhook_deliveries": [
        {**delivery_row(d), "payload": json.loads(d.payload)}
        for d in _learner_deliveries(org, pseudonyms).order_by("pk")]}


def delete_learner_records(org: Organisation, pseudonyms: Iterable[str]) -> dict[str, int]:
    """Counted only when there were some, like the receipts' other newer kinds."""
    theirs = _learner_deliveries(org, pseudonyms)
    count = theirs.count()
    if not count:
        return {}
    WebhookAttempt.objects.filter(delivery__in=theirs.values("pk")).delete()
    theirs.delete()
    return {"webhook_deliveries": count}


# --- the organisation -----------------------------------------------------------------------


def delivery_row(delivery: WebhookDelivery) -> dict[str, Any]:
    return {"id": delivery.pk, "uid": str(delivery.uid), "event_id": str(delivery.event_id),
            "endpoint_id": delivery.endpoint_id, "event": delivery.event,
            "state": delivery.state, "attempts": delivery.attempts,
            "last_status": delivery.last_status, "created_at": _iso(delivery.created_at),
            "delivered_at": _iso(delivery.delivered_at)}


def endpoint_row(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"id": endpoint.pk, "uid": str(endpoint.uid), "url": endpoint.url,
            "description": endpoint.description, "events": list(endpoint.events),
            "active": endpoint.active, "created_at": _iso(endpoint.created_at),
            "secret_rotated_at": _iso(endpoint.secret_rotated_at)}


def org_export(org: Organisation) -> dict[str, list[dict[str, Any]]]:
    """Endpoints without their secrets; deliveries as metadata, without payloads."""
    return {
        "webhook_endpoints": [endpoint_row(e) for e in
                              WebhookEndpoint.objects.filter(org=org).order_by("pk")],
        "webhook_deliveries": [delivery_row(d) for d in
                               WebhookDelivery.objects.filter(org=org).order_by("pk")
                               .defer("payload").iterator(chunk_size=1000)],
    }


def org_counts(org: Organisation) -> dict[str, int]:
    """For the deletion receipt: counted only when there are some."""
    counts = {"webhook_endpoints": WebhookEndpoint.objects.filter(org=org).count(),
              "webhook_deliveries": WebhookDelivery.objects.filter(org=org).count()}
    return {k: v for k, v in counts.items() if v}

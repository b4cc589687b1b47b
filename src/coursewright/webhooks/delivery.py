"""Delivering webhook events to partners' URLs: signed, retried, recorded.

Design note
-----------
- **When.** ``events.emit`` records a delivery row inside the transaction of the change
  it reports and queues a job for it on commit, which sends it at once. A job every
  minute picks up what is due: retries, and rows whose job was lost (a worker that
  died, a queue that was down) — a row waits in the database, not in the queue.
- **At least once, unordered.** A delivery is done when the receiver answers 2xx within
  ``TIMEOUT`` seconds. Anything else is a failed attempt: no answer, a timeout, an
  address the outbound guard refuses, a redirect (never followed: a signed body is not
  replayed to another address, and a redirect could aim at an internal one), any other
  status. An answer that got lost after the receiver acted means it sees the event
  again: receivers drop repeats by the payload's ``id``. A retried event can arrive
  after a later one; the payload's ``created`` orders them.
- **Retries back off.** At most ``MAX_ATTEMPTS`` (8) automatic attempts: after the n-th
  failure the next waits 10 min · 2^(n-1), capped at 12 h, with jitter (between half
  and all of it; ``coursewright.outbound``) — about 10½ to 21 hours from the first
  attempt to the last — or the receiver's ``Retry-After`` if longer (capped the same).
  Then the delivery is ``failed``; a person can still resend it.
- **Every attempt is signed afresh** (``webhooks.signing``: the attempt's own timestamp,
  the current secret and, during a rotation's grace period, the previous one too), so a
  retry or a resend is never refused as stale. The body is the same bytes every time.
- **One worker per delivery.** A worker takes a delivery with a conditional update (a
  lease, ``outbound.claim``); another finds it leased and leaves it. Its writes after
  sending are conditional on still holding the lease.
- **Every attempt is recorded**: when, how long, the status code, the error (the signing
  secrets blanked out) and the start of the receiver's answer (sealed, blanked out the
  same way). These are delivery logs, like launch events, not audit rows: the audit log
  records what people do (endpoint changes, secret rotations, resends).
- **A disabled endpoint gets nothing.** Its pending deliveries fail at their next turn;
  resending one needs the endpoint enabled again.
- **Kept 30 days at most** (``webhooks.privacy``): a daily job deletes older deliveries
  with their attempts; an organisation's launch-log retention rule applies to them too
  when it is shorter.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from coursewright import outbound
from coursewright.webhooks import signing
from coursewright.webhooks.models import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

TIMEOUT = 10.0
MAX_ATTEMPTS = 8
BACKOFF_BASE = 600.0
BACKOFF_CAP = 12 * 3600.0
LEASE = timedelta(minutes=2)
RESPONSE_CHARS = 1000
ERROR_CHARS = 300
DUE_BATCH = 500
USER_AGENT = "coursewright-webhooks/1"


def timeout() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", TIMEOUT))


def due_deliveries(now: datetime | None = None) -> list[int]:
    """Pending deliveries whose time has come and that no worker holds."""
    now = now or timezone.now()
    return list(WebhookDelivery.objects.filter(state=DeliveryState.PENDING)
                .filter(outbound.due(now), outbound.unleased(now))
                .order_by("pk").values_list("pk", flat=True)[:DUE_BATCH])


def deliver(delivery_id: int, *, manual: bool = False, now: datetime | None = None) -> str:
    """Make one attempt at a delivery, if it is due (or ``manual``: a resend) and no
    other worker holds it. Returns what happened: delivered, retry, failed, disabled,
    busy (not due, or leased) or gone."""
    now = now or timezone.now()
    rows = WebhookDelivery.objects.filter(pk=delivery_id)
    if not manual:
        rows = rows.filter(outbound.due(now), state=DeliveryState.PENDING)
    token = outbound.claim(rows, now=now, lease=LEASE)
    if token is None:
        return "busy"
    try:
        delivery = (WebhookDelivery.objects.select_related("endpoint")
                    .filter(pk=delivery_id).first())
        if delivery is None:
            return "gone"
        return _attempt(delivery, token, manual=manual, now=now)
    finally:
        outbound.release(WebhookDelivery.objects.filter(pk=delivery_id), token)


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and the previous one while its grace period lasts."""
    found = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > now:
        found.append(endpoint.previous_secret)
    return found


def _attempt(delivery: WebhookDelivery, token: str, *, manual: bool, now: datetime) -> str:
    endpoint = delivery.endpoint
    held = WebhookDelivery.objects.filter(pk=delivery.pk, lease_token=token)
    if not endpoint.active:
        if delivery.state == DeliveryState.PENDING:
            held.update(state=DeliveryState.FAILED, next_attempt_at=None,
                        last_error="the endpoint is disabled")
        return "disabled"
    keys = signing_secrets(endpoint, now)
    body = delivery.payload.encode()
    headers = {
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        signing.SIGNATURE_HEADER: signing.signature_header(keys, int(now.timestamp()), body),
        signing.EVENT_HEADER: delivery.event, signing.DELIVERY_HEADER: str(delivery.uid),
    }
    sent = outbound.post(endpoint.url, body=body, headers=headers, timeout=timeout())
    status = sent.status
    delivered = status is not None and 200 <= status < 300
    error = "" if delivered else outbound.scrub(_error(sent), keys)[:ERROR_CHARS]
    answer = sent.answer
    number = delivery.attempts + 1
    changes: dict[str, Any] = {"attempts": number, "last_attempt_at": now,
                               "last_status": status, "last_error": error}
    result = "delivered"
    if delivered:
        changes.update(state=DeliveryState.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif delivery.state != DeliveryState.PENDING:
        result = "failed"  # a resend of a finished delivery: it stays as it was
    elif number >= MAX_ATTEMPTS:
        result = "failed"
        changes.update(state=DeliveryState.FAILED, next_attempt_at=None)
    else:
        result = "retry"
        wait = max(outbound.backoff(number, base=BACKOFF_BASE, cap=BACKOFF_CAP),
                   outbound.retry_after(answer.headers.get("retry-after", "") if answer
                                        else "", cap=BACKOFF_CAP, now=now))
        changes["next_attempt_at"] = now + timedelta(seconds=wait)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            org_id=delivery.org_id, delivery=delivery, number=number, manual=manual,
            signed_at=now, duration_ms=round(sent.seconds * 1000), status=status,
            error=error,
            response=(outbound.scrub(outbound.excerpt(answer, RESPONSE_CHARS), keys)
                      if answer is not None and answer.body else None))
        if not held.update(**changes):  # the lease expired and another worker took it
            return "busy"
    if not delivered:
        logger.info("webhook delivery %s, attempt %d: %s", delivery.uid, number, error)
    return result


def _error(sent: outbound.Sent) -> str:
    if sent.answer is None:
        return sent.error
    status = sent.answer.status
    if 300 <= status < 400:
        return (f"the receiver answered HTTP {status} (a redirect); redirects are not "
                "followed: give the endpoint's final address")
    return f"the receiver answered HTTP {status}"

"""Webhook jobs: one per delivery as soon as its event is committed (and per resend),
every minute the deliveries that are due (retries, and any whose job was lost), and
daily the expiry of old deliveries. The lease in ``webhooks.delivery`` keeps two
workers off the same delivery."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from coursewright.webhooks.delivery import deliver, due_deliveries


@db_task(retries=0)  # type: ignore[untyped-decorator]
def deliver_webhook_task(delivery_id: int, manual: bool = False) -> None:
    deliver(delivery_id, manual=manual)  # failures are recorded and retried later


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def deliver_due_webhooks_task() -> None:
    for delivery_id in due_deliveries():
        deliver_webhook_task(delivery_id)


@db_periodic_task(crontab(hour="3", minute="40"))  # type: ignore[untyped-decorator]
def expire_webhook_deliveries_task() -> None:
    from coursewright.webhooks.privacy import expire_deliveries

    expire_deliveries()

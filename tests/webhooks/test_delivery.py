"""Sending deliveries: signed over the exact body, 2xx is delivered, anything else is a
failed attempt that backs off (500, a timeout, a refused connection, a redirect, an
address the outbound guard refuses), up to the last attempt; each attempt recorded with
secrets blanked out; one worker per delivery; rotation signs with both secrets during
the grace period. Time is passed to the sender (``now=``): nothing sleeps but the one
receiver that is too slow on purpose."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from coursewright import netguard
from coursewright.audit.actor import Actor
from coursewright.privacy.crypto import is_sealed
from coursewright.webhooks import actions, delivery, tasks
from coursewright.webhooks.events import emit
from coursewright.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery
from tests.conftest import People
from tests.webhooks.conftest import Answer, Partner, add_endpoint, signed_by

pytestmark = pytest.mark.django_db

DATA = {"course": {"id": 1, "uid": "00000000-0000-4000-8000-000000000001"}}


def recorded(people: People) -> WebhookDelivery:
    """A course.created delivery recorded (not yet sent: tests here send it)."""
    (row,) = emit(people.acme, "course.created", DATA)
    return row


def row(delivery_id: int) -> WebhookDelivery:
    return WebhookDelivery.objects.get(pk=delivery_id)


def attempts(delivery_id: int) -> list[WebhookAttempt]:
    return list(WebhookAttempt.objects.filter(delivery_id=delivery_id).order_by("number"))


def test_a_delivery_is_signed_over_the_exact_body(people: People, partner: Partner) -> None:
    endpoint, secret = add_endpoint(people, partner.url)
    pending = recorded(people)
    before = timezone.now()
    assert delivery.deliver(pending.pk) == "delivered"
    (hit,) = partner.hits
    # the body is the stored payload, byte for byte, and the signature covers it
    assert hit.body == pending.payload.encode()
    assert hit.path == "/hooks/coursewright?tenant=t1"
    assert signed_by(secret, hit)
    assert not signed_by("whsec_someone-else", hit)
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["coursewright-event"] == "course.created"
    assert hit.headers["coursewright-delivery"] == str(pending.uid)
    timestamp = int(hit.headers["coursewright-signature"].split(",")[0].removeprefix("t="))
    assert abs(timestamp - before.timestamp()) < 5
    assert json.loads(hit.body)["data"] == DATA
    done = row(pending.pk)
    assert (done.state, done.attempts, done.last_status, done.last_error) == (
        DeliveryState.DELIVERED, 1, 200, "")
    assert done.delivered_at is not None
    (attempt,) = attempts(pending.pk)
    assert (attempt.status, attempt.response, attempt.manual, attempt.error) == (
        200, "thanks", False, "")
    # delivered is done: the periodic job finds nothing due
    assert delivery.deliver(pending.pk) == "busy"
    assert delivery.due_deliveries() == []
    assert endpoint.pk == done.endpoint_id


def test_failures_back_off_until_the_last_attempt(people: People, partner: Partner) -> None:
    add_endpoint(people, partner.url)
    partner.usual = Answer(status=500, body=b"oops")
    pending = recorded(people)
    moment = timezone.now()
    assert delivery.deliver(pending.pk, now=moment) == "retry"
    waits = []
    for number in range(2, delivery.MAX_ATTEMPTS + 1):
        current = row(pending.pk)
        assert (current.state, current.attempts, current.last_status) == (
            DeliveryState.PENDING, number - 1, 500)
        assert current.last_error == "the receiver answered HTTP 500"
        assert current.next_attempt_at is not None
        wait = (current.next_attempt_at - moment).total_seconds()
        ceiling = min(delivery.BACKOFF_CAP, delivery.BACKOFF_BASE * 2 ** (number - 2))
        assert ceiling / 2 <= wait <= ceiling, (number, wait)
        waits.append(wait)
        # not due yet: nothing is sent
        sent = len(partner.hits)
        early = current.next_attempt_at - timedelta(seconds=1)
        assert delivery.deliver(pending.pk, now=early) == "busy"
        assert len(partner.hits) == sent
        moment = current.next_attempt_at
        assert delivery.deliver(pending.pk, now=moment) == (
            "failed" if number == delivery.MAX_ATTEMPTS else "retry")
    last = row(pending.pk)
    assert (last.state, last.attempts, last.next_attempt_at) == (
        DeliveryState.FAILED, delivery.MAX_ATTEMPTS, None)
    assert len(partner.hits) == delivery.MAX_ATTEMPTS
    assert waits == sorted(waits)  # the ceiling doubles: the wait never shrinks
    assert 10 * 3600 < sum(waits) <= 21.2 * 3600  # about a day, all told
    # every attempt is recorded, and a failed delivery is no longer due
    assert [a.number for a in attempts(pending.pk)] == list(range(1, 9))
    assert delivery.deliver(pending.pk, now=moment + timedelta(days=2)) == "busy"
    assert delivery.due_deliveries(now=moment + timedelta(days=2)) == []


def test_retry_after_is_honoured(people: People, partner: Partner) -> None:
    add_endpoint(people, partner.url)
    partner.plan = [Answer(status=503, headers={"Retry-After": "7200"})]
    pending = recorded(people)
    moment = timezone.now()
    assert delivery.deliver(pending.pk, now=moment) == "retry"
    waiting = row(pending.pk).next_attempt_at
    assert waiting is not None
    assert (waiting - moment).total_seconds() >= 7200
    # and when it is due, it goes
    assert delivery.deliver(pending.pk, now=waiting) == "delivered"


def test_a_slow_receiver_times_out(people: People, partner: Partner, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    add_endpoint(people, partner.url)
    partner.plan = [Answer(delay=1.5)]
    pending = recorded(people)
    assert delivery.deliver(pending.pk) == "retry"
    failed = row(pending.pk)
    assert failed.last_status is None
    assert failed.last_error.startswith("no answer")
    assert "timed out" in failed.last_error
    (attempt,) = attempts(pending.pk)
    assert (attempt.status, attempt.response) == (None, None)
    assert 250 <= attempt.duration_ms < 1500


def test_a_refused_connection_is_a_failed_attempt(people: People) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    add_endpoint(people, f"http://127.0.0.1:{port}/hooks")
    pending = recorded(people)
    assert delivery.deliver(pending.pk) == "retry"
    assert row(pending.pk).last_error.startswith("no answer: could not reach 127.0.0.1")


def test_redirects_are_not_followed(people: People, partner: Partner) -> None:
    add_endpoint(people, partner.url)
    partner.plan = [Answer(status=307, headers={"Location": f"{partner.base}/elsewhere"})]
    pending = recorded(people)
    assert delivery.deliver(pending.pk) == "retry"
    assert [h.path for h in partner.hits] == ["/hooks/coursewright?tenant=t1"]
    failed = row(pending.pk)
    assert failed.last_status == 307
    assert "redirects are not followed" in failed.last_error


def test_loopback_is_refused_at_send_unless_the_operator_allows_it(
        people: People, partner: Partner, settings: Any) -> None:
    # saved while private targets were allowed; the operator then forbids them
    add_endpoint(people, partner.url)
    pending = recorded(people)
    settings.OUTBOUND_ALLOW_PRIVATE = False
    assert delivery.deliver(pending.pk) == "retry"
    assert partner.hits == []
    error = row(pending.pk).last_error
    assert error.startswith("the outbound guard refused the target")
    assert "127.0.0.1" in error
    assert "not public" in error


def test_a_switched_off_endpoint_gets_nothing(people: People, partner: Partner) -> None:
    endpoint, _ = add_endpoint(people, partner.url)
    pending = recorded(people)
    actions.update_endpoint(endpoint, actor=Actor.person(people.alice), active=False)
    assert delivery.deliver(pending.pk) == "disabled"
    assert partner.hits == []
    failed = row(pending.pk)
    assert (failed.state, failed.last_error, failed.attempts) == (
        DeliveryState.FAILED, "the endpoint is disabled", 0)


def test_one_worker_per_delivery(people: People, partner: Partner,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    add_endpoint(people, partner.url)
    pending = recorded(people)
    others: list[str] = []
    real_send = netguard.send

    def send_while_another_worker_tries(*args: Any, **kwargs: Any) -> netguard.Answer:
        others.append(delivery.deliver(pending.pk))
        others.append(delivery.deliver(pending.pk, manual=True))
        return real_send(*args, **kwargs)

    monkeypatch.setattr(netguard, "send", send_while_another_worker_tries)
    assert delivery.deliver(pending.pk) == "delivered"
    assert others == ["busy", "busy"]
    assert len(partner.hits) == 1
    monkeypatch.undo()
    # the lease is given up afterwards; a lease left by a worker that died expires
    assert row(pending.pk).lease_token == ""
    WebhookDelivery.objects.filter(pk=pending.pk).update(
        lease_token="x" * 32, lease_until=timezone.now() + timedelta(minutes=1))
    assert delivery.deliver(pending.pk, manual=True) == "busy"
    later = timezone.now() + delivery.LEASE + timedelta(seconds=1)
    assert delivery.deliver(pending.pk, manual=True, now=later) == "delivered"


def test_rotation_signs_with_both_secrets_for_the_grace_period(
        people: People, partner: Partner) -> None:
    endpoint, old = add_endpoint(people, partner.url)
    rotated, new = actions.rotate_secret(endpoint, actor=Actor.person(people.alice),
                                         keep_previous_hours=24)
    assert new != old
    assert new.startswith("whsec_")
    assert len(new) == len("whsec_") + 43  # 256 bits, URL-safe base64
    moment = timezone.now()
    first = recorded(people)
    assert delivery.deliver(first.pk, now=moment) == "delivered"
    header = partner.hits[-1].headers["coursewright-signature"]
    assert header.count("v1=") == 2
    assert signed_by(new, partner.hits[-1])
    assert signed_by(old, partner.hits[-1])
    # after the grace period, the new secret only
    second = recorded(people)
    assert delivery.deliver(second.pk, now=moment + timedelta(hours=25)) == "delivered"
    assert partner.hits[-1].headers["coursewright-signature"].count("v1=") == 1
    assert signed_by(new, partner.hits[-1])
    assert not signed_by(old, partner.hits[-1])
    # rotating with no grace drops the old one at once
    _, newest = actions.rotate_secret(rotated, actor=Actor.person(people.alice),
                                      keep_previous_hours=0)
    third = recorded(people)
    assert delivery.deliver(third.pk, now=moment) == "delivered"
    assert signed_by(newest, partner.hits[-1])
    assert not signed_by(new, partner.hits[-1])


def test_secrets_are_blanked_out_of_what_is_kept(people: People, partner: Partner) -> None:
    _, secret = add_endpoint(people, partner.url)
    # a receiver that echoes what it should never have
    partner.plan = [Answer(status=400, body=f"bad signature for key {secret}".encode())]
    pending = recorded(people)
    assert delivery.deliver(pending.pk) == "retry"
    (attempt,) = attempts(pending.pk)
    assert attempt.response == "bad signature for key [redacted]"
    assert secret not in attempt.error


def test_payloads_urls_secrets_and_answers_are_sealed(people: People,
                                                      partner: Partner) -> None:
    endpoint, secret = add_endpoint(people, partner.url)
    pending = recorded(people)
    delivery.deliver(pending.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, secret FROM webhooks_webhookendpoint WHERE id = %s",
                       [endpoint.pk])
        url_blob, secret_blob = (bytes(v) for v in cursor.fetchone())
        cursor.execute("SELECT payload FROM webhooks_webhookdelivery WHERE id = %s",
                       [pending.pk])
        (payload_blob,) = (bytes(v) for v in cursor.fetchone())
        cursor.execute("SELECT response FROM webhooks_webhookattempt")
        (response_blob,) = (bytes(v) for v in cursor.fetchone())
    for blob in (url_blob, secret_blob, payload_blob, response_blob):
        assert is_sealed(blob)
    assert b"127.0.0.1" not in url_blob
    assert secret.encode() not in secret_blob
    assert b"course.created" not in payload_blob
    assert b"thanks" not in response_blob


def test_the_periodic_job_sends_what_is_due(people: People, partner: Partner) -> None:
    # a delivery whose on-commit job was lost (the test's transaction never commits)
    add_endpoint(people, partner.url)
    pending = recorded(people)
    assert delivery.due_deliveries() == [pending.pk]
    tasks.deliver_due_webhooks_task()
    assert row(pending.pk).state == DeliveryState.DELIVERED
    assert len(partner.hits) == 1


def test_a_resend_is_a_fresh_attempt(people: People, partner: Partner,
                                     run_jobs: None) -> None:
    _, secret = add_endpoint(people, partner.url)
    pending = recorded(people)  # sent at once (the job runs on "commit")
    assert row(pending.pk).state == DeliveryState.DELIVERED
    first = partner.hits[0].headers["coursewright-signature"]
    later = timezone.now() + timedelta(seconds=2)
    assert delivery.deliver(pending.pk, manual=True, now=later) == "delivered"
    second = partner.hits[1]
    assert second.body == partner.hits[0].body
    assert second.headers["coursewright-signature"] != first
    assert signed_by(secret, second)
    assert [(a.number, a.manual) for a in attempts(pending.pk)] == [(1, False), (2, True)]
    # a failed resend of a delivered delivery leaves it delivered
    partner.plan = [Answer(status=500)]
    assert delivery.deliver(pending.pk, manual=True) == "failed"
    after = row(pending.pk)
    assert (after.state, after.attempts, after.last_status) == (
        DeliveryState.DELIVERED, 3, 500)


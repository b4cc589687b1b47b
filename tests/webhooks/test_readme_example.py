"""The README's webhook verification example is the receiver's code, run as printed:
it is cut out of README.md (the Python block of the "Webhooks" section) and executed
against real deliveries caught by a receiver on 127.0.0.1 — a genuine one passes; a
tampered body, a stale timestamp, another secret and a missing signature are refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from coursewright.audit.actor import Actor
from coursewright.webhooks import actions, delivery, signing
from coursewright.webhooks.events import emit
from tests.conftest import People
from tests.webhooks.conftest import Hit, Partner, add_endpoint

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"
Verify = Callable[..., bool]


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^### Webhooks\n(.*?)^#{2,3} ", text, re.S | re.M)
    assert section, "README.md has no Webhooks section"
    blocks = re.findall(r"^```python\n(.*?)^```", section.group(1), re.S | re.M)
    assert len(blocks) == 1, "the Webhooks section should have one Python example"
    return str(blocks[0])


@pytest.fixture(scope="module")
def verify() -> Verify:
    code = readme_example()
    # the standard library only
    imported = set(re.findall(r"^(?:import|from) (\w+)", code, re.M))
    assert imported <= {"hashlib", "hmac", "time"}, imported
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    function: Verify = namespace["verify"]
    return function


def caught(people: People, partner: Partner, *, at: Any = None) -> Hit:
    (row,) = emit(people.acme, "course.completed", {"course": {"id": 5}},
                  learner="ef" * 32)
    assert delivery.deliver(row.pk, now=at) == "delivered"
    return partner.hits[-1]


def test_a_genuine_delivery_passes_and_a_tampered_one_does_not(
        verify: Verify, people: People, partner: Partner) -> None:
    _, secret = add_endpoint(people, partner.url)
    hit = caught(people, partner)
    header = hit.headers[signing.SIGNATURE_HEADER.lower()]
    assert verify(secret, header, hit.body) is True
    # one byte changed anywhere in the body
    tampered = hit.body.replace(b'"id":5', b'"id":6')
    assert tampered != hit.body
    assert verify(secret, header, tampered) is False
    assert verify(secret, header, hit.body + b" ") is False
    # another secret, or no usable signature
    assert verify("whsec_" + "A" * 43, header, hit.body) is False
    assert verify(secret, header.split(",")[0], hit.body) is False
    assert verify(secret, "", hit.body) is False
    assert verify(secret, "t=abc,v1=00", hit.body) is False
    # a signature moved to another timestamp does not match
    timestamp, rest = header.split(",", 1)
    moved = f"t={int(timestamp[2:]) + 1},{rest}"
    assert verify(secret, moved, hit.body, now=int(timestamp[2:])) is False


def test_a_stale_or_future_timestamp_is_refused(verify: Verify, people: People,
                                                partner: Partner) -> None:
    _, secret = add_endpoint(people, partner.url)
    # a genuine delivery signed ten minutes ago (a captured request, replayed now)
    stale = caught(people, partner, at=timezone.now() - timedelta(minutes=10))
    header = stale.headers[signing.SIGNATURE_HEADER.lower()]
    assert verify(secret, header, stale.body) is False
    # within the window it would have passed; out of it on either side it does not
    signed_at = int(header.split(",")[0][2:])
    assert verify(secret, header, stale.body, now=signed_at + 299) is True
    assert verify(secret, header, stale.body, now=signed_at + 301) is False
    assert verify(secret, header, stale.body, now=signed_at - 301) is False
    assert signing.REPLAY_WINDOW == 300  # what the README tells receivers


def test_during_a_rotation_either_secret_verifies(verify: Verify, people: People,
                                                  partner: Partner) -> None:
    endpoint, old = add_endpoint(people, partner.url)
    _, new = actions.rotate_secret(endpoint, actor=Actor.person(people.alice))
    hit = caught(people, partner)
    header = hit.headers[signing.SIGNATURE_HEADER.lower()]
    assert verify(new, header, hit.body) is True
    assert verify(old, header, hit.body) is True
    assert verify(new, header, hit.body.replace(b"course", b"Course", 1)) is False

"""The helpers statement forwarding and webhooks share (``coursewright.outbound``):
back-off with jitter, Retry-After, secrets blanked out, URLs shown without their query.
Sending and the lease are tested through their users (tests/tracking/test_forwarding.py,
tests/webhooks/test_delivery.py)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coursewright import outbound


@given(st.integers(min_value=-5, max_value=10_000))
def test_backoff_stays_between_half_and_all_of_the_capped_ceiling(failures: int) -> None:
    wait = outbound.backoff(failures, base=30, cap=3600)
    ceiling = min(3600, 30 * 2 ** max(0, failures - 1))
    assert ceiling / 2 <= wait <= ceiling


def test_backoff_has_jitter() -> None:
    assert len({outbound.backoff(3, base=600, cap=43200) for _ in range(20)}) > 1


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert outbound.retry_after("120", cap=3600) == 120
    assert outbound.retry_after(" 99999 ", cap=3600) == 3600
    date = email.utils.format_datetime(now + timedelta(minutes=10), usegmt=True)
    assert outbound.retry_after(date, cap=3600, now=now) == 600
    past = email.utils.format_datetime(now - timedelta(minutes=10), usegmt=True)
    assert outbound.retry_after(past, cap=3600, now=now) == 0
    for nonsense in ("", "soon", "-5", "1.5", "Mon, 99 Foo 2026 99:99:99 GMT"):
        assert outbound.retry_after(nonsense, cap=3600, now=now) == 0


def test_scrub_blanks_out_every_secret_longest_first() -> None:
    text = "key abcd, token abcdef, short ab"
    assert outbound.scrub(text, ["abcd", "abcdef", "ab"]) == (
        "key [redacted], token [redacted], short ab")


@pytest.mark.parametrize(("url", "shown"), [
    ("https://partner.example/hooks?token=s3cret", "https://partner.example/hooks?…"),
    ("https://partner.example/hooks", "https://partner.example/hooks"),
])
def test_urls_are_shown_without_their_query(url: str, shown: str) -> None:
    assert outbound.shown_url(url) == shown

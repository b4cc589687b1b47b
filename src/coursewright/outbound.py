"""What every sender to a customer's address shares: statement forwarding
(``tracking.forwarding``) and partner webhooks (``webhooks.delivery``).

Design note
-----------
- **One POST, its failure in words.** ``post`` sends through the outbound guard
  (``coursewright.netguard``: public addresses only, checked at connect time;
  redirects are returned, never followed) and turns every way of not getting an HTTP
  answer — a refused address, no connection, a timeout, a broken answer — into an
  error text for the row's status, never an exception the job would lose.
- **Back-off with jitter.** After ``failures`` failures in a row a sender waits
  ``base · 2^(failures-1)``, capped, with jitter between half and all of it: senders
  that failed together (a receiver's outage) do not come back together, and the wait
  never shrinks while the ceiling doubles. A receiver's ``Retry-After`` (seconds or an
  HTTP date) is honoured when it asks for longer, up to the same cap.
- **Secrets never leave in error texts.** ``scrub`` blanks the values a sender holds
  (credentials, signing secrets) out of anything kept: an error message, a receiver's
  answer that echoes a header.
- **One worker per row.** ``claim`` takes a lease with a conditional update (healthchecks'
  habit): a row whose lease is held is left alone; a lease that expired (its worker
  stalled or died) may be taken again. The winner gets a random token; writes that must
  only happen while holding the lease are made conditional on it, and ``release`` gives
  it up. A row needs ``lease_token`` (32 characters) and ``lease_until`` columns.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from django.db import models
from django.db.models import Q
from django.utils import timezone

from coursewright import netguard

M = TypeVar("M", bound=models.Model)


# --- targets ---------------------------------------------------------------------------


def vet_url(url: str) -> str:
    """The URL, stripped, if it may be a target: syntax, then every address its host
    resolves to (public only, unless the operator allows private targets). Sending
    checks the addresses again: DNS answers change."""
    if not isinstance(url, str):
        raise netguard.UrlRefused("Give a URL (https://…).")
    target = netguard.check_url(url)
    netguard.resolve(target)
    return url.strip()


def shown_url(url: str) -> str:
    """The URL without its query (which may carry a token), for audit rows."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "…" if parts.query else "",
                       ""))


# --- sending ---------------------------------------------------------------------------


@dataclass
class Sent:
    """How one request went: the receiver's answer, or why there is none."""

    answer: netguard.Answer | None
    error: str = ""  # set when there is no answer
    seconds: float = 0.0

    @property
    def status(self) -> int | None:
        return self.answer.status if self.answer is not None else None


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float,
         max_body: int = 64 * 1024) -> Sent:
    """POST ``body`` to a customer's URL through the guard (redirects not followed)."""
    started = time.monotonic()

    def took() -> float:
        return time.monotonic() - started

    try:
        answer = netguard.send(url, method="POST", body=body, headers=headers,
                               timeout=timeout, follow_redirects=False, max_body=max_body)
    except netguard.UrlRefused as refused:
        return Sent(None, f"the outbound guard refused the target: {refused.message}",
                    took())
    except ConnectionError as exc:
        return Sent(None, f"no answer: {exc}", took())
    except (http.client.HTTPException, OSError, ValueError) as exc:
        return Sent(None, f"no valid HTTP answer ({type(exc).__name__})", took())
    return Sent(answer, "", took())


def excerpt(answer: netguard.Answer, limit: int) -> str:
    """The start of a receiver's answer, as text."""
    return answer.body[:limit].decode("utf-8", errors="replace")


# --- waiting ---------------------------------------------------------------------------


def backoff(failures: int, *, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` failures in a row (see the design note)."""
    ceiling = min(cap, base * 2 ** max(0, min(failures - 1, 30)))
    return random.uniform(ceiling / 2, ceiling)


def retry_after(value: str, *, cap: float, now: datetime | None = None) -> float:
    """A ``Retry-After`` header in seconds (0 when absent or not understood)."""
    value = value.strip()
    if not value:
        return 0.0
    if value.isdigit():
        return min(float(value), cap)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if moment.tzinfo is None:
        return 0.0
    return max(0.0, min((moment - (now or timezone.now())).total_seconds(), cap))


# --- keeping secrets out ----------------------------------------------------------------


def scrub(text: str, hidden: Iterable[str]) -> str:
    """``text`` with every value of ``hidden`` (at least 4 characters) blanked out."""
    for value in sorted((v for v in hidden if len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return text


# --- the lease ----------------------------------------------------------------------------


def due(now: datetime) -> Q:
    """Rows not waiting out a back-off."""
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def unleased(now: datetime) -> Q:
    """Rows no worker holds."""
    return Q(lease_until__isnull=True) | Q(lease_until__lte=now)


def claim(rows: models.QuerySet[M], *, now: datetime, lease: timedelta,
          **also: Any) -> str | None:
    """Lease the row ``rows`` selects (by primary key, with any other condition the
    caller needs) and set ``also`` on it; the token, or None when another worker holds
    it or the conditions do not hold."""
    token = secrets.token_hex(16)
    claimed = rows.filter(unleased(now)).update(lease_token=token, lease_until=now + lease,
                                                **also)
    return token if claimed else None


def release(rows: models.QuerySet[M], token: str) -> None:
    rows.filter(lease_token=token).update(lease_token="", lease_until=None)

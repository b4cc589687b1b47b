"""Per-key request budgets for the API (``COURSEWRIGHT_API_RATE_PER_MINUTE``).

Design: a fixed one-minute window per organisation API key. Every request an API key
authenticates counts against that key's budget (``ApiKeyAuth``), and so does every
request an embed token minted by that key authenticates (``EmbedTokenAuth``): a
partner's users share their partner's budget. Over the budget, the request is refused
before it reaches a handler: 429 ``rate_limited`` with ``Retry-After`` = seconds to the
next window. Dashboard sessions are not limited here.

What is guaranteed:
- The limit is per key and shared by every server process: the counter lives in the
  database (one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` per request, in
  autocommit, so it never holds a lock for the rest of the request), or in Redis
  (``INCR``) when ``COURSEWRIGHT_REDIS_URL`` is set. The increment and the read are one
  atomic statement, so each request gets its own count: at most ``limit`` requests per
  key are let through in a window, however many run at once.
- Refused requests count too, so a client that keeps hammering stays refused until the
  window ends, and then starts afresh.
- A fixed window lets a burst of up to twice the limit through across a window boundary
  (the end of one window and the start of the next); that is the price of one row per
  key and minute instead of a log of every request.
- Old windows are purged by the first request of each new window (one DELETE of the
  rows older than the current window), so the table holds about one row per active key.
- If Redis is configured but unreachable, the database counter is used (and logged):
  the limit still holds, it is never silently switched off. ``0`` switches it off.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from typing import Any

from django.conf import settings
from django.db import connection

from coursewright.errors import DomainError

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(
            f"This API key made more than {limit} requests this minute; try again in "
            f"{retry_after} second{'s' if retry_after != 1 else ''}.",
            details=[{"limit": limit, "window_seconds": WINDOW_SECONDS,
                      "retry_after": retry_after}])
        self.retry_after = retry_after


def charge_api_key(key_id: int, *, now: float | None = None) -> int:
    """Count one request against the key's budget; raise ``RateLimited`` when it is over.
    Returns the number of requests the key made in this window (0 when limits are off)."""
    limit: int = settings.API_RATE_PER_MINUTE
    if limit <= 0:
        return 0
    moment = time.time() if now is None else now
    window = int(moment) // WINDOW_SECONDS * WINDOW_SECONDS
    hits = _count(key_id, window)
    if hits > limit:
        raise RateLimited(max(1, math.ceil(window + WINDOW_SECONDS - moment)), limit)
    return hits


def _count(key_id: int, window: int) -> int:
    if settings.REDIS_URL:
        try:
            return _count_redis(key_id, window)
        except Exception:  # the limit must hold: fall back to the shared database
            logger.warning("rate limit: Redis unavailable, counting in the database",
                           exc_info=True)
    return _count_db(key_id, window)


def _count_db(key_id: int, window: int) -> int:
    from coursewright.orgs.models import ApiKeyWindow

    table = connection.ops.quote_name(ApiKeyWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (api_key_id, window_start, hits) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (api_key_id, window_start) DO UPDATE SET hits = {table}.hits + 1 "
            "RETURNING hits", [key_id, window])
        row = cursor.fetchone()
        hits = int(row[0])
        if hits == 1:  # the first request of a new window clears the ended ones
            cursor.execute(f"DELETE FROM {table} WHERE window_start < %s",  # noqa: S608
                           [window])
    return hits


@functools.cache
def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _count_redis(key_id: int, window: int) -> int:
    name = f"coursewright:ratelimit:{key_id}:{window}"
    pipe = _redis(settings.REDIS_URL).pipeline()
    pipe.incr(name)
    pipe.expire(name, WINDOW_SECONDS * 2)
    hits, _ = pipe.execute()
    return int(hits)

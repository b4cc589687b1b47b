"""Input types the API's routes share: ISO dates and bounded pagination.

Both close gaps the schemathesis run (``tests/api/test_openapi_schemathesis.py``) found
between what the OpenAPI document promises and what the routes accepted:

- **Dates are ISO 8601 strings, nothing else.** Pydantic's lax mode also reads a number
  as seconds since 1970, so ``?until=0.0`` was the first of January 1970 and
  ``?since=20240102`` (a compact date) the 23rd of August 1970, silently. ``IsoDate``
  takes ``YYYY-MM-DD`` only; ``IsoDateTime`` a date, optionally followed by a time
  (``2026-03-01``, ``2026-03-01T09:00:00Z``), which Pydantic then checks.
- **Numbers fit the database.** An unbounded ``offset`` went into SQL as is:
  ``?offset=35975328609363103744`` was a 500 on SQLite (too large for its integers) and
  on PostgreSQL (bigint out of range). ``MAX_OFFSET`` and ``MAX_LIMIT`` bound them, and
  :class:`Pagination` is django-ninja's limit/offset pagination with those bounds (the
  same answer shape, ``{"items": [...], "count": N}``). Django turns an out-of-range id
  in an ``=`` lookup into "no such row", but not in an ``IN (...)`` list: ids a body
  lists (``ObjectId``) are bounded to what a bigint holds.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination
from pydantic import AfterValidator, BeforeValidator

MAX_OFFSET = 1_000_000_000
MAX_ID = 2**63 - 1  # a bigint, and SQLite's integer
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ].+)?")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("use a date as YYYY-MM-DD")
    return value


def _iso_date_time(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise ValueError("use an ISO 8601 date or date and time, e.g. 2026-03-01 or "
                         "2026-03-01T09:00:00Z")
    return value


ObjectId = Annotated[int, Field(ge=1, le=MAX_ID)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
def _in_utc(value: datetime) -> datetime:
    # Python takes UTC offsets up to ±24 h, PostgreSQL only up to ±15:59: a filter
    # "+21:53" was a 500 there. The instant is what matters; compare it in UTC.
    return value.astimezone(UTC) if value.tzinfo is not None else value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_date_time), AfterValidator(_in_utc)]


class Pagination(LimitOffsetPagination):
    class Input(Schema):
        limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)

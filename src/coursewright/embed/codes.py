"""One-time codes: a token pair by way of the embedded page's URL.

A partner that cannot (or would rather not) post a token into the frame puts a code in
the page's address instead (``/embed/v1/player/<course>/?org=<slug>#code=<code>``); the
page trades it for the token pair (``POST /api/v1/embed/code/exchange``) and keeps the
pair in memory.

Design, and what it guarantees:

- **Issued like a token, by the API key only** (:func:`issue_code`): the same request as
  ``/embed/token`` (user, scope, courses, lifetime), checked in full now, so a bad
  request fails at the partner's backend and not later in a learner's browser. The code
  is ``cwc_`` + 256 random bits; only its SHA-256 is stored, with the request (the user
  sealed under the organisation's key and indexed by the keyed hash, as on a family).
- **Short life, single use.** A code works for :data:`CODE_TTL` seconds (60), once
  (:func:`exchange_code`): a conditional update marks it used, so of two concurrent
  exchanges one wins. The winner's exchange opens the refresh family and writes its
  ``embed.token_issued`` row (``via: code``).
- **A second use is a leak.** The address of a frame can end up in a history, a log or
  a screenshot. Presenting a used code again is refused and revokes the session its
  first use opened (we cannot tell the page from a thief, as with a reused refresh
  token); an expired code is refused. Each refusal of a known code writes
  ``embed.code_refused`` (why; whether a session was revoked); an unknown code is
  refused without a row (there is no organisation to file it under).
- **Keeping it out of logs.** The pages put the code in the URL fragment, which browsers
  never send to a server, drop it from the address at once, and are served with
  ``Referrer-Policy: no-referrer``.
- Expired codes are deleted hourly with expired tokens (``actions.purge_expired``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.embed.actions import (
    ExchangeRequest,
    IssuedTokens,
    check_exchange,
    open_family,
    revoke_family,
    subject_digest,
)
from coursewright.embed.models import EmbedCode, RevokeReason
from coursewright.embed.tokens import EmbedTokenRefused

if TYPE_CHECKING:
    from coursewright.orgs.models import ApiKey

CODE_PREFIX = "cwc_"
CODE_TTL = 60
MAX_CODE_CHARS = 100


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_in: int
    scope: str


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_code(api_key: ApiKey, *, user: str, scope: str, courses: Sequence[int] | str,
               ttl: int | None = None) -> IssuedCode:
    """A one-time code standing for a token exchange (checked now)."""
    request = check_exchange(api_key, user=user, scope=scope, courses=courses, ttl=ttl)
    org = api_key.org
    code = CODE_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    row = EmbedCode(org=org, api_key=api_key, code_hash=_sha256(code),
                    subject_digest=subject_digest(org, request.subject), scope=request.scope,
                    courses=request.courses, access_ttl=request.access_ttl,
                    expires_at=now + timedelta(seconds=CODE_TTL))
    row.subject = request.subject
    with transaction.atomic():
        row.save()
        record_event(org=org, actor=Actor.key(api_key), action="embed.code_issued",
                     object_type="embed_code", object_id=row.pk,
                     after={"code": str(row.uid), "user": request.subject,
                            "scope": request.scope,
                            "courses": "*" if request.courses is None else request.courses,
                            "expires_in": CODE_TTL})
    return IssuedCode(code=code, expires_in=CODE_TTL, scope=request.scope)


def exchange_code(code: str) -> IssuedTokens:
    """The token pair a live, unused code stands for. Raises :class:`EmbedTokenRefused`
    (401): ``bad_code``, ``unknown_code``, ``code_expired``, ``code_used``,
    ``revoked`` (the key that issued it was revoked)."""
    if (not isinstance(code, str) or not code.startswith(CODE_PREFIX)
            or len(code) > MAX_CODE_CHARS):
        raise EmbedTokenRefused("bad_code", "this is not a one-time code")
    row = (EmbedCode.objects.select_related("org", "api_key")
           .filter(code_hash=_sha256(code)).first())
    if row is None:
        raise EmbedTokenRefused("unknown_code", "this code is not known (or has been "
                                                "deleted since it expired)")
    if row.api_key.revoked_at is not None:
        raise EmbedTokenRefused("revoked", "the API key that issued this code was revoked")
    now = timezone.now()
    with transaction.atomic():
        claimed = EmbedCode.objects.filter(pk=row.pk, used_at__isnull=True,
                                           expires_at__gt=now).update(used_at=now)
        if claimed:
            request = ExchangeRequest(subject=row.subject, scope=row.scope,
                                      courses=row.courses, access_ttl=row.access_ttl)
            issued = open_family(row.api_key, request,
                                 via={"via": "code", "code": str(row.uid)})
            EmbedCode.objects.filter(pk=row.pk).update(family=issued.family)
            return issued
    raise _refusal(row)


def _refusal(row: EmbedCode) -> EmbedTokenRefused:
    """Refuse a used or expired code: revoke the session a used one opened and write the
    row (both stay although the request fails); the refusal to raise."""
    row.refresh_from_db(fields=["used_at", "family"])
    now = timezone.now()
    used = row.used_at is not None
    with transaction.atomic():
        revoked = bool(used and row.family is not None
                       and revoke_family(row.family, RevokeReason.CODE_REUSED, now))
        record_event(org=row.org, actor=Actor.system(), action="embed.code_refused",
                     object_type="embed_code", object_id=row.pk,
                     after={"code": str(row.uid), "reason": "used" if used else "expired",
                            "family": str(row.family.uid) if row.family else None,
                            "family_revoked_now": revoked})
    if used:
        return EmbedTokenRefused("code_used", "this code was used already; the session it "
                                              "opened is closed now. Ask for a new one.")
    return EmbedTokenRefused("code_expired", f"this code has expired (codes work for "
                                            f"{CODE_TTL} seconds); ask for a new one")

"""Embed access tokens: what they say, how they are signed, and how one is read.

Design, and what it guarantees:

- **Same keys as license tokens, never interchangeable with them.** An access token is
  a JWS compact token signed by the platform's token-signing keys
  (``delivery.signing``: Ed25519 with the ``EdDSA`` alg name, ``kid`` rotation, a
  verifier that knows exactly one algorithm; the public set is
  ``/.well-known/jwks.json``). It says ``aud: "coursewright:embed"`` and
  ``token_use: "embed"``; :func:`read_access_token` requires both, which no license
  token has, and the Gatekeeper (``delivery.licenses.read_token``) requires its own
  audience, ``coursewright:gatekeeper``, which no embed token has.
- **What is checked, in this order.** The header and signature (``signing.verify``:
  ``alg: none``, ``HS256`` keyed with the public key, any other algorithm, an embedded
  key or an unknown or retired ``kid`` are refused before any key is used), then
  ``token_use``, ``aud`` (one exact string), ``iss`` (``settings.EMBED_ISSUER``, the
  site's base URL by default), ``exp`` (no leeway), ``nbf`` (30 s leeway, for another
  server's clock), a lifetime (``exp - iat``) of at most three hours, and the shape of
  every claim. A refusal is a 401 ``invalid_token`` whose details name the reason.
  Then, on every request, the database: ``embed.actions.find_live_token`` (revocation).
- **Claims.** ``iss``, ``aud``, ``token_use``; ``sub``: the partner's opaque id for its
  user (1 to 128 of ``A-Z a-z 0-9 . _ - : ~``; anything with an ``@`` is refused as an
  e-mail address, because we never want to hold a name or an e-mail); ``org``: the
  organisation's slug; ``scope``: ``author``, ``reviewer`` or ``learner``; ``courses``:
  the uids of the courses the token may reach (1 to 50), or ``"*"`` — allowed only with
  the ``author`` scope — for every course of the organisation, including the ones the
  holder creates; ``iat``, ``nbf``, ``exp``; ``jti`` (128 random bits); ``key``: the id
  of the API key that minted it; ``fam``: the uid of its refresh family.
- **Lifetimes.** An access token lives ``settings.EMBED_TOKEN_TTL`` seconds (1 hour by
  default), or less if the partner asks (60 s to 3 hours), and never beyond its
  family's end. Refresh tokens are ``embed.actions``' business.

This module is pure: no database. Claims are built from values the caller checked.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from coursewright.delivery import signing
from coursewright.errors import DomainError, Invalid

AUDIENCE = "coursewright:embed"
TOKEN_USE = "embed"  # noqa: S105 (a claim value, not a secret)
SCOPES = ("author", "reviewer", "learner")
ALL_COURSES = "*"
MAX_COURSES = 50
MIN_TTL = 60
MAX_TTL = 3 * 3600
NBF_LEEWAY = 30
SUBJECT_RE = re.compile(r"[A-Za-z0-9._:~-]{1,128}")
SUBJECT_RULE = ("an opaque id of your own for the user: 1 to 128 letters, digits or "
                "'.', '_', '-', ':', '~'")


class EmbedTokenRefused(DomainError):
    """A 401: the token is not a live embed token of ours. ``reason`` says why
    (``bad_token``, ``unknown_key``, ``wrong_token_use``, ``wrong_audience``,
    ``wrong_issuer``, ``expired``, ``not_yet_valid``, ``revoked``, ...)."""

    status = 401
    code = "invalid_token"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, details=[{"reason": reason}])
        self.reason = reason


@dataclass(frozen=True)
class EmbedClaims:
    subject: str
    org: str
    scope: str
    courses: tuple[str, ...] | None  # None: every course of the organisation
    jti: str
    key: int
    fam: str
    iat: int
    exp: int
    kid: str


def validate_subject(value: object) -> str:
    """The partner's user id, if it is an opaque id; a clear 422 otherwise."""
    if not isinstance(value, str):
        raise Invalid(f"user must be {SUBJECT_RULE}", code="bad_user")
    if "@" in value:
        raise Invalid("user looks like an e-mail address: identify the user by an opaque id "
                      "of your own instead (we never store names or e-mail addresses)",
                      code="personal_data")
    if not SUBJECT_RE.fullmatch(value):
        raise Invalid(f"user must be {SUBJECT_RULE}", code="bad_user")
    return value


def build_claims(*, org_slug: str, subject: str, scope: str, courses: Sequence[str] | None,
                 api_key_id: int, family_uid: str, ttl: int, not_after: int,
                 now: int | None = None) -> dict[str, Any]:
    """The claims of a new access token: ``ttl`` seconds from now, or until
    ``not_after`` (the family's end) if that is sooner."""
    issued = int(time.time()) if now is None else now
    return {
        "iss": settings.EMBED_ISSUER, "aud": AUDIENCE, "token_use": TOKEN_USE,
        "sub": subject, "org": org_slug, "scope": scope,
        "courses": ALL_COURSES if courses is None else list(courses),
        "iat": issued, "nbf": issued, "exp": max(issued + 1, min(issued + ttl, not_after)),
        "jti": secrets.token_urlsafe(16), "key": api_key_id, "fam": family_uid,
    }


def sign_access_token(claims: dict[str, Any]) -> str:
    token, _kid = signing.sign(claims)
    return token


def _int(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EmbedTokenRefused("bad_token", f"the token's {name} is not a whole number")
    return value


def _key_id(claims: dict[str, Any]) -> int:
    value = _int(claims, "key")
    if not 1 <= value < 2**63:
        raise EmbedTokenRefused("bad_token", "the token's key is malformed")
    return value


def _str(claims: dict[str, Any], name: str, *, limit: int = 128) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise EmbedTokenRefused("bad_token", f"the token's {name} is missing or malformed")
    return value


def _courses(value: Any, scope: str) -> tuple[str, ...] | None:
    if value == ALL_COURSES:
        if scope != "author":
            raise EmbedTokenRefused("bad_token", "only an author token may name every course")
        return None
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_COURSES
            or not all(isinstance(v, str) for v in value)):
        raise EmbedTokenRefused("bad_token", "the token's courses are malformed")
    try:
        return tuple(str(uuid.UUID(v)) for v in value)
    except ValueError:
        raise EmbedTokenRefused("bad_token", "the token's courses are malformed") from None


def read_access_token(token: str, *, now: int | None = None) -> EmbedClaims:
    """The claims of an embed access token we signed, checked as the module note says
    (everything but revocation). Raises :class:`EmbedTokenRefused`."""
    try:
        verified = signing.verify(token)
    except signing.TokenRefused as exc:
        raise EmbedTokenRefused(exc.reason, str(exc)) from None
    claims = verified.claims
    if claims.get("token_use") != TOKEN_USE:
        raise EmbedTokenRefused("wrong_token_use", "this is not an embed token")
    if claims.get("aud") != AUDIENCE:
        raise EmbedTokenRefused("wrong_audience", "the token is not meant for embedding")
    if claims.get("iss") != settings.EMBED_ISSUER:
        raise EmbedTokenRefused("wrong_issuer", "the token was issued elsewhere")
    moment = int(time.time()) if now is None else now
    exp, nbf, iat = _int(claims, "exp"), _int(claims, "nbf"), _int(claims, "iat")
    if exp <= moment:
        raise EmbedTokenRefused("expired", "the token has expired: refresh it")
    if nbf > moment + NBF_LEEWAY or iat > moment + NBF_LEEWAY:
        raise EmbedTokenRefused("not_yet_valid", "the token is not valid yet")
    if exp - iat > MAX_TTL or exp <= iat:
        raise EmbedTokenRefused("bad_token", "the token's lifetime is not one we issue")
    scope = claims.get("scope")
    if scope not in SCOPES:
        raise EmbedTokenRefused("bad_token", "the token's scope is malformed")
    subject = _str(claims, "sub")
    if not SUBJECT_RE.fullmatch(subject):
        raise EmbedTokenRefused("bad_token", "the token's subject is malformed")
    try:
        family = str(uuid.UUID(_str(claims, "fam", limit=36)))
    except ValueError:
        raise EmbedTokenRefused("bad_token", "the token's family is malformed") from None
    return EmbedClaims(subject=subject, org=_str(claims, "org"), scope=str(scope),
                       courses=_courses(claims.get("courses"), str(scope)),
                       jti=_str(claims, "jti", limit=64), key=_key_id(claims),
                       fam=family, iat=iat, exp=exp, kid=verified.kid)

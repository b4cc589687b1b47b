"""Embed tokens' state changes: exchange, refresh, revocation, and the check on every
request that a token is still live.

Design, and what it guarantees:

- **Exchange.** A partner's backend trades its organisation's API key for a token pair
  for one of its users (:func:`exchange_token`): an opaque user id (never an e-mail),
  a scope, the courses (ids of the key's own organisation's courses; another
  organisation's or an unknown id is a 404) and optionally a shorter lifetime. API keys
  have no roles of their own (each acts as its organisation's author), and every active
  key may grant each of the three scopes: the partner vouches for its user's role. That
  is how a partner's reviewer approves a version; the key itself never can
  (``courses.actions.check_can_review``). One transaction writes the refresh family, the
  first refresh token (only its SHA-256), the access token's ``jti`` row and the audit
  row (``embed.token_issued``: who, scope, courses, expiry, jti — never a token).
- **Refresh with rotation and reuse detection.** A refresh token (``cwr_`` + 256
  random bits) works once (:func:`refresh_tokens`): a conditional update marks it used
  and the answer is a new pair of the same family. Presenting a used one again — the
  legitimate holder and a thief both had it, and we cannot tell who is who — revokes the
  whole family, with every access and refresh token it issued, in its own transaction
  (it stays revoked although the request fails) and writes ``embed.refresh_reused``.
  Two concurrent uses of one token count as reuse: one wins the update, the other
  revokes the family. A refresh token expires after ``settings.EMBED_REFRESH_TTL``;
  no token outlives its family's end (``settings.EMBED_SESSION_HOURS`` after the
  exchange).
- **Revocation** (:func:`revoke_token`, :func:`revoke_user`, :func:`revoke_key_tokens`):
  one access token by ``jti`` (any of the organisation's), every family of a user in the
  organisation (whichever key minted it), or every family of the calling key. Revoking
  or deleting the API key itself needs no hook: the live check requires the minting key
  to exist and be unrevoked, so its tokens and refresh tokens stop at once.
- **The check on every request** (:func:`find_live_token`) is one query, by the unique
  ``jti`` index, joined to the token's family, organisation and key: the token's row is
  unrevoked, its family is the one the token names and unrevoked, its key is the one
  the token names and unrevoked, and its organisation is the one the token names.
  Nothing is cached, so a revocation refuses the very next request.
- **Users are pseudonymous here.** The partner's id for a user is sealed under the
  organisation's key (a refresh needs it for the new token) and indexed as a keyed hash
  (:func:`subject_digest`); audit payloads, sealed like every audit payload, name it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.embed import tokens
from coursewright.embed.models import (
    EmbedAccessToken,
    EmbedCode,
    EmbedFamily,
    EmbedRefreshToken,
    RevokeReason,
    Scope,
)
from coursewright.embed.tokens import EmbedClaims, EmbedTokenRefused
from coursewright.errors import Invalid, NotFound

if TYPE_CHECKING:
    from coursewright.orgs.models import ApiKey, Organisation

REFRESH_PREFIX = "cwr_"
MAX_REFRESH_CHARS = 200
# API keys have no roles of their own: any active key may grant these scopes
GRANTABLE_SCOPES = frozenset(Scope.values)
_SUBJECT_LABEL = b"coursewright embed subject v1"


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    scope: str
    jti: str
    family: EmbedFamily


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def subject_digest(org: Organisation, subject: str) -> str:
    """The keyed hash that indexes a partner's user id: HMAC-SHA256 under a key derived
    from the organisation's data key, so it differs per organisation and reveals
    nothing without that key."""
    from coursewright.privacy.keys import data_key

    root = data_key(str(org.key_id), 1).key
    key = hmac.new(root, _SUBJECT_LABEL, hashlib.sha256).digest()
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()


def _ttl(ttl: int | None) -> int:
    if ttl is None:
        return int(settings.EMBED_TOKEN_TTL)
    if isinstance(ttl, bool) or not tokens.MIN_TTL <= ttl <= tokens.MAX_TTL:
        raise Invalid(f"ttl must be between {tokens.MIN_TTL} and {tokens.MAX_TTL} seconds "
                      "(an access token lives at most 3 hours)", code="bad_ttl")
    return ttl


def _course_uids(org: Organisation, scope: str,
                 courses: Sequence[int] | str) -> list[str] | None:
    from coursewright.courses.models import Course

    if courses == tokens.ALL_COURSES:
        if scope != Scope.AUTHOR:
            raise Invalid('courses "*" (every course, new ones included) is only for the '
                          "author scope; name the courses for a reviewer or a learner",
                          code="bad_courses")
        return None
    if isinstance(courses, str) or not 1 <= len(courses) <= tokens.MAX_COURSES:
        raise Invalid(f'name 1 to {tokens.MAX_COURSES} course ids, or "*" for an author',
                      code="bad_courses")
    ids = list(dict.fromkeys(courses))
    for course_id in ids:
        if isinstance(course_id, bool) or not isinstance(course_id, int) or not (
                1 <= course_id < 2**63):
            raise NotFound(f"course {course_id} not found")
    found = dict(Course.objects.filter(org=org, pk__in=ids).values_list("pk", "uid"))
    for course_id in ids:
        if course_id not in found:
            raise NotFound(f"course {course_id} not found")
    return [str(found[course_id]) for course_id in ids]


def _mint(family: EmbedFamily, subject: str, now: datetime) -> IssuedTokens:
    """A new access token and refresh token of ``family`` (inside the caller's
    transaction)."""
    stamp = int(now.timestamp())
    claims = tokens.build_claims(
        org_slug=family.org.slug, subject=subject, scope=family.scope,
        courses=family.courses, api_key_id=family.api_key_id, family_uid=str(family.uid),
        ttl=family.access_ttl, not_after=int(family.expires_at.timestamp()), now=stamp)
    access = tokens.sign_access_token(claims)
    EmbedAccessToken.objects.create(
        org_id=family.org_id, family=family, jti=claims["jti"], issued_at=now,
        expires_at=now + timedelta(seconds=claims["exp"] - stamp))
    secret = REFRESH_PREFIX + secrets.token_urlsafe(32)
    refresh_expires = min(now + timedelta(seconds=settings.EMBED_REFRESH_TTL),
                          family.expires_at)
    EmbedRefreshToken.objects.create(org_id=family.org_id, family=family,
                                     token_hash=_sha256(secret), expires_at=refresh_expires)
    return IssuedTokens(access_token=access, expires_in=claims["exp"] - stamp,
                        refresh_token=secret,
                        refresh_expires_in=max(1, int((refresh_expires - now).total_seconds())),
                        scope=family.scope, jti=claims["jti"], family=family)


def _audit_claims(issued: IssuedTokens, family: EmbedFamily) -> dict[str, object]:
    return {"family": str(family.uid), "scope": family.scope,
            "courses": "*" if family.courses is None else family.courses,
            "jti": issued.jti, "expires_in": issued.expires_in,
            "refresh_expires_in": issued.refresh_expires_in}


@dataclass(frozen=True)
class ExchangeRequest:
    """What a partner asked a token pair for, checked (:func:`check_exchange`)."""

    subject: str
    scope: str
    courses: list[str] | None  # course uids; None: every course (author scope only)
    access_ttl: int


def check_exchange(api_key: ApiKey, *, user: str, scope: str,
                   courses: Sequence[int] | str, ttl: int | None = None) -> ExchangeRequest:
    """The request, checked: an opaque user id, a scope, the key's own organisation's
    courses (another organisation's or an unknown id is a 404), a lifetime."""
    subject = tokens.validate_subject(user)
    if scope not in GRANTABLE_SCOPES:
        raise Invalid(f"scope must be one of {', '.join(Scope.values)}", code="bad_scope")
    access_ttl = _ttl(ttl)
    return ExchangeRequest(subject=subject, scope=scope,
                           courses=_course_uids(api_key.org, scope, courses),
                           access_ttl=access_ttl)


def open_family(api_key: ApiKey, request: ExchangeRequest, *,
                via: dict[str, object] | None = None) -> IssuedTokens:
    """A new refresh family for a checked request, with its first token pair, and its
    audit row (``via``: how the request came, e.g. a one-time code, for that row)."""
    org = api_key.org
    now = timezone.now()
    family = EmbedFamily(org=org, api_key=api_key,
                         subject_digest=subject_digest(org, request.subject),
                         scope=request.scope, courses=request.courses,
                         access_ttl=request.access_ttl,
                         expires_at=now + timedelta(hours=settings.EMBED_SESSION_HOURS))
    family.subject = request.subject
    with transaction.atomic():
        family.save()
        issued = _mint(family, request.subject, now)
        record_event(org=org, actor=Actor.key(api_key), action="embed.token_issued",
                     object_type="embed_family", object_id=family.pk,
                     after={"user": request.subject, **_audit_claims(issued, family),
                            **(via or {})})
    return issued


def exchange_token(api_key: ApiKey, *, user: str, scope: str, courses: Sequence[int] | str,
                   ttl: int | None = None) -> IssuedTokens:
    """A new refresh family for the partner's ``user``, with its first token pair."""
    return open_family(api_key, check_exchange(api_key, user=user, scope=scope,
                                               courses=courses, ttl=ttl))


def revoke_family(family: EmbedFamily, reason: str, now: datetime) -> bool:
    """Revoke the family and mark its access tokens (inside the caller's transaction);
    False if it was revoked already."""
    flipped = EmbedFamily.objects.filter(pk=family.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_reason=reason)
    EmbedAccessToken.objects.filter(family=family, revoked_at__isnull=True).update(
        revoked_at=now)
    return bool(flipped)


def _reuse_detected(row: EmbedRefreshToken) -> None:
    family = row.family
    now = timezone.now()
    with transaction.atomic():
        flipped = revoke_family(family, RevokeReason.REFRESH_REUSED, now)
        # who presented it is unknown (the user or a thief): the platform acts
        record_event(org=family.org, actor=Actor.system(), action="embed.refresh_reused",
                     object_type="embed_family", object_id=family.pk,
                     after={"family": str(family.uid), "refresh_token_id": row.pk,
                            "first_used_at": row.used_at.isoformat() if row.used_at else None,
                            "family_revoked_now": flipped})


def refresh_tokens(refresh_token: str) -> IssuedTokens:
    """Rotate: a new token pair for a live, unused refresh token. A used one revokes its
    family (reuse detection). Raises :class:`EmbedTokenRefused` (401)."""
    if (not isinstance(refresh_token, str) or not refresh_token.startswith(REFRESH_PREFIX)
            or len(refresh_token) > MAX_REFRESH_CHARS):
        raise EmbedTokenRefused("bad_refresh_token", "this is not a refresh token")
    row = (EmbedRefreshToken.objects.select_related("family__org", "family__api_key")
           .filter(token_hash=_sha256(refresh_token)).first())
    if row is None:
        raise EmbedTokenRefused("bad_refresh_token", "unknown refresh token")
    family = row.family
    if row.used_at is not None:
        _reuse_detected(row)
        raise EmbedTokenRefused("refresh_reused", "this refresh token was used before: "
                                "every token of its session is revoked now")
    if family.revoked_at is not None or family.api_key.revoked_at is not None:
        raise EmbedTokenRefused("revoked", "the session was revoked")
    now = timezone.now()
    if row.expires_at <= now:
        raise EmbedTokenRefused("expired", "the refresh token has expired: exchange the "
                                "API key for a new token")
    with transaction.atomic():
        claimed = EmbedRefreshToken.objects.filter(pk=row.pk, used_at__isnull=True).update(
            used_at=now)
        if claimed:
            live = EmbedFamily.objects.filter(pk=family.pk, revoked_at__isnull=True).update(
                refreshed_at=now)
            if not live:  # revoked meanwhile: the refresh token stays unused
                raise EmbedTokenRefused("revoked", "the session was revoked")
            subject = str(family.subject)
            issued = _mint(family, subject, now)
            record_event(org=family.org,
                         actor=Actor.embed(family.api_key, subject, family.scope),
                         action="embed.token_refreshed", object_type="embed_family",
                         object_id=family.pk,
                         after={"refresh_token_id": row.pk, **_audit_claims(issued, family)})
            return issued
    # another request used it between our read and our update
    row.refresh_from_db(fields=["used_at"])
    _reuse_detected(row)
    raise EmbedTokenRefused("refresh_reused", "this refresh token was used before: every "
                            "token of its session is revoked now")


def revoke_token(api_key: ApiKey, jti: str, *, actor: Actor) -> int:
    """Revoke one access token of the key's organisation; returns 1, or 0 if it was
    revoked already."""
    if not isinstance(jti, str) or not 1 <= len(jti) <= 64:
        raise Invalid("jti must be an access token's jti claim", code="bad_jti")
    with transaction.atomic():
        token = (EmbedAccessToken.objects.select_related("family")
                 .filter(org_id=api_key.org_id, jti=jti).first())
        if token is None:
            raise NotFound("no such token")
        revoked = EmbedAccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now())
        record_event(org=api_key.org, actor=actor, action="embed.revoked",
                     object_type="embed_access_token", object_id=token.pk,
                     after={"by": "jti", "jti": jti, "family": str(token.family.uid),
                            "revoked": revoked})
    return revoked


def _revoke_families(families: list[EmbedFamily], reason: str) -> int:
    now = timezone.now()
    return sum(revoke_family(family, reason, now) for family in families)


def revoke_user(api_key: ApiKey, user: str, *, actor: Actor) -> int:
    """Revoke every live family of the partner's ``user`` in the key's organisation
    (whichever key minted it); returns how many."""
    subject = tokens.validate_subject(user)
    org = api_key.org
    with transaction.atomic():
        families = list(EmbedFamily.objects.filter(
            org=org, subject_digest=subject_digest(org, subject), revoked_at__isnull=True))
        revoked = _revoke_families(families, RevokeReason.USER)
        record_event(org=org, actor=actor, action="embed.revoked", object_type="embed_user",
                     object_id=0, after={"by": "user", "user": subject, "families": revoked})
    return revoked


def revoke_key_tokens(api_key: ApiKey, *, actor: Actor) -> int:
    """Revoke every live family the key minted; returns how many."""
    with transaction.atomic():
        families = list(EmbedFamily.objects.filter(api_key=api_key, revoked_at__isnull=True))
        revoked = _revoke_families(families, RevokeReason.KEY)
        record_event(org=api_key.org, actor=actor, action="embed.revoked",
                     object_type="api_key", object_id=api_key.pk,
                     after={"by": "key", "families": revoked})
    return revoked


def find_live_token(claims: EmbedClaims) -> EmbedAccessToken | None:
    """The access token's row if it is live (see the module note): one query."""
    return (EmbedAccessToken.objects
            .select_related("org", "family__api_key")
            .filter(jti=claims.jti, revoked_at__isnull=True, org__slug=claims.org,
                    family__uid=claims.fam, family__revoked_at__isnull=True,
                    family__api_key_id=claims.key, family__api_key__revoked_at__isnull=True)
            .first())


def purge_expired(now: datetime | None = None) -> dict[str, int]:
    """Delete what can no longer be used: expired access and refresh tokens (an expired
    token is refused by its expiry alone) and one-time codes, then families that have
    ended or have no token left. One system audit row with the counts, when anything
    went."""
    now = now or timezone.now()
    with transaction.atomic():
        codes, _ = EmbedCode.objects.filter(expires_at__lt=now).delete()
        access, _ = EmbedAccessToken.objects.filter(expires_at__lt=now).delete()
        refresh, _ = EmbedRefreshToken.objects.filter(expires_at__lt=now).delete()
        idle = (EmbedFamily.objects.filter(expires_at__lt=now)
                | EmbedFamily.objects.exclude(
                    Exists(EmbedAccessToken.objects.filter(family=OuterRef("pk"))))
                .exclude(Exists(EmbedRefreshToken.objects.filter(family=OuterRef("pk")))))
        families = idle.count()
        idle.delete()
        counts = {"access_tokens": access, "refresh_tokens": refresh, "families": families,
                  "codes": codes}
        if any(counts.values()):
            record_event(org=None, actor=Actor.system(), action="embed.expired_purged",
                         object_type="embed", object_id=0, after=counts)
    return counts

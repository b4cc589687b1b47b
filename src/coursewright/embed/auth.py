"""Authenticating API requests with an embed access token, and what the token allows.

Use :class:`EmbedTokenAuth` in an endpoint's ``auth`` list after the API key auth and
*before* the session auth (``courses.api.WITH_EMBED``): the session auth checks CSRF on
every unsafe request, which refuses an embedded page's POST — it has no cookie, and
needs none. An ``Authorization: Bearer <JWT>`` that is not an API key reaches it.
It verifies the token (``embed.tokens.read_access_token``: signature, ``token_use``,
audience, issuer, expiry, not-before) and its liveness (``embed.actions.find_live_token``:
one query, uncached, so revocation is effective on the very next request), and
answers a 401 ``invalid_token`` naming the reason otherwise. The request's principal
is then an :class:`EmbedPrincipal`:

- its one organisation is the token's, with a role standing for the scope (author →
  ``author``, reviewer → ``reviewer``, learner → ``learner``, which no role check
  accepts), so ``Principal.require`` refuses what the scope does not cover (403
  ``insufficient_scope``);
- ``orgs.access.scoped`` / ``get_scoped`` reach only the token's courses (all of the
  organisation's for an author ``"*"`` token), the versions of those courses (only
  approved and published ones for a learner), and no other kind of object at all: an
  endpoint that should serve embed tokens another model must extend :meth:`narrow`;
- its actor is ``Actor.embed`` (the minting key, the partner's user id and the scope):
  audit rows name ``embed-user:<id>``, and ``courses.actions.check_can_review`` lets
  a reviewer-scope token approve, never an API key.

Helpers for endpoints built on embed tokens: :func:`embed_principal`,
:func:`require_scope`, :func:`require_course`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models
from django.http import HttpRequest
from ninja.security import HttpBearer

from coursewright.audit.actor import Actor
from coursewright.embed.tokens import EmbedClaims, EmbedTokenRefused, read_access_token
from coursewright.errors import Forbidden, NotFound
from coursewright.orgs.access import Principal
from coursewright.orgs.models import Organisation

M = TypeVar("M", bound=models.Model)


@dataclass(kw_only=True)
class EmbedPrincipal(Principal):
    claims: EmbedClaims
    org: Organisation

    @property
    def scope(self) -> str:
        return self.claims.scope

    @property
    def user(self) -> str:
        return self.claims.subject

    def may_reach(self, course: Any) -> bool:
        return course.org_id == self.org.pk and (
            self.claims.courses is None or str(course.uid) in self.claims.courses)

    def require(self, org: Organisation | int, allowed: Iterable[str], doing: str) -> None:
        if self.role_in(org) is None:
            raise NotFound("not found")
        if self.scope not in set(allowed):
            raise Forbidden(f"This embed token's scope ({self.scope}) does not allow you "
                            f"to {doing}.", code="insufficient_scope")

    def narrow(self, queryset: models.QuerySet[M]) -> models.QuerySet[M]:
        from coursewright.courses.models import Course, CourseVersion, VersionState

        courses = self.claims.courses
        model = queryset.model
        if model is Course:
            return queryset if courses is None else queryset.filter(uid__in=courses)
        if model is CourseVersion:
            if courses is not None:
                queryset = queryset.filter(course__uid__in=courses)
            if self.scope == "learner":
                queryset = queryset.filter(state__in=[VersionState.APPROVED,
                                                      VersionState.PUBLISHED])
            return queryset
        return queryset.none()


def authenticate_embed_token(token: str) -> EmbedPrincipal:
    """The principal of a live embed access token; raises ``EmbedTokenRefused``."""
    from coursewright.embed.actions import find_live_token

    claims = read_access_token(token)
    row = find_live_token(claims)
    if row is None:
        raise EmbedTokenRefused("revoked", "the token was revoked, or the key that "
                                "minted it was")
    org = row.org
    return EmbedPrincipal(
        actor=Actor.embed(row.family.api_key, claims.subject, claims.scope),
        roles={org.pk: claims.scope}, orgs={org.pk: org}, claims=claims, org=org)


class EmbedTokenAuth(HttpBearer):
    """``Authorization: Bearer <embed access token>``."""

    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> EmbedPrincipal | None:
        from coursewright.ratelimit_api import charge_api_key

        if token.startswith("cw_") or token.count(".") != 2:
            return None  # an API key (or nothing like a token): not ours to judge
        principal = authenticate_embed_token(token)
        # a token spends the budget of the key that minted it (RateLimited: 429)
        charge_api_key(principal.claims.key)
        return principal


def embed_principal(request: HttpRequest) -> EmbedPrincipal:
    """The request's embed principal (for endpoints that accept only embed tokens)."""
    auth = getattr(request, "auth", None)
    if not isinstance(auth, EmbedPrincipal):
        raise Forbidden("This needs an embed token.", code="embed_token_required")
    return auth


def require_scope(principal: Principal, *scopes: str) -> EmbedPrincipal:
    """``principal`` if it is an embed token with one of ``scopes``; a 403 otherwise
    (people and API keys hold roles, not scopes)."""
    if not isinstance(principal, EmbedPrincipal):
        raise Forbidden("This needs an embed token.", code="embed_token_required")
    if principal.scope not in scopes:
        raise Forbidden(f"This embed token's scope ({principal.scope}) does not allow "
                        f"this; it needs {' or '.join(scopes)}.", code="insufficient_scope")
    return principal


def require_course(principal: Principal, course: Any) -> None:
    """A 404 unless ``principal`` may reach ``course``: its organisation is the
    principal's, and, for an embed token, the course is one the token names."""
    if principal.role_in(course.org_id) is None:
        raise NotFound("course not found")
    if isinstance(principal, EmbedPrincipal) and not principal.may_reach(course):
        raise NotFound("course not found")

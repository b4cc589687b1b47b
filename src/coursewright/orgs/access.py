"""Tenant scoping: every lookup of a domain row goes through here.

Design: a request acts for a *principal* — a signed-in person (who may belong to
several organisations) or an API key (which belongs to exactly one). Objects are only
ever fetched with ``org__in=principal.org_ids``; an object of another organisation is
indistinguishable from one that does not exist (404, never 403), so ids leak nothing.
Role checks come after the fetch, against the principal's role in *that object's*
organisation. A principal may narrow what it reaches inside its organisation further
(``Principal.narrow``: an embed token reaches only its own courses, and nothing else).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

from coursewright.audit.actor import Actor
from coursewright.errors import Forbidden, NotFound
from coursewright.orgs.models import Membership, Organisation, Role

if TYPE_CHECKING:
    from coursewright.accounts.models import User
    from coursewright.orgs.models import ApiKey

M = TypeVar("M", bound=models.Model)

# What an API key may do inside its organisation: author work, never review.
API_KEY_ROLE = Role.AUTHOR


@dataclass
class Principal:
    actor: Actor
    roles: dict[int, str] = field(default_factory=dict)  # org id -> role
    orgs: dict[int, Organisation] = field(default_factory=dict)

    @property
    def org_ids(self) -> list[int]:
        return sorted(self.roles)

    def role_in(self, org: Organisation | int) -> str | None:
        org_id = org if isinstance(org, int) else org.pk
        return self.roles.get(org_id)

    def require(self, org: Organisation | int, allowed: Iterable[str], doing: str) -> None:
        role = self.role_in(org)
        if role is None:
            raise NotFound("not found")
        if role not in set(allowed):
            raise Forbidden(f"Your role ({role}) does not allow you to {doing}.")

    def default_org(self, slug: str | None = None) -> Organisation:
        if slug:
            for org in self.orgs.values():
                if org.slug == slug:
                    return org
            raise NotFound(f"organisation {slug!r} not found")
        if len(self.orgs) == 1:
            return next(iter(self.orgs.values()))
        raise NotFound("say which organisation (org=<slug>)")

    def narrow(self, queryset: models.QuerySet[M]) -> models.QuerySet[M]:
        """The part of an organisation-scoped queryset this principal may reach: all of
        it for people and API keys; an embed token narrows it to its courses
        (``embed.auth.EmbedPrincipal``)."""
        return queryset


def principal_for_user(user: User, channel: Any = None) -> Principal:
    from coursewright.audit.models import Channel

    memberships = Membership.objects.filter(user=user).select_related("org")
    actor = Actor.person(user, channel or Channel.WEB)
    return Principal(
        actor=actor,
        roles={m.org_id: m.role for m in memberships},
        orgs={m.org_id: m.org for m in memberships},
    )


def principal_for_key(api_key: ApiKey) -> Principal:
    return Principal(
        actor=Actor.key(api_key),
        roles={api_key.org_id: API_KEY_ROLE},
        orgs={api_key.org_id: api_key.org},
    )


def scoped(model: type[M], principal: Principal) -> models.QuerySet[M]:
    return principal.narrow(model._default_manager.filter(org__in=principal.org_ids))


def get_scoped(model: type[M], principal: Principal, **lookup: Any) -> M:
    try:
        return scoped(model, principal).get(**lookup)
    except (model.DoesNotExist, ValueError, TypeError):  # type: ignore[attr-defined]
        raise NotFound(f"{model._meta.verbose_name} not found") from None

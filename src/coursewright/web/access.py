"""Dashboard access: every org page is reached through ``org_view``.

It resolves ``<org_slug>`` among the signed-in person's memberships only — a slug of an
organisation they do not belong to is a 404, exactly like one that does not exist — and
enforces two-factor (verify if the person has a device, set one up if the organisation
requires it). Pages then fetch objects with ``get_scoped(Model, request.principal, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_otp import user_has_device

from coursewright.accounts.mfa import mfa_required_by_org
from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.errors import DomainError, NotFound
from coursewright.orgs.access import Principal, principal_for_user

if TYPE_CHECKING:
    from coursewright.accounts.models import User
    from coursewright.orgs.models import Organisation

View = Callable[..., HttpResponse]


class OrgRequest(HttpRequest):
    """What ``org_view`` puts on the request before the page runs."""

    org: Organisation
    principal: Principal
    role: str
    user: User


def web_actor(request: OrgRequest) -> Actor:
    return Actor.person(request.user, Channel.WEB)


def org_view(roles: Iterable[str] | None = None) -> Callable[[View], View]:
    allowed = set(roles) if roles is not None else None

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, org_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if user_has_device(user, confirmed=True) and not user.is_verified():  # type: ignore[union-attr]
                return redirect(f"/mfa/verify/?next={request.path}")
            principal = principal_for_user(user)  # type: ignore[arg-type]
            org = next((o for o in principal.orgs.values() if o.slug == org_slug), None)
            if org is None:
                raise Http404("not found")
            if not user_has_device(user, confirmed=True) and mfa_required_by_org(user):
                return redirect("web:mfa_setup")
            role = principal.roles[org.pk]
            if allowed is not None and role not in allowed:
                raise PermissionDenied(f"Your role ({role}) does not allow this.")
            request.org = org  # type: ignore[attr-defined]
            request.principal = principal  # type: ignore[attr-defined]
            request.role = role  # type: ignore[attr-defined]
            try:
                return view(request, *args, **kwargs)
            except NotFound:
                raise Http404("not found") from None
            except DomainError as exc:
                return _domain_error_page(request, exc)

        return wrapper

    return decorator


def _domain_error_page(request: HttpRequest, exc: DomainError) -> HttpResponse:
    from django.shortcuts import render

    return render(request, "web/error.html", {"message": exc.message, "code": exc.code},
                  status=exc.status)

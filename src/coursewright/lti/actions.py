"""Registering LTI platforms: every change is one action with its audit row.

A registration's URLs are checked by the outbound guard's syntax check when saved (http
or https, a host, no credentials or fragment) — the addresses are checked again at every
fetch — and its license must be one of the organisation's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from coursewright import netguard
from coursewright.audit.actions import record_event
from coursewright.delivery.models import License
from coursewright.errors import Conflict, Invalid
from coursewright.lti.models import PlatformRegistration

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

MAX_DEPLOYMENTS = 100
_UNSET: Any = object()


def _text(value: str, field: str, limit: int = 255) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text or len(text) > limit:
        raise Invalid(f"{field} must be 1 to {limit} characters", code=f"bad_{field}")
    return text


def _url(value: str, field: str) -> str:
    try:
        netguard.check_url(value)
    except netguard.UrlRefused as refused:
        raise Invalid(f"{field}: {refused.message}", code=f"bad_{field}") from None
    return value.strip()


def _deployments(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise Invalid("deployment_ids must be a list", code="bad_deployment_ids")
    found = list(dict.fromkeys(_text(v, "deployment_id") for v in values))
    if not found or len(found) > MAX_DEPLOYMENTS:
        raise Invalid(f"give 1 to {MAX_DEPLOYMENTS} deployment ids",
                      code="bad_deployment_ids")
    return found


def _license(org: Organisation, license: int | License) -> License:
    pk = license.pk if isinstance(license, License) else license
    found = License.objects.filter(org=org, pk=pk).first() if isinstance(pk, int) else None
    if found is None:  # another organisation's license looks like a missing one
        raise Invalid("no such license in this organisation", code="bad_license")
    return found


def describe(reg: PlatformRegistration) -> dict[str, Any]:
    return {"name": reg.name, "issuer": reg.issuer, "client_id": reg.client_id,
            "deployment_ids": list(reg.deployment_ids), "jwks_url": reg.jwks_url,
            "auth_url": reg.auth_url, "token_url": reg.token_url,
            "token_audience": reg.token_audience, "license": reg.license_id,
            "active": reg.active}


def _save(reg: PlatformRegistration, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            reg.save(**kwargs)
    except IntegrityError:
        raise Conflict("This organisation already registered that issuer and client id.",
                       code="duplicate_registration") from None


def register_platform(org: Organisation, *, name: str, issuer: str, client_id: str,
                      deployment_ids: Iterable[str], jwks_url: str, auth_url: str,
                      token_url: str, license: int | License, token_audience: str = "",
                      actor: Actor) -> PlatformRegistration:
    reg = PlatformRegistration(
        org=org, name=_text(name, "name", 200), issuer=_text(issuer, "issuer"),
        client_id=_text(client_id, "client_id"), deployment_ids=_deployments(deployment_ids),
        jwks_url=_url(jwks_url, "jwks_url"), auth_url=_url(auth_url, "auth_url"),
        token_url=_url(token_url, "token_url"),
        token_audience=(token_audience or "").strip()[:2000],
        license=_license(org, license),
        created_by=actor.user if actor.is_person else None)
    with transaction.atomic():
        _save(reg)
        record_event(org=org, actor=actor, action="lti.registration_created",
                     object_type="lti_registration", object_id=reg.pk, after=describe(reg))
    return reg


def update_registration(reg: PlatformRegistration, *, actor: Actor, name: str = _UNSET,
                        issuer: str = _UNSET, client_id: str = _UNSET,
                        deployment_ids: Iterable[str] = _UNSET, jwks_url: str = _UNSET,
                        auth_url: str = _UNSET, token_url: str = _UNSET,
                        token_audience: str = _UNSET, license: int | License = _UNSET,
                        active: bool = _UNSET) -> PlatformRegistration:
    before = describe(reg)
    if name is not _UNSET:
        reg.name = _text(name, "name", 200)
    if issuer is not _UNSET:
        reg.issuer = _text(issuer, "issuer")
    if client_id is not _UNSET:
        reg.client_id = _text(client_id, "client_id")
    if deployment_ids is not _UNSET:
        reg.deployment_ids = _deployments(deployment_ids)
    if jwks_url is not _UNSET:
        reg.jwks_url = _url(jwks_url, "jwks_url")
    if auth_url is not _UNSET:
        reg.auth_url = _url(auth_url, "auth_url")
    if token_url is not _UNSET:
        reg.token_url = _url(token_url, "token_url")
    if token_audience is not _UNSET:
        reg.token_audience = (token_audience or "").strip()[:2000]
    if license is not _UNSET:
        reg.license = _license(reg.org, license)
    if active is not _UNSET:
        reg.active = bool(active)
    after = describe(reg)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return reg
    if {"jwks_url", "issuer"} & set(changed):
        reg.jwks_cache, reg.jwks_fetched_at = {}, None  # keys of another platform
    with transaction.atomic():
        _save(reg)
        record_event(org=reg.org, actor=actor, action="lti.registration_updated",
                     object_type="lti_registration", object_id=reg.pk,
                     before={k: before[k] for k in changed},
                     after={k: after[k] for k in changed})
    return reg


def delete_registration(reg: PlatformRegistration, *, actor: Actor) -> None:
    """Remove a registration with its login states, used nonces and launch records."""
    with transaction.atomic():
        pk, org = reg.pk, reg.org
        before = describe(reg)
        reg.delete()
        record_event(org=org, actor=actor, action="lti.registration_deleted",
                     object_type="lti_registration", object_id=pk, before=before)

"""LTI platform registrations over the API (``/api/v1/lti/registrations``).

Who may do what (checked after the scoped lookup, so another organisation's
registration is a 404 before any role question):

- read registrations (with the URLs to enter in the platform): every member, and the
  organisation's API keys;
- register, change, remove: a signed-in owner or admin. API keys cannot, as with
  licenses: a registration lets a platform launch the organisation's courses.
(No postponed annotations here: query schemas are resolved at runtime.)
"""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from coursewright.api import principal
from coursewright.api_types import ObjectId, Pagination
from coursewright.audit.models import ActorKind
from coursewright.errors import Forbidden
from coursewright.lti import actions
from coursewright.lti.models import PlatformRegistration
from coursewright.lti.views import tool_settings
from coursewright.orgs.access import Principal, get_scoped, scoped
from coursewright.orgs.models import ALL_ROLES, MANAGING_ROLES

router = Router(tags=["lti"])


class ToolSettingsOut(Schema):
    title: str
    login_url: str
    launch_url: str
    redirect_uris: list[str]
    deep_linking_url: str
    jwks_url: str
    scopes: list[str]
    privacy: str
    custom_parameters: str


class RegistrationOut(Schema):
    id: int
    uid: str
    name: str
    issuer: str
    client_id: str
    deployment_ids: list[str]
    jwks_url: str
    auth_url: str
    token_url: str
    token_audience: str
    license_id: int
    active: bool
    created_at: datetime
    tool: ToolSettingsOut = Field(description="What to enter in the platform")

    @staticmethod
    def resolve_uid(obj: PlatformRegistration) -> str:
        return str(obj.uid)

    @staticmethod
    def resolve_tool(obj: PlatformRegistration) -> dict[str, Any]:
        return tool_settings(obj)


class RegistrationIn(Schema):
    name: str = Field(max_length=200)
    issuer: str = Field(max_length=255, description="The platform's issuer (iss)")
    client_id: str = Field(max_length=255, description="The client id the platform gave")
    deployment_ids: list[str] = Field(min_length=1, max_length=100)
    jwks_url: str = Field(max_length=2000, description="The platform's public key set URL")
    auth_url: str = Field(max_length=2000, description="OIDC authorisation endpoint")
    token_url: str = Field(max_length=2000, description="OAuth2 token endpoint (grades)")
    token_audience: str = Field(default="", max_length=2000,
                                description="aud of token assertions, if not the token URL")
    license_id: ObjectId = Field(description="The license whose rules launches obey")


class RegistrationPatch(Schema):
    name: str | None = Field(default=None, max_length=200)
    issuer: str | None = Field(default=None, max_length=255)
    client_id: str | None = Field(default=None, max_length=255)
    deployment_ids: list[str] | None = Field(default=None, min_length=1, max_length=100)
    jwks_url: str | None = Field(default=None, max_length=2000)
    auth_url: str | None = Field(default=None, max_length=2000)
    token_url: str | None = Field(default=None, max_length=2000)
    token_audience: str | None = Field(default=None, max_length=2000)
    license_id: ObjectId | None = None
    active: bool | None = None


def _require_manager(p: Principal, org_id: int, doing: str) -> None:
    if p.actor.kind == ActorKind.API_KEY:
        p.require(org_id, ALL_ROLES, doing)  # another organisation's key: 404 first
        raise Forbidden(f"To {doing} you need to be signed in as an owner or admin; API "
                        "keys cannot.", code="person_required")
    p.require(org_id, MANAGING_ROLES, doing)


def _registration(request: HttpRequest, reg_id: int, *,
                  manage: str | None = None) -> PlatformRegistration:
    p = principal(request)
    reg = get_scoped(PlatformRegistration, p, pk=reg_id)
    if manage:
        _require_manager(p, reg.org_id, manage)
    else:
        p.require(reg.org_id, ALL_ROLES, "see LTI registrations")
    request.audit_org = reg.org  # type: ignore[attr-defined]
    return reg


@router.get("/registrations", response=list[RegistrationOut],
            summary="The organisation's LTI platform registrations")
@paginate(Pagination)
def list_registrations(request: HttpRequest,
                       org: str | None = None) -> QuerySet[PlatformRegistration]:
    p = principal(request)
    organisation = p.default_org(org)
    p.require(organisation, ALL_ROLES, "see LTI registrations")
    return scoped(PlatformRegistration, p).filter(org=organisation)


@router.post("/registrations", response={201: RegistrationOut},
             summary="Register an LTI 1.3 platform (owners and admins)")
def create_registration(request: HttpRequest, body: RegistrationIn,
                        org: str | None = None) -> Status[object]:
    p = principal(request)
    organisation = p.default_org(org)
    _require_manager(p, organisation.pk, "register LTI platforms")
    reg = actions.register_platform(
        organisation, name=body.name, issuer=body.issuer, client_id=body.client_id,
        deployment_ids=body.deployment_ids, jwks_url=body.jwks_url, auth_url=body.auth_url,
        token_url=body.token_url, token_audience=body.token_audience,
        license=body.license_id, actor=p.actor)
    return Status(201, reg)


@router.get("/registrations/{reg_id}", response=RegistrationOut,
            summary="One LTI platform registration")
def get_registration(request: HttpRequest, reg_id: int) -> PlatformRegistration:
    return _registration(request, reg_id)


@router.patch("/registrations/{reg_id}", response=RegistrationOut,
              summary="Change an LTI platform registration")
def update_registration(request: HttpRequest, reg_id: int,
                        body: RegistrationPatch) -> PlatformRegistration:
    reg = _registration(request, reg_id, manage="change LTI registrations")
    changes = body.dict(exclude_unset=True)
    if "license_id" in changes:
        changes["license"] = changes.pop("license_id")
    changes = {k: v for k, v in changes.items() if v is not None}
    return actions.update_registration(reg, actor=principal(request).actor, **changes)


@router.delete("/registrations/{reg_id}", response={204: None},
               summary="Remove an LTI platform registration")
def delete_registration(request: HttpRequest, reg_id: int) -> Status[None]:
    reg = _registration(request, reg_id, manage="remove LTI registrations")
    actions.delete_registration(reg, actor=principal(request).actor)
    return Status(204, None)

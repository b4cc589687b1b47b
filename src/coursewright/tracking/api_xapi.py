"""LRS credentials and settings over the API (``/api/v1/xapi``).

Only a signed-in owner or admin manages them (an API key is a CI secret: letting it
mint LRS credentials would widen what a leaked key gives away). Another
organisation's credential is a 404 before any role question. The secret is in the
answer of ``POST /xapi/credentials`` only.
(No postponed annotations here: schemas are resolved at runtime.)
"""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from coursewright.api import principal
from coursewright.audit.models import ActorKind
from coursewright.delivery.models import License
from coursewright.errors import Forbidden, Invalid
from coursewright.orgs.access import Principal, get_scoped
from coursewright.orgs.models import ALL_ROLES, MANAGING_ROLES
from coursewright.tracking import credentials as actions
from coursewright.tracking.models import XapiCredential

router = Router(tags=["xapi"])


class CredentialOut(Schema):
    id: int
    name: str
    key: str = Field(description="The HTTP Basic user name")
    scopes: list[str]
    license_id: int | None = Field(description="The license it is bound to (its reads "
                                               "and documents stay within the license)")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most every 5 minutes")


class IssuedOut(Schema):
    credential: CredentialOut
    endpoint: str = Field(description="The LRS endpoint")
    key: str
    secret: str = Field(description="The HTTP Basic password, shown only now")


class CredentialIn(Schema):
    name: str = Field(max_length=100)
    scopes: list[str] = Field(default_factory=lambda: list(actions.DEFAULT_SCOPES),
                              max_length=8)
    license_id: int | None = None


class SettingsOut(Schema):
    pseudonymise: bool = Field(description="Replace mbox/mbox_sha1sum/openid with a "
                                           "pseudonymous account and drop agent names on "
                                           "ingestion")


class SettingsIn(Schema):
    pseudonymise: bool


def _manager(p: Principal, org_id: int, doing: str) -> None:
    if p.actor.kind == ActorKind.API_KEY:
        p.require(org_id, ALL_ROLES, doing)  # another organisation's key: 404 first
        raise Forbidden(f"To {doing} you need to be signed in as an owner or admin; API "
                        "keys cannot.", code="person_required")
    p.require(org_id, MANAGING_ROLES, doing)


def _credential(request: HttpRequest, credential_id: int, doing: str) -> XapiCredential:
    p = principal(request)
    credential = get_scoped(XapiCredential, p, pk=credential_id)
    _manager(p, credential.org_id, doing)
    request.audit_org = credential.org  # type: ignore[attr-defined]
    return credential


def _endpoint() -> str:
    from django.conf import settings

    return f"{settings.BASE_URL}/xapi/"


@router.get("/credentials", response=list[CredentialOut],
            summary="The organisation's LRS credentials (owners and admins)")
def list_credentials(request: HttpRequest, org: str | None = None) -> list[XapiCredential]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "see LRS credentials")
    return actions.list_credentials(organisation)


@router.post("/credentials", response={201: IssuedOut},
             summary="Issue an LRS credential (HTTP Basic key and secret; the secret is "
                     "shown once)")
def issue_credential(request: HttpRequest, body: CredentialIn,
                     org: str | None = None) -> Status[object]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "issue LRS credentials")
    license = None
    if body.license_id is not None:
        license = License.objects.filter(org=organisation, pk=body.license_id).first()
        if license is None:
            raise Invalid("no such license in this organisation", code="bad_license")
    credential, secret = actions.issue_credential(organisation, name=body.name,
                                                  scopes=body.scopes, license=license,
                                                  actor=p.actor)
    return Status(201, {"credential": credential, "endpoint": _endpoint(),
                        "key": credential.key, "secret": secret})


@router.get("/credentials/{credential_id}", response=CredentialOut,
            summary="One LRS credential")
def get_credential(request: HttpRequest, credential_id: int) -> XapiCredential:
    return _credential(request, credential_id, "see LRS credentials")


@router.post("/credentials/{credential_id}/revoke", response=CredentialOut,
             summary="Revoke an LRS credential: its next request is refused")
def revoke_credential(request: HttpRequest, credential_id: int) -> XapiCredential:
    credential = _credential(request, credential_id, "revoke LRS credentials")
    return actions.revoke_credential(credential, actor=principal(request).actor)


@router.get("/settings", response=SettingsOut, summary="The organisation's LRS settings")
def get_settings(request: HttpRequest, org: str | None = None) -> dict[str, Any]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "see LRS settings")
    return {"pseudonymise": actions.settings_for(organisation).pseudonymise}


@router.put("/settings", response=SettingsOut,
            summary="Change the LRS settings (pseudonymisation applies to statements "
                    "received from then on)")
def put_settings(request: HttpRequest, body: SettingsIn,
                 org: str | None = None) -> dict[str, Any]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "change LRS settings")
    settings = actions.set_pseudonymise(organisation, body.pseudonymise, actor=p.actor)
    return {"pseudonymise": settings.pseudonymise}

"""Statement forwarding targets over the API (``/api/v1/xapi/forwarding``).

Only a signed-in owner or admin manages them, as LRS credentials (an API key cannot:
a target sends every statement of the organisation elsewhere). Another organisation's
target is a 404 before any role question. Credentials are write-only: answers say
which kind is set, never the values.
(No postponed annotations here: schemas are resolved at runtime.)
"""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from coursewright.api import principal
from coursewright.orgs.access import get_scoped
from coursewright.tracking import forwarding as actions
from coursewright.tracking.api_xapi import _manager
from coursewright.tracking.models import ForwardState, ForwardTarget

router = Router(tags=["xapi"])

Auth = Literal["none", "basic", "bearer"]
Version = Literal["1.0.3", "2.0.0"]


class StatusOut(Schema):
    delivered: int = Field(description="Statements the receiver accepted (at least once)")
    already_present: int = Field(description="Statements the receiver answered 409 to "
                                             "(it holds that id): counted as delivered")
    backlog: int = Field(description=f"Statements waiting (counted up to "
                                     f"{actions.BACKLOG_CAP})")
    backlog_at: datetime | None
    failures: int = Field(description="Failed attempts in a row")
    next_attempt_at: datetime | None = Field(description="When a backed-off target is "
                                                         "tried again")
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    rejected_statement_id: UUID | None = Field(description="The statement the receiver "
                                                           "refused (state 'rejected')")
    rejection_detail: str | None = Field(description="The start of the receiver's answer "
                                                     "to it")


class TargetOut(Schema):
    id: int
    name: str
    url: str
    auth: Auth
    has_credentials: bool = Field(description="Credentials are set (never returned)")
    xapi_version: Version
    verbs: list[str] = Field(description="Only statements with these verbs (and voiding "
                                         "statements); empty: every statement")
    only_licensed: bool = Field(description="Only statements written through a license's "
                                            "credentials (our launches, license clients)")
    enabled: bool
    state: Literal["active", "paused", "rejected"]
    created_at: datetime
    updated_at: datetime
    status: StatusOut


class TargetIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    url: str = Field(max_length=2000, description="The receiving LRS's xAPI endpoint "
                                                  "(statements are POSTed to "
                                                  "<url>/statements)")
    auth: Auth = "none"
    key: str | None = Field(default=None, description="HTTP Basic key (write-only)")
    secret: str | None = Field(default=None, description="HTTP Basic secret (write-only)")
    token: str | None = Field(default=None, description="Bearer token (write-only)")
    xapi_version: Version = "1.0.3"
    verbs: list[str] = Field(default_factory=list, max_length=actions.MAX_VERBS)
    only_licensed: bool = False
    enabled: bool = True
    start: Literal["now", "beginning"] = Field(
        default="now", description="'now': statements stored from now on; 'beginning': "
                                   "the organisation's stored statements as well")


class TargetPatch(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    url: str | None = Field(default=None, max_length=2000)
    auth: Auth | None = Field(default=None, description="Give with the new credentials "
                                                        "(they are replaced whole)")
    key: str | None = None
    secret: str | None = None
    token: str | None = None
    xapi_version: Version | None = None
    verbs: list[str] | None = Field(default=None, max_length=actions.MAX_VERBS)
    only_licensed: bool | None = None
    enabled: bool | None = None


class ResumeIn(Schema):
    model_config = ConfigDict(extra="forbid")
    skip_rejected: bool = Field(default=False, description="Pass over the statement the "
                                                           "receiver refused")


def target_out(target: ForwardTarget) -> dict[str, Any]:
    return {
        "id": target.pk, "name": target.name, "url": target.url, "auth": target.auth,
        "has_credentials": bool(target.credentials), "xapi_version": target.xapi_version,
        "verbs": target.verbs, "only_licensed": target.only_licensed,
        "enabled": target.state == ForwardState.ACTIVE, "state": target.state,
        "created_at": target.created_at, "updated_at": target.updated_at,
        "status": {
            "delivered": target.delivered, "already_present": target.already_present,
            "backlog": target.backlog, "backlog_at": target.backlog_at,
            "failures": target.failures, "next_attempt_at": target.next_attempt_at,
            "last_attempt_at": target.last_attempt_at,
            "last_success_at": target.last_success_at, "last_error": target.last_error,
            "last_error_at": target.last_error_at,
            "rejected_statement_id": target.rejected_statement_id,
            "rejection_detail": (target.rejection_detail
                                 if target.state == ForwardState.REJECTED else None),
        },
    }


def _target(request: HttpRequest, forwarding_id: int, doing: str) -> ForwardTarget:
    p = principal(request)
    target = get_scoped(ForwardTarget, p, pk=forwarding_id)
    _manager(p, target.org_id, doing)
    request.audit_org = target.org  # type: ignore[attr-defined]
    return target


@router.get("", response=list[TargetOut],
            summary="The organisation's statement forwarding targets (owners and admins)")
def list_targets(request: HttpRequest, org: str | None = None) -> list[dict[str, Any]]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "see forwarding targets")
    return [target_out(t) for t in actions.list_targets(organisation)]


@router.post("", response={201: TargetOut},
             summary="Forward the organisation's statements to an external LRS (the URL "
                     "must be a public address; credentials are stored encrypted and "
                     "never returned)")
def create_target(request: HttpRequest, body: TargetIn,
                  org: str | None = None) -> Status[object]:
    p = principal(request)
    organisation = p.default_org(org)
    _manager(p, organisation.pk, "add forwarding targets")
    target = actions.create_target(
        organisation, name=body.name, url=body.url, auth=body.auth, key=body.key,
        secret=body.secret, token=body.token, xapi_version=body.xapi_version,
        verbs=body.verbs, only_licensed=body.only_licensed, enabled=body.enabled,
        start=body.start, actor=p.actor)
    return Status(201, target_out(target))


@router.get("/{forwarding_id}", response=TargetOut, summary="One forwarding target and its "
                                                         "status")
def get_target(request: HttpRequest, forwarding_id: int) -> dict[str, Any]:
    return target_out(_target(request, forwarding_id, "see forwarding targets"))


@router.patch("/{forwarding_id}", response=TargetOut,
              summary="Change a forwarding target (credentials: give auth with them)")
def update_target(request: HttpRequest, forwarding_id: int, body: TargetPatch) -> dict[str, Any]:
    target = _target(request, forwarding_id, "change forwarding targets")
    given = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in given.items() if k not in ("key", "secret", "token")}
    if any(v is None for v in changes.values()):
        from coursewright.errors import Invalid

        raise Invalid("leave out what does not change; null is not a value here",
                      code="bad_value")
    updated = actions.update_target(target, actor=principal(request).actor,
                                    key=body.key, secret=body.secret, token=body.token,
                                    **changes)
    return target_out(updated)


@router.delete("/{forwarding_id}", response={204: None},
               summary="Stop forwarding to a target and forget it")
def delete_target(request: HttpRequest, forwarding_id: int) -> Status[None]:
    target = _target(request, forwarding_id, "remove forwarding targets")
    actions.delete_target(target, actor=principal(request).actor)
    return Status(204, None)


@router.post("/{forwarding_id}/pause", response=TargetOut, summary="Pause forwarding")
def pause_target(request: HttpRequest, forwarding_id: int) -> dict[str, Any]:
    target = _target(request, forwarding_id, "pause forwarding")
    return target_out(actions.pause_target(target, actor=principal(request).actor))


@router.post("/{forwarding_id}/resume", response=TargetOut,
             summary="Resume a paused or refused target (optionally passing over the "
                     "refused statement)")
def resume_target(request: HttpRequest, forwarding_id: int,
                  body: ResumeIn | None = None) -> dict[str, Any]:
    target = _target(request, forwarding_id, "resume forwarding")
    return target_out(actions.resume_target(
        target, actor=principal(request).actor,
        skip_rejected=bool(body and body.skip_rejected)))


@router.post("/{forwarding_id}/retry", response=TargetOut,
             summary="Forward now, without waiting out the back-off")
def retry_target(request: HttpRequest, forwarding_id: int) -> dict[str, Any]:
    target = _target(request, forwarding_id, "retry forwarding")
    return target_out(actions.retry_now(target, actor=principal(request).actor))

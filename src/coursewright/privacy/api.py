from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from coursewright.api import principal
from coursewright.orgs.models import Role
from coursewright.privacy.deletion import DeletionReceipt, delete_organisation

router = Router(tags=["deletion"])


class ReceiptOut(Schema):
    kind: str
    object_id: int
    org_id: int
    deleted_at: datetime
    deleted_by: str
    channel: str
    reason: str
    counts: dict[str, int]
    files_deleted: int
    key_destroyed: bool


class DeleteOrgIn(Schema):
    confirm: str
    reason: str = ""


@router.delete("/organisations/{org_slug}", response=ReceiptOut,
               summary="Delete the whole organisation and destroy its keys (owners only)")
def delete_organisation_endpoint(request: HttpRequest, org_slug: str,
                                 body: DeleteOrgIn) -> DeletionReceipt:
    p = principal(request)
    org = p.default_org(org_slug)
    p.require(org, {Role.OWNER}, "delete the organisation")
    return delete_organisation(org, actor=p.actor, confirm=body.confirm, reason=body.reason)


class LearnerIn(Schema):
    learner_id: str  # as the client LMS knows the learner; we hold only pseudonyms
    reason: str = ""


@router.post("/organisations/{org_slug}/learners/delete", response=ReceiptOut,
             summary="Delete one learner's records (owners and admins)")
def delete_learner_endpoint(request: HttpRequest, org_slug: str,
                            body: LearnerIn) -> DeletionReceipt:
    from coursewright.privacy.learners import delete_learner

    p = principal(request)
    org = p.default_org(org_slug)
    p.require(org, {Role.OWNER, Role.ADMIN}, "delete learner records")
    return delete_learner(org, body.learner_id, actor=p.actor, reason=body.reason)


@router.post("/organisations/{org_slug}/learners/export", response=dict[str, Any],
             summary="Export one learner's records (owners and admins)")
def export_learner_endpoint(request: HttpRequest, org_slug: str,
                            body: LearnerIn) -> dict[str, Any]:
    from coursewright.privacy.learners import export_learner

    p = principal(request)
    org = p.default_org(org_slug)
    p.require(org, {Role.OWNER, Role.ADMIN}, "export learner records")
    return export_learner(org, body.learner_id, actor=p.actor)

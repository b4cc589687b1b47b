from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from coursewright.api import principal
from coursewright.orgs.models import MANAGING_ROLES
from coursewright.privacy.retention import policy, set_retention

router = Router(tags=["retention"])


class RetentionIn(Schema):
    rules: dict[str, int | None]


class RetentionOut(Schema):
    rules: dict[str, int | None]


@router.get("/organisations/{org_slug}/retention", response=RetentionOut,
            summary="The organisation's retention rules (days per data category; null: kept)")
def get_retention(request: HttpRequest, org_slug: str) -> dict[str, object]:
    p = principal(request)
    return {"rules": policy(p.default_org(org_slug))}


@router.put("/organisations/{org_slug}/retention", response=RetentionOut,
            summary="Change retention rules (owners and admins)")
def put_retention(request: HttpRequest, org_slug: str, body: RetentionIn) -> dict[str, object]:
    p = principal(request)
    org = p.default_org(org_slug)
    p.require(org, MANAGING_ROLES, "change retention rules")
    return {"rules": set_retention(org, body.rules, actor=p.actor)}

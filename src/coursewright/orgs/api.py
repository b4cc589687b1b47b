from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from coursewright.api import principal

router = Router(tags=["organisations"])


class OrgOut(Schema):
    slug: str
    name: str
    region: str
    role: str


class MeOut(Schema):
    actor: str
    kind: str
    organisations: list[OrgOut]


@router.get("/me", response=MeOut, summary="Who am I acting as")
def me(request: HttpRequest) -> MeOut:
    p = principal(request)
    orgs = [OrgOut(slug=o.slug, name=o.name, region=o.region, role=p.roles[o.pk])
            for o in sorted(p.orgs.values(), key=lambda o: o.slug)]
    return MeOut(actor=p.actor.label, kind=str(p.actor.kind), organisations=orgs)

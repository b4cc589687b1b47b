from __future__ import annotations

from django.http import FileResponse, HttpRequest
from django.utils import timezone
from ninja import Router

from coursewright.api import principal
from coursewright.orgs.models import MANAGING_ROLES
from coursewright.privacy.export import spool_organisation_export

router = Router(tags=["export"])


@router.get("/organisations/{org_slug}/export", response={200: bytes},
            summary="Download all of the organisation's data: JSON, audit log and files "
                    "(owners and admins, or the organisation's API key)",
            openapi_extra={"responses": {200: {"description": "The export (zip)", "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}})
def export_organisation_endpoint(request: HttpRequest, org_slug: str) -> FileResponse:
    p = principal(request)
    org = p.default_org(org_slug)
    if p.actor.api_key is None:  # a key belongs to this one organisation: it may export it
        p.require(org, MANAGING_ROLES, "export the organisation's data")
    request.audit_org = org  # type: ignore[attr-defined]  # the API-call entry's organisation
    archive = spool_organisation_export(org, actor=p.actor)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = FileResponse(archive, as_attachment=True, content_type="application/zip",
                            filename=f"coursewright-{org.slug}-{stamp}.zip")
    response["Cache-Control"] = "no-store"
    return response

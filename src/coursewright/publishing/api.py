from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Router

from coursewright.api import principal
from coursewright.courses.models import CourseVersion
from coursewright.orgs.access import get_scoped

router = Router(tags=["exports"])


@router.get("/versions/{version_id}/export/{fmt}",
            response={200: bytes}, summary="Download a package of an approved version",
            openapi_extra={"responses": {200: {"description": "The package (zip)", "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}})
def download_export(request: HttpRequest, version_id: int,
                    fmt: Literal["scorm2004", "scorm12", "html", "cmi5", "xapi"],
                    aus: Literal["course", "module"] = "course") -> HttpResponse:
    """``cmi5`` is a cmi5 course package (``cmi5.xml``); ``xapi`` a TinCan/xAPI package
    (``tincan.xml``). ``?aus=module`` (cmi5 only) makes one AU per module instead of one
    for the whole course; that package is built afresh on each download."""
    from coursewright.publishing.actions import build_export, export_filename, export_version
    from coursewright.storage import read_bytes

    p = principal(request)
    version = get_scoped(CourseVersion, p, pk=version_id)
    if fmt == "cmi5" and aus == "module":
        data = build_export(version, fmt, actor=p.actor, cmi5_layout=aus)
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = (
            f'attachment; filename="{export_filename(version, "cmi5-modules")}"')
        return response
    export = export_version(version, fmt, actor=p.actor)
    response = HttpResponse(read_bytes(version.org, export.storage_path),
                            content_type="application/zip")
    response["Content-Disposition"] = (
        f'attachment; filename="{export_filename(version, fmt)}"')
    response["ETag"] = f'"{export.sha256}"'
    return response

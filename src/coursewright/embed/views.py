"""The embeddable pages: an authoring editor and a player that run inside a partner's
iframe, with no cookies at all.

    GET /embed/v1/editor/?org=<slug>                the editor (author or reviewer token)
    GET /embed/v1/player/<course uid>/?org=<slug>   the player (learner token)

Design, and what it guarantees:

- **Framed only by the partner.** The page knows its organisation before it has a token
  (``?org=<slug>``) and answers ``Content-Security-Policy: frame-ancestors`` with that
  organisation's registered origins (``embed.origins``) — or ``'none'`` when it has
  none, or the organisation is unknown: every other site's frame stays empty. No
  ``X-Frame-Options`` (``DENY`` would override the allow-list).
- **No cookies, in either direction.** The views render their templates without the
  request (no context processors: no CSRF token, no session, no messages) and touch
  neither session nor CSRF, so no middleware has a reason to set a cookie; the scripts
  call the API with ``credentials: "omit"`` and ``Authorization: Bearer``. The token
  lives in a script variable only — never in a cookie, ``localStorage``,
  ``sessionStorage`` or the address (a one-time code may be in the fragment, which is
  dropped at once; ``embed.codes``).
- **Talks to the partner only.** The page lists the registered origins in its HTML
  (data, not code); its script accepts a token only from a message whose ``origin`` is
  one of them and whose source is the parent frame, and posts ``coursewright.ready`` and
  its events (``course.created``, ``course.published``, ``course.commenced``,
  ``course.completed``) to that origin only, never to ``"*"``.
- **A strict page policy.** No inline script or style, scripts and styles from this
  server (and, for the player, from where published course files are served), API
  calls to this server only, ``Referrer-Policy: no-referrer`` (a code in an address
  never leaks on), ``Cache-Control: no-store``. The player shows the course in a
  ``srcdoc`` frame that inherits this policy.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import URLPattern, path
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from coursewright.embed.origins import registered_origins
from coursewright.orgs.models import Organisation


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _files_origin(org: Organisation) -> str:
    """Where the organisation's published course files are served from (the signed
    URLs' origin: this server, or the bucket's endpoint), for the player's policy."""
    from coursewright.delivery.content import published_name, signed_url

    return _origin(signed_url(published_name(org, "0" * 64, ".js"), seconds=60))


def page_policy(frame_ancestors: list[str], *, file_origins: list[str] | None = None) -> str:
    """The embedded pages' Content-Security-Policy (the module note says why)."""
    files = "".join(f" {o}" for o in sorted(set(file_origins or [])))
    ancestors = " ".join(frame_ancestors) or "'none'"
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self'{files}",
        f"style-src 'self'{files}",
        f"img-src 'self' data:{files}",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        f"frame-ancestors {ancestors}",
    ])


def _answer(body: str, *, status: int, frame_ancestors: list[str],
            file_origins: list[str] | None = None) -> HttpResponse:
    response = HttpResponse(body, status=status)
    response["Content-Security-Policy"] = page_policy(frame_ancestors,
                                                      file_origins=file_origins)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def _unavailable(status: int, message: str) -> HttpResponse:
    return _answer(render_to_string("embed/unavailable.html", {"message": message}),
                   status=status, frame_ancestors=[])


def _page(request: HttpRequest, kind: str, course: str = "") -> HttpResponse:
    slug = request.GET.get("org", "")
    if not slug:
        return _unavailable(400, "This page needs its organisation in the address "
                                 "(?org=<slug>).")
    org = Organisation.objects.filter(slug=slug).first()
    if org is None:
        return _unavailable(404, "This page is not available.")
    origins = registered_origins(org)
    config = {"page": kind, "org": org.slug, "origins": origins, "course": course,
              "api": "/api/v1/"}
    body = render_to_string(f"embed/{kind}.html", {"config": config,
                                                   "framed": bool(origins)})
    file_origins = [_files_origin(org)] if kind == "player" else []
    return _answer(body, status=200, frame_ancestors=origins, file_origins=file_origins)


@require_GET
@xframe_options_exempt
def editor(request: HttpRequest) -> HttpResponse:
    return _page(request, "editor")


@require_GET
@xframe_options_exempt
def player(request: HttpRequest, course_uid: str) -> HttpResponse:
    try:
        course = str(uuid.UUID(course_uid))
    except ValueError:
        return _unavailable(404, "This page is not available.")
    return _page(request, "player", course)


app_name = "embed"
urlpatterns: list[URLPattern] = [
    path("embed/v1/editor/", editor, name="editor"),
    path("embed/v1/player/<str:course_uid>/", player, name="player"),
]

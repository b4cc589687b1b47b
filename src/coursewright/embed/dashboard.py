"""The dashboard's embedding page (``/o/<slug>/embed/``, linked from Settings): the
origins allowed to frame the organisation's embedded editor and player, and the
addresses of those pages.

Owners and admins only, signed in (as the API's ``PUT /api/v1/embed/origins``, which the
organisation's API key may also use). The list is changed as a whole by
``embed.origins.set_origins`` (which validates it and writes the audit row); the form
only splits the lines, and a refusal comes back on the field with the rule it broke.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_POST

from coursewright.embed.origins import MAX_ORIGINS, registered_origins, set_origins
from coursewright.errors import DomainError
from coursewright.orgs.models import MANAGING_ROLES
from coursewright.web.access import OrgRequest, org_view, web_actor


class OriginsForm(forms.Form):
    origins = forms.CharField(
        label="Origins allowed to embed", required=False, strip=True,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false",
                                     "autocapitalize": "off",
                                     "placeholder": "https://app.example.com"}),
        help_text=f"One per line, at most {MAX_ORIGINS}: scheme://host or "
                  "scheme://host:port, no path. https, or http for localhost and "
                  "127.0.0.1 only. Leave it empty to stop all embedding.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def lines(self) -> list[str]:
        return [line.strip() for line in str(self.cleaned_data["origins"]).splitlines()
                if line.strip()]


def _page(request: OrgRequest, *, form: OriginsForm | None = None,
          status: int = 200) -> HttpResponse:
    origins = registered_origins(request.org)
    return render(request, "embed/embedding.html", {
        "origins": origins,
        "form": form or OriginsForm(initial={"origins": "\n".join(origins)}),
        "base": settings.BASE_URL,
    }, status=status)


@org_view(roles=MANAGING_ROLES)
@require_GET
def embedding_page(request: OrgRequest) -> HttpResponse:
    return _page(request)


@org_view(roles=MANAGING_ROLES)
@require_POST
def embedding_save(request: OrgRequest) -> HttpResponse:
    form = OriginsForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=422)
    try:
        stored = set_origins(request.org, form.lines(), actor=web_actor(request))
    except DomainError as exc:
        form.add_error("origins", exc.message)
        return _page(request, form=form, status=exc.status)
    messages.success(request, f"{len(stored)} origin{'' if len(stored) == 1 else 's'} may "
                              "embed your pages." if stored else
                              "No site may embed your pages now.")
    return redirect("web:embedding", request.org.slug)


_BASE = "o/<slug:org_slug>/embed/"
patterns: list[URLPattern] = [
    path(_BASE, embedding_page, name="embedding"),
    path(f"{_BASE}save/", embedding_save, name="embedding_save"),
]

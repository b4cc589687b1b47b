"""The dashboard's LTI page (``/o/<slug>/lti/``): the organisation's LTI platform
registrations with the URLs to enter in each LMS; registering one, switching it off and
on, removing it.

Owners and admins only, signed in (as the API). Every change goes through one action of
``lti.actions`` (which checks it, makes it and writes its audit row); the form only
shapes the input, and a refusal comes back on the field it concerns.
"""

from __future__ import annotations

from typing import Any, Literal

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_POST

from coursewright.delivery.models import License, LicenseStatus
from coursewright.errors import DomainError
from coursewright.lti import actions
from coursewright.lti.models import PlatformRegistration
from coursewright.lti.views import tool_settings
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import MANAGING_ROLES
from coursewright.web.access import OrgRequest, org_view, web_actor

Change = Literal["enable", "disable", "delete"]
URL_ATTRS = {"inputmode": "url", "spellcheck": "false", "autocapitalize": "off"}


class RegistrationForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, strip=True,
                           help_text="For you, e.g. “Moodle (production)”.")
    issuer = forms.CharField(label="Issuer (platform id)", max_length=255, strip=True,
                             widget=forms.TextInput(attrs=URL_ATTRS))
    client_id = forms.CharField(label="Client id", max_length=255, strip=True)
    deployment_ids = forms.CharField(label="Deployment ids", max_length=2000, strip=True,
                                     help_text="One or more, separated by spaces or commas.")
    jwks_url = forms.CharField(label="Public keyset URL", max_length=2000, strip=True,
                               widget=forms.TextInput(attrs=URL_ATTRS))
    auth_url = forms.CharField(label="Authentication request URL", max_length=2000,
                               strip=True, widget=forms.TextInput(attrs=URL_ATTRS))
    token_url = forms.CharField(label="Access token URL", max_length=2000, strip=True,
                                widget=forms.TextInput(attrs=URL_ATTRS))
    license = forms.TypedChoiceField(label="License", coerce=int,
                                     help_text="Its rules (status, expiry, courses, caps) "
                                               "apply to every launch.")


FIELD_OF_CODE = {"bad_name": "name", "bad_issuer": "issuer", "bad_client_id": "client_id",
                 "bad_deployment_ids": "deployment_ids", "bad_deployment_id": "deployment_ids",
                 "bad_jwks_url": "jwks_url", "bad_auth_url": "auth_url",
                 "bad_token_url": "token_url", "bad_license": "license",
                 "duplicate_registration": "client_id"}


def _form(request: OrgRequest, data: Any = None) -> RegistrationForm:
    form = RegistrationForm(data, prefix="add", label_suffix="")
    licenses = License.objects.filter(org=request.org).exclude(status=LicenseStatus.REVOKED)
    form.fields["license"].choices = [(lic.pk, lic.name) for lic in licenses]  # type: ignore[attr-defined]
    return form


def _page(request: OrgRequest, *, form: RegistrationForm | None = None,
          status: int = 200) -> HttpResponse:
    registrations = list(PlatformRegistration.objects.filter(org=request.org)
                         .select_related("license").order_by("pk"))
    return render(request, "lti/dashboard.html", {
        "registrations": [(r, tool_settings(r)) for r in registrations],
        "form": form or _form(request),
    }, status=status)


@org_view(roles=MANAGING_ROLES)
@require_GET
def lti_page(request: OrgRequest) -> HttpResponse:
    return _page(request)


@org_view(roles=MANAGING_ROLES)
@require_POST
def lti_add(request: OrgRequest) -> HttpResponse:
    form = _form(request, request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=422)
    data = form.cleaned_data
    deployments = [d for d in data["deployment_ids"].replace(",", " ").split() if d]
    try:
        reg = actions.register_platform(
            request.org, name=data["name"], issuer=data["issuer"],
            client_id=data["client_id"], deployment_ids=deployments,
            jwks_url=data["jwks_url"], auth_url=data["auth_url"],
            token_url=data["token_url"], license=data["license"],
            actor=web_actor(request))
    except DomainError as exc:
        form.add_error(FIELD_OF_CODE.get(exc.code), exc.message)
        return _page(request, form=form, status=exc.status)
    messages.success(request, f"“{reg.name}” is registered: enter the URLs below in the LMS.")
    return redirect("web:lti", request.org.slug)


DONE = {"enable": "accepts launches again.", "disable": "is switched off.",
        "delete": "is removed."}


@org_view(roles=MANAGING_ROLES)
@require_POST
def lti_change(request: OrgRequest, reg_id: int, change: Change) -> HttpResponse:
    reg = get_scoped(PlatformRegistration, request.principal, pk=reg_id, org=request.org)
    actor = web_actor(request)
    name = reg.name
    try:
        if change == "delete":
            actions.delete_registration(reg, actor=actor)
        else:
            actions.update_registration(reg, actor=actor, active=change == "enable")
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{name}” {DONE[change]}")
    return redirect("web:lti", request.org.slug)


_BASE = "o/<slug:org_slug>/lti/"
# in the dashboard's "web" namespace (web/urls.py), like its other pages
patterns: list[URLPattern] = [
    path(_BASE, lti_page, name="lti"),
    path(f"{_BASE}add/", lti_add, name="lti_add"),
    *[path(f"{_BASE}<int:reg_id>/{change}/", lti_change, {"change": change},
           name=f"lti_{change}") for change in ("enable", "disable", "delete")],
]

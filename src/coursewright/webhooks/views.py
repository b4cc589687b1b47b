"""The dashboard's webhooks page (``/o/<slug>/webhooks/``): the organisation's endpoints
and their recent deliveries; adding an endpoint, switching one off and on, rotating its
signing secret, removing it, and resending a delivery.

Owners and admins only, signed in (as the API). Every change goes through one action of
``webhooks.actions`` (which checks it, makes it and writes its audit row); the form here
only shapes the input, and a refusal comes back on the field it concerns. The signing
secret appears in the one response to the POST that made it (adding, rotating) — never
in the session, a redirect or a URL — with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Any, Literal

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_POST

from coursewright.errors import DomainError
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import MANAGING_ROLES
from coursewright.web.access import OrgRequest, org_view, web_actor
from coursewright.webhooks import actions
from coursewright.webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from coursewright.webhooks.privacy import KEEP_DAYS

Change = Literal["enable", "disable", "rotate", "delete"]
RECENT = 50


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL", max_length=2000, strip=True,
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false",
                                      "autocapitalize": "off",
                                      "placeholder": "https://partner.example/hooks/coursewright"}),
        help_text="Events are POSTed here. It must be a public address; redirects are not "
                  "followed.")
    description = forms.CharField(label="Description", max_length=100, required=False,
                                  strip=True, help_text="For you, e.g. “Production”.")
    events = forms.MultipleChoiceField(
        label="Events", choices=[(e.value, f"{e.value} — {e.label}") for e in Event],
        widget=forms.CheckboxSelectMultiple, initial=list(Event.values))



# which field an action's refusal is about, by its code
FIELD_OF_CODE = {"url_refused": "url", "bad_events": "events",
                 "bad_description": "description"}


def _form(data: Any = None) -> EndpointForm:
    return EndpointForm(data, prefix="add", label_suffix="")


def _page(request: OrgRequest, *, form: EndpointForm | None = None, status: int = 200,
          secret: str = "", secret_for: WebhookEndpoint | None = None) -> HttpResponse:
    endpoints = actions.list_endpoints(request.org)
    deliveries = list(WebhookDelivery.objects.filter(org=request.org).defer("payload")
                      .order_by("-id")[:RECENT])
    names = {e.pk: e.description or e.url for e in endpoints}
    response = render(request, "webhooks/webhooks.html", {
        "endpoints": endpoints, "deliveries": [(d, names.get(d.endpoint_id, "")) for d in
                                               deliveries],
        "form": form or _form(), "can_add": len(endpoints) < actions.MAX_ENDPOINTS,
        "max_endpoints": actions.MAX_ENDPOINTS, "keep_days": KEEP_DAYS, "recent": RECENT,
        "secret": secret, "secret_for": secret_for,
        "grace_hours": actions.DEFAULT_GRACE_HOURS,
    }, status=status)
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@org_view(roles=MANAGING_ROLES)
@require_GET
def webhooks_page(request: OrgRequest) -> HttpResponse:
    return _page(request)


@org_view(roles=MANAGING_ROLES)
@require_POST
def webhooks_add(request: OrgRequest) -> HttpResponse:
    form = _form(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=422)
    data = form.cleaned_data
    try:
        endpoint, secret = actions.create_endpoint(
            request.org, url=data["url"], events=data["events"],
            description=data["description"], actor=web_actor(request))
    except DomainError as exc:  # a refused URL (422), the cap (409)
        form.add_error(FIELD_OF_CODE.get(exc.code), exc.message)
        return _page(request, form=form, status=exc.status)
    # the secret goes into this one answer only: never into the session or a redirect
    return _page(request, status=201, secret=secret, secret_for=endpoint)


DONE = {"enable": "receives events again.", "disable": "is switched off.",
        "delete": "is removed, with its deliveries."}


@org_view(roles=MANAGING_ROLES)
@require_POST
def webhook_change(request: OrgRequest, webhook_id: int, change: Change) -> HttpResponse:
    endpoint = get_scoped(WebhookEndpoint, request.principal, pk=webhook_id, org=request.org)
    actor = web_actor(request)
    name = endpoint.description or endpoint.url
    try:
        if change == "rotate":
            rotated, secret = actions.rotate_secret(endpoint, actor=actor)
            return _page(request, secret=secret, secret_for=rotated)
        if change == "delete":
            actions.delete_endpoint(endpoint, actor=actor)
        else:
            actions.update_endpoint(endpoint, actor=actor, active=change == "enable")
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{name}” {DONE[change]}")
    return redirect("web:webhooks", request.org.slug)


@org_view(roles=MANAGING_ROLES)
@require_POST
def webhook_resend(request: OrgRequest, delivery_id: int) -> HttpResponse:
    delivery = get_scoped(WebhookDelivery, request.principal, pk=delivery_id,
                          org=request.org)
    try:
        actions.resend_delivery(delivery, actor=web_actor(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The {delivery.event} event is being sent again.")
    return redirect("web:webhooks", request.org.slug)


_BASE = "o/<slug:org_slug>/webhooks/"
# in the dashboard's "web" namespace (web/urls.py), like its other pages
patterns: list[URLPattern] = [
    path(_BASE, webhooks_page, name="webhooks"),
    path(f"{_BASE}add/", webhooks_add, name="webhooks_add"),
    *[path(f"{_BASE}<int:webhook_id>/{change}/", webhook_change, {"change": change},
           name=f"webhook_{change}") for change in ("enable", "disable", "rotate", "delete")],
    path(f"{_BASE}deliveries/<int:delivery_id>/resend/", webhook_resend,
         name="webhook_resend"),
]

"""The dashboard's statement forwarding page (``/o/<slug>/xapi/forwarding/``): the
organisation's forwarding targets with their status, adding one, and per target
pausing, resuming (optionally past a refused statement), retrying now and removing it.

Owners and admins only, signed in (as the API: a target sends every statement of the
organisation elsewhere). Every change goes through one action of
``tracking.forwarding`` (which checks it, makes it and writes its audit row); the form
here only shapes the input, and a refusal comes back on the field it concerns with the
action's status. Credentials are write-only: the form's secret fields are never filled
in again, and the page says only which kind is set.
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
from coursewright.tracking import forwarding as actions
from coursewright.tracking.models import ForwardAuth, ForwardTarget
from coursewright.web.access import OrgRequest, org_view, web_actor

Change = Literal["pause", "resume", "skip", "retry", "delete"]


class TargetForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, strip=True,
                           help_text="For you, e.g. “Data warehouse”.")
    url = forms.CharField(
        label="Endpoint", max_length=2000, strip=True,
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false",
                                      "autocapitalize": "off",
                                      "placeholder": "https://lrs.example.com/xapi/"}),
        help_text="The receiving LRS's xAPI endpoint; statements are POSTed to its "
                  "/statements. It must be a public address.")
    auth = forms.ChoiceField(label="Credentials", choices=ForwardAuth.choices,
                             initial=ForwardAuth.BASIC)
    key = forms.CharField(label="Key (HTTP Basic)", required=False, strip=False,
                          widget=forms.TextInput(attrs={"autocomplete": "off",
                                                        "spellcheck": "false"}))
    secret = forms.CharField(label="Secret (HTTP Basic)", required=False, strip=False,
                             widget=forms.PasswordInput(attrs={"autocomplete": "off"}))
    token = forms.CharField(label="Token (Bearer)", required=False, strip=False,
                            widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
                            help_text="Stored encrypted; never shown again.")
    xapi_version = forms.ChoiceField(label="xAPI version to send",
                                     choices=[("1.0.3", "1.0.3"), ("2.0.0", "2.0.0")])
    verbs = forms.CharField(
        label="Only these verbs", required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false",
                                     "placeholder": "http://adlnet.gov/expapi/verbs/completed"}),
        help_text="One verb IRI per line. Empty: every statement. Voiding statements are "
                  "always forwarded.")
    only_licensed = forms.BooleanField(
        label="Only statements from our launches and license clients", required=False,
        help_text="Statements written through a license's LRS credentials.")
    start = forms.ChoiceField(
        label="Start with", widget=forms.RadioSelect, initial="now",
        choices=[("now", "Statements stored from now on"),
                 ("beginning", "Every statement stored so far, then the new ones")])

    FIELD_OF_CODE = {"bad_name": "name", "name_taken": "name", "url_refused": "url",
                     "bad_credentials": "auth", "bad_auth": "auth", "bad_verbs": "verbs",
                     "bad_version": "xapi_version", "bad_start": "start"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("prefix", "add")
        super().__init__(*args, **kwargs)

    def clean_verbs(self) -> list[str]:
        text: str = self.cleaned_data.get("verbs", "")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def show_refusal(self, exc: DomainError) -> None:
        self.add_error(self.FIELD_OF_CODE.get(exc.code), exc.message)


def _page(request: OrgRequest, *, form: TargetForm | None = None,
          status: int = 200) -> HttpResponse:
    targets = actions.list_targets(request.org)
    return render(request, "web/forwarding.html", {
        "targets": targets, "form": form or TargetForm(),
        "can_add": len(targets) < actions.MAX_TARGETS, "max_targets": actions.MAX_TARGETS,
        "backlog_cap": actions.BACKLOG_CAP,
    }, status=status)


@org_view(roles=MANAGING_ROLES)
@require_GET
def forwarding_page(request: OrgRequest) -> HttpResponse:
    return _page(request)


@org_view(roles=MANAGING_ROLES)
@require_POST
def forwarding_add(request: OrgRequest) -> HttpResponse:
    form = TargetForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=422)
    data = form.cleaned_data
    try:
        target = actions.create_target(
            request.org, name=data["name"], url=data["url"], auth=data["auth"],
            key=data["key"] or None, secret=data["secret"] or None,
            token=data["token"] or None, xapi_version=data["xapi_version"],
            verbs=data["verbs"], only_licensed=data["only_licensed"], start=data["start"],
            actor=web_actor(request))
    except DomainError as exc:  # a refused URL or credentials (422), the cap, a name (409)
        form.show_refusal(exc)
        return _page(request, form=form, status=exc.status)
    messages.success(request, f"Statements are forwarded to “{target.name}” from now on; "
                              "its status below shows how it goes.")
    return redirect("web:forwarding", request.org.slug)


DONE = {"pause": "is paused.", "resume": "forwards again.",
        "skip": "forwards again, from the statement after the refused one.",
        "retry": "is being tried now.", "delete": "is removed."}


@org_view(roles=MANAGING_ROLES)
@require_POST
def forwarding_change(request: OrgRequest, forwarding_id: int, change: Change) -> HttpResponse:
    target = get_scoped(ForwardTarget, request.principal, pk=forwarding_id, org=request.org)
    actor = web_actor(request)
    try:
        if change == "pause":
            actions.pause_target(target, actor=actor)
        elif change in ("resume", "skip"):
            actions.resume_target(target, actor=actor, skip_rejected=change == "skip")
        elif change == "retry":
            actions.retry_now(target, actor=actor)
        else:
            actions.delete_target(target, actor=actor)
    except DomainError as exc:  # changed meanwhile: show it as it is now
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{target.name}” {DONE[change]}")
    return redirect("web:forwarding", request.org.slug)


_BASE = "o/<slug:org_slug>/xapi/forwarding/"
_ONE = f"{_BASE}<int:forwarding_id>/"
patterns: list[URLPattern] = [
    path(_BASE, forwarding_page, name="forwarding"),
    path(f"{_BASE}add/", forwarding_add, name="forwarding_add"),
    *[path(f"{_ONE}{change}/", forwarding_change, {"change": change},
           name=f"forwarding_{change}")
      for change in ("pause", "resume", "skip", "retry", "delete")],
]

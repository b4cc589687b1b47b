"""The dashboard's license pages: the organisation's licenses, issuing one, and per license
its settings (courses, expiry, allowed origins, caps), suspending, revoking and
reinstating it, minting a new token, and downloading its dispatch packages.

Owners and admins only, signed in (``org_view(roles=MANAGING_ROLES)``: anyone else in
the organisation gets a 403 page, someone outside it a 404), as the API allows: a license
token is a credential to the organisation's courses. Every change goes through one
action of ``delivery.licenses`` (or ``delivery.dispatch``), which validates it, makes it
and writes its audit row; the forms here only shape the input (dates, one origin per
line) and check it early with the same rules (``normalise_origin``), and a refusal comes
back on the form it belongs to, with the action's status.

The token is a secret: it appears only in the one response to the POST that issued or
minted it (never in the session, a redirect or a URL), with ``Cache-Control: no-store``,
and is not shown again. A dispatch package is downloaded by a POST for the same reason
(it mints a fresh token into the zip and writes an audit row: not something a link or a
prefetch should do). Suspending, revoking and reinstating each have a confirmation page
that says what happens; it posts the status it showed, and the action refuses when the
license changed meanwhile (a page opened before someone else revoked the license does not
reinstate it).

The license page also lists the license's latest launches, from every course and
including refusals decided before any course was looked at (suspended, revoked, expired,
a website it does not allow); reading them is recorded as the API's ``/launches`` read
is. A course's full log, filtered and exported, is on the course's logs page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from coursewright.audit.actions import record_read
from coursewright.courses.models import Course
from coursewright.delivery import licenses as actions
from coursewright.delivery.dispatch import ALL_FORMATS, DispatchFormat, download_dispatch_package
from coursewright.delivery.gatekeeper import REASONS
from coursewright.delivery.models import (
    Channel,
    ChannelName,
    LaunchEvent,
    License,
    LicenseStatus,
)
from coursewright.errors import DomainError, Invalid
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import MANAGING_ROLES, Organisation
from coursewright.web.access import OrgRequest, org_view, web_actor

MAX_CAP = 2_000_000_000
MAX_REASON = 500
RECENT_LAUNCHES = 10
StatusChange = Literal["suspend", "revoke", "reinstate"]
FORMAT_LABELS = {"scorm12": "SCORM 1.2", "scorm2004": "SCORM 2004", "cmi5": "cmi5"}

# --- forms ----------------------------------------------------------------------------


def end_of_day(day: date) -> datetime:
    """An expiry date as the last second of that day, UTC (launches on it still work)."""
    return datetime.combine(day, time(23, 59, 59), UTC)


def _production_course_ids(org: Organisation) -> set[int]:
    return set(Channel.objects.filter(org=org, name=ChannelName.PRODUCTION)
               .values_list("course_id", flat=True))


class LicenseForm(forms.Form):
    """A license's settings. Shapes and early checks only: ``issue_license`` and
    ``update_license`` decide, and their refusals are put on the field they concern."""

    name = forms.CharField(
        label="Name", max_length=actions.MAX_NAME, strip=True,
        help_text="Which client LMS this is for, e.g. “Northwind Moodle”.")
    courses = forms.TypedMultipleChoiceField(
        label="Courses", coerce=int, widget=forms.CheckboxSelectMultiple,
        help_text="The courses the client LMS may launch.",
        error_messages={"required": "Choose at least one course."})
    expires_on = forms.DateField(
        label="Expires on", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Launches are refused after the end of this day (UTC). Leave it empty "
                  "for no expiry.")
    allowed_origins = forms.CharField(
        label="Allowed origins", required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false",
                                     "autocapitalize": "off",
                                     "placeholder": "https://lms.example.com"}),
        help_text="The client LMS's web address, one per line: scheme and host (and a "
                  "port if it has one), no path — e.g. https://lms.example.com. Launches "
                  "from any other website are refused. Leave it empty to allow any.")
    max_learners = forms.IntegerField(
        label="Most distinct learners", required=False, min_value=1, max_value=MAX_CAP,
        help_text="Leave it empty for no cap.")
    max_launches = forms.IntegerField(
        label="Most launches", required=False, min_value=1, max_value=MAX_CAP,
        help_text="Every launch counts, also a learner's second one. Empty: no cap.")

    # which field an action's refusal belongs to, by its code
    FIELD_OF_CODE = {"bad_name": "name", "bad_courses": "courses",
                     "bad_expiry": "expires_on", "bad_origin": "allowed_origins"}

    def __init__(self, *args: Any, org: Organisation, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        live = _production_course_ids(org)
        courses = sorted(Course.objects.filter(org=org), key=lambda c: (c.title.lower(), c.pk))
        field = self.fields["courses"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(c.pk, c.title if c.pk in live
                          else f"{c.title} (not in production yet)") for c in courses]

    @classmethod
    def for_license(cls, license: License) -> LicenseForm:
        expires = license.expires_at.astimezone(UTC).date() if license.expires_at else None
        return cls(org=license.org, prefix="edit", initial={
            "name": license.name,
            "courses": sorted(c.pk for c in license.courses.all()),
            "expires_on": expires,
            "allowed_origins": "\n".join(license.allowed_origins),
            "max_learners": license.max_learners, "max_launches": license.max_launches})

    def clean_allowed_origins(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data.get("allowed_origins", "")
                 .splitlines()]
        origins: list[str] = []
        problems: list[str] = []
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                origins.append(actions.normalise_origin(line))
            except Invalid as exc:
                problems.append(f"Line {number}: {exc.message}")
        if problems:
            raise forms.ValidationError(problems)
        origins = list(dict.fromkeys(origins))
        if len(origins) > actions.MAX_ORIGINS:
            raise forms.ValidationError(f"At most {actions.MAX_ORIGINS} origins.")
        return origins

    def show_refusal(self, exc: Invalid) -> None:
        field = self.FIELD_OF_CODE.get(exc.code)
        if exc.code == "bad_cap":
            field = "max_launches" if "max_launches" in exc.message else "max_learners"
        self.add_error(field, exc.message)


class StatusChangeForm(forms.Form):
    reason = forms.CharField(
        label="Reason (optional)", required=False, max_length=MAX_REASON, strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit log with the change.")
    # the status the confirmation page showed: the action refuses when it changed since
    # (a page opened before someone else revoked must not reinstate the license)
    seen = forms.ChoiceField(choices=LicenseStatus.choices, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class DispatchForm(forms.Form):
    course = forms.TypedChoiceField(coerce=int)
    format = forms.ChoiceField(choices=[(f, FORMAT_LABELS[f]) for f in ALL_FORMATS])

    def __init__(self, *args: Any, license: License, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["course"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(c.pk, str(c.pk)) for c in license.courses.all()]


# --- pages ----------------------------------------------------------------------------


@dataclass
class StatusAction:
    change: StatusChange
    label: str
    danger: bool

    @property
    def url_name(self) -> str:
        return f"web:license_{self.change}"


STATUS_ACTIONS: dict[str, list[StatusAction]] = {
    LicenseStatus.ACTIVE: [StatusAction("suspend", "Suspend…", False),
                           StatusAction("revoke", "Revoke…", True)],
    LicenseStatus.SUSPENDED: [StatusAction("reinstate", "Reinstate…", False),
                              StatusAction("revoke", "Revoke…", True)],
    LicenseStatus.REVOKED: [StatusAction("reinstate", "Reinstate…", False)],
}
@dataclass(frozen=True)
class Change:
    """What a status change does, the statuses it starts from, and how the pages say it."""

    action: Callable[..., License]
    allowed_from: frozenset[str]
    title: str
    past: str
    done: str


CHANGES: dict[StatusChange, Change] = {
    "suspend": Change(actions.suspend_license, frozenset({LicenseStatus.ACTIVE}),
                      "Suspend", "suspended",
                      "is suspended: its next launch is refused until you reinstate it."),
    "revoke": Change(actions.revoke_license,
                     frozenset({LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED}),
                     "Revoke", "revoked", "is revoked: its next launch is refused."),
    "reinstate": Change(actions.reinstate_license,
                        frozenset({LicenseStatus.SUSPENDED, LicenseStatus.REVOKED}),
                        "Reinstate", "reinstated",
                        "is active again: launches are allowed from the next one."),
}


def _license(request: OrgRequest, license_id: int) -> License:
    return get_scoped(License, request.principal, pk=license_id, org=request.org)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _list_page(request: OrgRequest, *, form: LicenseForm | None = None,
               status: int = 200) -> HttpResponse:
    found = (License.objects.filter(org=request.org).select_related("created_by")
             .prefetch_related("courses").order_by("-id"))
    return render(request, "web/licenses.html", {
        "licenses": found, "now": timezone.now(),
        "form": form or LicenseForm(org=request.org, prefix="issue"),
        "has_courses": Course.objects.filter(org=request.org).exists(),
    }, status=status)


def _detail_page(request: OrgRequest, license: License, *, form: LicenseForm | None = None,
                 token: str = "", just_issued: bool = False, error: str = "",
                 status: int = 200) -> HttpResponse:
    courses = sorted(license.courses.all(), key=lambda c: (c.title.lower(), c.pk))
    live = _production_course_ids(request.org)
    editable = license.status != LicenseStatus.REVOKED
    recent = list(LaunchEvent.objects.filter(org=request.org, license=license)
                  .select_related("course", "deployment__version")
                  .order_by("-id")[:RECENT_LAUNCHES])
    record_read(org=request.org, actor=web_actor(request), object_type="launch_events",
                object_id=license.pk, details={"filters": {}, "format": "page"})
    response = render(request, "web/license_detail.html", {
        "license": license, "now": timezone.now(),
        "courses": [(c, c.pk in live) for c in courses],
        "form": (form or LicenseForm.for_license(license)) if editable else None,
        "status_actions": STATUS_ACTIONS[license.status],
        "formats": [(f, FORMAT_LABELS[f]) for f in ALL_FORMATS],
        "token": token, "just_issued": just_issued, "error": error,
        "launches": [(e, REASONS.get(e.reason, "")) for e in recent],
    }, status=status)
    return _no_store(response) if token else response


@org_view(roles=MANAGING_ROLES)
@require_GET
def licenses_page(request: OrgRequest) -> HttpResponse:
    return _list_page(request)


@org_view(roles=MANAGING_ROLES)
@require_POST
def license_issue(request: OrgRequest) -> HttpResponse:
    form = LicenseForm(request.POST, org=request.org, prefix="issue")
    if not form.is_valid():
        return _list_page(request, form=form, status=422)
    data = form.cleaned_data
    try:
        license, token = actions.issue_license(
            request.org, name=data["name"], courses=data["courses"],
            expires_at=end_of_day(data["expires_on"]) if data["expires_on"] else None,
            allowed_origins=data["allowed_origins"], max_learners=data["max_learners"],
            max_launches=data["max_launches"], actor=web_actor(request))
    except Invalid as exc:
        form.show_refusal(exc)
        return _list_page(request, form=form, status=exc.status)
    # the token goes into this one answer only: never into the session or a redirect
    return _detail_page(request, license, token=token, just_issued=True, status=201)


@org_view(roles=MANAGING_ROLES)
@require_GET
def license_detail(request: OrgRequest, license_id: int) -> HttpResponse:
    return _detail_page(request, _license(request, license_id))


@org_view(roles=MANAGING_ROLES)
@require_POST
def license_edit(request: OrgRequest, license_id: int) -> HttpResponse:
    license = _license(request, license_id)
    if license.status == LicenseStatus.REVOKED:
        return _detail_page(request, license, status=409,
                            error="This license is revoked and can no longer be changed.")
    form = LicenseForm(request.POST, org=request.org, prefix="edit")
    if not form.is_valid():
        return _detail_page(request, license, form=form, status=422)
    data = form.cleaned_data
    changes: dict[str, Any] = {
        "name": data["name"], "courses": data["courses"],
        "allowed_origins": data["allowed_origins"],
        "max_learners": data["max_learners"], "max_launches": data["max_launches"]}
    old_day = license.expires_at.astimezone(UTC).date() if license.expires_at else None
    if data["expires_on"] != old_day:  # the same day keeps the exact time (the API's)
        changes["expires_at"] = end_of_day(data["expires_on"]) if data["expires_on"] else None
    try:
        actions.update_license(license, actor=web_actor(request), **changes)
    except DomainError as exc:  # bad values (422), or revoked meanwhile (409)
        if isinstance(exc, Invalid):
            form.show_refusal(exc)
        else:
            form.add_error(None, exc.message)
        return _detail_page(request, license, form=form, status=exc.status)
    messages.success(request, f"The license “{license.name}” is saved. The changes apply "
                              "from its next launch.")
    return redirect("web:license", request.org.slug, license.pk)


@org_view(roles=MANAGING_ROLES)
@require_http_methods(["GET", "POST"])
def license_status(request: OrgRequest, license_id: int, change: StatusChange) -> HttpResponse:
    license = _license(request, license_id)
    spec = CHANGES[change]
    if license.status not in spec.allowed_from:
        messages.info(request, f"The license “{license.name}” is {license.status}: it cannot "
                               f"be {spec.past} now.")
        return redirect("web:license", request.org.slug, license.pk)
    form = StatusChangeForm(request.POST if request.method == "POST" else None,
                            initial={"seen": license.status})
    status = 200
    if form.is_bound:
        if form.is_valid():
            license.status = form.cleaned_data["seen"]  # what the person decided on
            try:
                spec.action(license, actor=web_actor(request),
                            reason=form.cleaned_data["reason"])
            except DomainError as exc:  # changed meanwhile: show it as it is now
                messages.error(request, exc.message)
            else:
                messages.success(request, f"The license “{license.name}” {spec.done}")
            return redirect("web:license", request.org.slug, license.pk)
        status = 422
    return render(request, "web/license_confirm.html", {
        "license": license, "change": change, "title": spec.title, "form": form,
    }, status=status)


@org_view(roles=MANAGING_ROLES)
@require_POST
def license_token(request: OrgRequest, license_id: int) -> HttpResponse:
    license = _license(request, license_id)
    try:
        token = actions.license_token(license, actor=web_actor(request))
    except DomainError as exc:
        return _detail_page(request, license, error=exc.message, status=exc.status)
    return _detail_page(request, license, token=token)


@org_view(roles=MANAGING_ROLES)
@require_POST
def license_dispatch(request: OrgRequest, license_id: int) -> HttpResponse:
    license = _license(request, license_id)
    form = DispatchForm(request.POST, license=license)
    if not form.is_valid():
        return _detail_page(request, license, status=422,
                            error="Choose one of the license’s courses and a format "
                                  "(SCORM 1.2 or SCORM 2004).")
    fmt: DispatchFormat = "scorm12" if form.cleaned_data["format"] == "scorm12" else "scorm2004"
    try:
        data, name = download_dispatch_package(license, course_id=form.cleaned_data["course"],
                                               fmt=fmt, actor=web_actor(request))
    except DomainError as exc:
        return _detail_page(request, license, error=exc.message, status=exc.status)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return _no_store(response)


_BASE = "o/<slug:org_slug>/licenses/"
_ONE = f"{_BASE}<int:license_id>/"
patterns: list[URLPattern] = [
    path(_BASE, licenses_page, name="licenses"),
    path(f"{_BASE}issue/", license_issue, name="license_issue"),
    path(_ONE, license_detail, name="license"),
    path(f"{_ONE}edit/", license_edit, name="license_edit"),
    path(f"{_ONE}suspend/", license_status, {"change": "suspend"}, name="license_suspend"),
    path(f"{_ONE}revoke/", license_status, {"change": "revoke"}, name="license_revoke"),
    path(f"{_ONE}reinstate/", license_status, {"change": "reinstate"},
         name="license_reinstate"),
    path(f"{_ONE}token/", license_token, name="license_token"),
    path(f"{_ONE}dispatch/", license_dispatch, name="license_dispatch"),
]

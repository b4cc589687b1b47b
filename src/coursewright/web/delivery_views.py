"""The dashboard's deployment pages: a course's staging and production channels, deploying
an approved version to staging, promoting to production, rolling back, and the history
with its CSV and JSON exports.

Who sees what: every member of the organisation reads the page and may export the
history (an export writes an audit row: it carries the reasons). The controls follow
``delivery.deployments``' rule, asked through ``can_change`` so the page and the action
never disagree: owners, admins and authors deploy to and roll back staging; only owners
and admins promote to and roll back production. A POST checks the rule first (a 403 page,
not a form error, for someone who may not), then validates the form, calls one action,
and redirects with a message; a refusal (no reason, staging moved, someone else was
faster) comes back on the page in the error summary with its status.

Rolling back has its own confirmation page (``…/deployments/rollback/?to=<id>``): it shows
what the channel serves now and what it will serve, and asks for the reason. Someone
outside the organisation gets a 404 everywhere (``org_view``, then ``get_scoped``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from coursewright.courses.models import IMMUTABLE_STATES, Course, CourseVersion
from coursewright.delivery import deployments
from coursewright.delivery.deployments import MAX_REASON, PRODUCTION, STAGING
from coursewright.delivery.models import Deployment
from coursewright.errors import Conflict, Invalid
from coursewright.orgs.access import get_scoped
from coursewright.web.access import OrgRequest, org_view, web_actor

HISTORY_PAGE_SIZE = 50
REASON_CODES = {"reason_required", "reason_too_long"}
R = TypeVar("R", HttpResponse, StreamingHttpResponse)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=MAX_REASON, strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"Required. Say why, for whoever reads the history later (at most "
                  f"{MAX_REASON} characters). Kept encrypted with the deployment.",
        error_messages={"required": "Give a reason: it is kept in the deployment history.",
                        "max_length": f"Keep the reason to {MAX_REASON} characters or "
                                      "fewer."})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PromoteForm(ReasonForm):
    staging_deployment = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["prefix"] = "promote"
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = "Reason for promoting"


class RollbackForm(ReasonForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["prefix"] = "rollback"
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = "Reason for rolling back"


@dataclass
class HistoryRow:
    step: Deployment
    from_version: int | None
    can_roll_back: bool


def _course(request: OrgRequest, course_id: int) -> Course:
    return get_scoped(Course, request.principal, pk=course_id, org=request.org)


def _show_error(form: forms.Form, exc: Invalid | Conflict) -> None:
    form.add_error("reason" if exc.code in REASON_CODES else None, exc.message)


def _page(request: OrgRequest, course: Course, *, promote_form: PromoteForm | None = None,
          error: str = "", status: int = 200) -> HttpResponse:
    actor = web_actor(request)
    current = deployments.current_deployments(course)
    may: dict[str, bool] = {name: deployments.can_change(course, name, actor)
                            for name in deployments.CHANNELS}
    staged, live = current[STAGING], current[PRODUCTION]
    promotable = staged is not None and (live is None or live.version_id != staged.version_id)
    if may[PRODUCTION] and promotable:
        assert staged is not None
        if promote_form is None:
            promote_form = PromoteForm(initial={"staging_deployment": staged.pk})
        elif promote_form.is_bound:
            # the page shows what staging serves now, so a second try promotes that
            data = {key: promote_form.data[key] for key in promote_form.data}
            data[promote_form.add_prefix("staging_deployment")] = str(staged.pk)
            promote_form.data = data
    versions = list(course.versions.filter(state__in=IMMUTABLE_STATES).order_by("-number"))
    page = Paginator(deployments.history(course), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page"))
    rows = [HistoryRow(step=s,
                       from_version=s.previous.version.number if s.previous else None,
                       can_roll_back=may[s.channel]
                       and not deployments.is_current_version(s, current))
            for s in page.object_list]
    return render(request, "web/deployments.html", {
        "course": course, "staging": staged, "production": live,
        "may_staging": may[STAGING], "may_production": may[PRODUCTION],
        "promotable": promotable, "promote_form": promote_form if promotable else None,
        "versions": versions, "page": page,
        "deployable": [v for v in versions if staged is None or v.pk != staged.version_id],
        "rows": rows, "error": error,
    }, status=status)


@org_view()
@require_GET
def deployments_page(request: OrgRequest, course_id: int) -> HttpResponse:
    return _page(request, _course(request, course_id))


@org_view()
@require_POST
def deploy(request: OrgRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id)
    deployments.check_can_change(course, STAGING, web_actor(request))
    version = get_scoped(CourseVersion, request.principal, pk=request.POST.get("version"),
                         org=request.org, course=course)
    try:
        deployments.deploy_to_staging(version, actor=web_actor(request))
    except (Invalid, Conflict) as exc:
        return _page(request, course, error=exc.message, status=exc.status)
    messages.success(request, f"Version {version.number} is deployed to staging.")
    return redirect("web:deployments", request.org.slug, course.pk)


@org_view()
@require_POST
def promote(request: OrgRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id)
    actor = web_actor(request)
    deployments.check_can_change(course, PRODUCTION, actor)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        return _page(request, course, promote_form=form, status=422)
    expected = None
    if form.cleaned_data.get("staging_deployment") is not None:
        expected = get_scoped(Deployment, request.principal, org=request.org, course=course,
                              pk=form.cleaned_data["staging_deployment"])
    try:
        step = deployments.promote(course, actor=actor, reason=form.cleaned_data["reason"],
                                   expected_staging=expected)
    except (Invalid, Conflict) as exc:
        _show_error(form, exc)
        return _page(request, course, promote_form=form, status=exc.status)
    messages.success(request, f"Version {step.version.number} is promoted to production: "
                              "new launches get it from now on.")
    return redirect("web:deployments", request.org.slug, course.pk)


@org_view()
@require_http_methods(["GET", "POST"])
def rollback(request: OrgRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id)
    wanted = (request.POST if request.method == "POST" else request.GET).get("to", "")
    if not wanted.isdigit():
        messages.info(request, "Choose the deployment to roll back to in the history.")
        return redirect("web:deployments", request.org.slug, course.pk)
    target = get_scoped(Deployment, request.principal, pk=int(wanted), org=request.org,
                        course=course)
    actor = web_actor(request)
    deployments.check_can_change(course, target.channel, actor)
    form = RollbackForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                step = deployments.rollback(course, target.channel, target, actor=actor,
                                            reason=form.cleaned_data["reason"])
            except (Invalid, Conflict) as exc:
                _show_error(form, exc)
                status = exc.status
            else:
                messages.success(request, f"{step.get_channel_display()} is rolled back to "
                                          f"version {step.version.number}.")
                return redirect("web:deployments", request.org.slug, course.pk)
        else:
            status = 422
    current = deployments.current_deployments(course)
    return render(request, "web/deployments_rollback.html", {
        "course": course, "target": target, "form": form,
        "now": current[target.channel],
        "already_current": deployments.is_current_version(target, current),
    }, status=status)


# org_view is typed for HttpResponse; a streamed export is an HttpResponseBase
@org_view()  # type: ignore[arg-type]
@require_GET
def export_csv(request: OrgRequest, course_id: int) -> StreamingHttpResponse:
    course = _course(request, course_id)
    deployments.record_export(course, actor=web_actor(request), fmt="csv")
    records = deployments.history_records(deployments.history(course).iterator(chunk_size=500))
    response = StreamingHttpResponse(deployments.history_csv(records),
                                     content_type="text/csv; charset=utf-8")
    return _attachment(response, course, "csv")


@org_view()
@require_GET
def export_json(request: OrgRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id)
    deployments.record_export(course, actor=web_actor(request), fmt="json")
    records = deployments.history_records(deployments.history(course).iterator(chunk_size=500))
    response = HttpResponse(deployments.history_json(course, records),
                            content_type="application/json; charset=utf-8")
    return _attachment(response, course, "json")


def _attachment(response: R, course: Course, ext: str) -> R:
    response["Content-Disposition"] = (
        f'attachment; filename="{deployments.export_filename(course, ext)}"')
    response["Cache-Control"] = "no-store"
    return response


_BASE = "o/<slug:org_slug>/courses/<int:course_id>/deployments/"
patterns: list[URLPattern] = [
    path(_BASE, deployments_page, name="deployments"),
    path(f"{_BASE}deploy/", deploy, name="deployments_deploy"),
    path(f"{_BASE}promote/", promote, name="deployments_promote"),
    path(f"{_BASE}rollback/", rollback, name="deployments_rollback"),
    path(f"{_BASE}export.csv", export_csv, name="deployments_export_csv"),
    path(f"{_BASE}export.json", export_json, name="deployments_export_json"),
]

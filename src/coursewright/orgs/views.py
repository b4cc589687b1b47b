"""Organisation settings (members, invitations, API keys, two-factor policy) and the
public invitation page.

Every member may open the settings page; owners and admins see and use the controls.
Each POST handler is ``org_view(roles=MANAGING_ROLES)``, so anyone else gets a 403 and a
person outside the organisation a 404 (the same as for an organisation that does not
exist). A new API key's secret is put into the one response to the POST that made it —
never into the session or a redirect — and is gone on the next page load.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from coursewright.accounts.models import User
from coursewright.accounts.views import needs_second_factor, verify_url
from coursewright.errors import DomainError, NotFound
from coursewright.orgs import actions, member_actions
from coursewright.orgs.access import get_scoped
from coursewright.orgs.forms import ApiKeyForm, InvitationForm, JoinForm, RequireMfaForm, RoleForm
from coursewright.orgs.models import MANAGING_ROLES, ApiKey, Invitation, Membership, Role
from coursewright.web.access import OrgRequest, org_view, web_actor


def _back(request: OrgRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("web:org_settings", request.org.slug)


def _settings_page(request: OrgRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    org = request.org
    can_manage = request.role in MANAGING_ROLES
    members = list(Membership.objects.filter(org=org).select_related("user")
                   .order_by("user__email"))
    context: dict[str, Any] = {
        "can_manage": can_manage,
        "members": members,
        "owner_count": sum(1 for m in members if m.role == Role.OWNER),
        "roles": Role.choices,
        "is_owner": request.role == Role.OWNER,
    }
    if can_manage:
        context.update(
            invitations=Invitation.objects.filter(
                org=org, accepted_at__isnull=True, expires_at__gt=timezone.now(),
            ).select_related("invited_by").order_by("-created_at"),
            api_keys=ApiKey.objects.filter(org=org).select_related("created_by")
                                   .order_by("revoked_at", "-created_at"),
            invite_form=InvitationForm(),
            key_form=ApiKeyForm(),
            mfa_form=RequireMfaForm(initial={"require_mfa": org.require_mfa}),
        )
    context.update(extra)
    return render(request, "orgs/settings.html", context, status=status)


def _refused(request: OrgRequest, exc: DomainError) -> HttpResponse:
    messages.error(request, exc.message)
    return _settings_page(request, status=exc.status)


@org_view()
@require_GET
def org_settings(request: OrgRequest) -> HttpResponse:
    return _settings_page(request)


@org_view(roles=MANAGING_ROLES)
@require_POST
def member_role(request: OrgRequest, membership_id: int) -> HttpResponse:
    membership = get_scoped(Membership, request.principal, pk=membership_id, org=request.org)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return _settings_page(request, status=400)
    try:
        updated = member_actions.change_role(membership, form.cleaned_data["role"],
                                             actor=web_actor(request))
    except DomainError as exc:
        return _refused(request, exc)
    return _back(request, f"{updated.user.email} is now {updated.get_role_display().lower()}.")


@org_view(roles=MANAGING_ROLES)
@require_POST
def member_remove(request: OrgRequest, membership_id: int) -> HttpResponse:
    membership = get_scoped(Membership, request.principal, pk=membership_id, org=request.org)
    email = membership.user.email
    try:
        member_actions.remove_member(membership, actor=web_actor(request))
    except DomainError as exc:
        return _refused(request, exc)
    if membership.user_id == request.user.pk:
        messages.success(request, f"You have left {request.org.name}.")
        return redirect("/")
    return _back(request, f"{email} has been removed from {request.org.name}.")


@org_view(roles=MANAGING_ROLES)
@require_POST
def invite(request: OrgRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, invite_form=form, status=400)
    try:
        invitation = member_actions.invite_member(
            request.org, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
            actor=web_actor(request))
    except DomainError as exc:
        form.add_error("email", exc.message)
        return _settings_page(request, invite_form=form, status=exc.status)
    return _back(request, f"Invitation sent to {invitation.email}.")


@org_view(roles=MANAGING_ROLES)
@require_POST
def api_key_create(request: OrgRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, key_form=form, status=400)
    try:
        key, secret = actions.create_api_key(request.org, name=form.cleaned_data["name"],
                                             actor=web_actor(request))
    except DomainError as exc:
        form.add_error("name", exc.message)
        return _settings_page(request, key_form=form, status=exc.status)
    return _settings_page(request, new_key=key, new_secret=secret, status=201)


@org_view(roles=MANAGING_ROLES)
@require_POST
def api_key_revoke(request: OrgRequest, key_id: int) -> HttpResponse:
    key = get_scoped(ApiKey, request.principal, pk=key_id, org=request.org)
    try:
        actions.revoke_api_key(key, actor=web_actor(request))
    except DomainError as exc:
        return _refused(request, exc)
    return _back(request, f"The key “{key.name}” is revoked; requests using it are refused.")


@org_view(roles=MANAGING_ROLES)
@require_POST
def require_mfa(request: OrgRequest) -> HttpResponse:
    form = RequireMfaForm(request.POST)
    if not form.is_valid():  # pragma: no cover - a checkbox is always valid
        return _settings_page(request, status=400)
    required = bool(form.cleaned_data["require_mfa"])
    actions.set_require_mfa(request.org, required, actor=web_actor(request))
    return _back(request, "Two-factor sign-in is now required for every member."
                 if required else "Two-factor sign-in is now optional.")


# The invitation link: /invite/<token>/ (no organisation in the path: the token is it).

def _invalid_invitation(request: HttpRequest) -> HttpResponse:
    return render(request, "orgs/invitation_invalid.html", status=404)


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        found = actions.find_invitation(token)
    except NotFound:
        return _invalid_invitation(request)
    if not request.user.is_authenticated:
        return _invitation_new_person(request, token, found)
    if needs_second_factor(request):
        return redirect(verify_url(request.path))
    return _invitation_signed_in(request, token, found)


def _invitation_signed_in(request: HttpRequest, token: str, found: Invitation) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    if request.method == "POST":
        try:
            membership = actions.accept_invitation(token, user=user)
        except NotFound:
            return _invalid_invitation(request)
        messages.success(request, f"You have joined {membership.org.name}.")
        return redirect("web:dashboard", membership.org.slug)
    matches = user.email.lower() == found.email
    return render(request, "orgs/invitation.html", {"invitation": found, "matches": matches},
                  status=200 if matches else 403)


def _invitation_new_person(request: HttpRequest, token: str, found: Invitation) -> HttpResponse:
    if User.objects.filter(email__iexact=found.email).exists():
        login_url = f"{reverse('web:login')}?next={request.path}"
        return render(request, "orgs/invitation.html",
                      {"invitation": found, "sign_in_url": login_url})
    form = JoinForm(found.email, data=request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            membership = member_actions.join_with_new_account(
                token, password=form.cleaned_data["password1"],
                display_name=form.cleaned_data["display_name"])
        except NotFound:
            return _invalid_invitation(request)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            auth_login(request, membership.user)
            messages.success(request, f"Welcome to {membership.org.name}.")
            return redirect("web:dashboard", membership.org.slug)
    return render(request, "orgs/invitation.html",
                  {"invitation": found, "form": form},
                  status=400 if form.is_bound else 200)



@org_view(roles={Role.OWNER})
@require_POST
def delete_organisation_view(request: OrgRequest) -> HttpResponse:
    from django.contrib.auth import logout

    from coursewright.privacy.deletion import delete_organisation

    try:
        receipt = delete_organisation(request.org, actor=web_actor(request),
                                      confirm=request.POST.get("confirm", "").strip(),
                                      reason=request.POST.get("reason", "")[:500])
    except DomainError as exc:
        return _refused(request, exc)
    if not User.objects.filter(pk=request.user.pk).exists():
        logout(request)  # the account belonged only to the deleted organisation
    return render(request, "orgs/deleted.html", {"receipt": receipt.as_json()})

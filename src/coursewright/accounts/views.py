"""Sign-in, two-factor, password and account pages.

Sign-in is two steps for a person with a confirmed TOTP device: the password starts the
(rotated) session, then ``/mfa/verify/`` marks it verified with ``django_otp.login``.
Until then the session is only good for the verify page and signing out: every org page
(``web.access.org_view``), the API (``accounts.mfa.mfa_satisfied``) and the account pages
here (``second_factor_passed``) send it back to the verify step. ``next`` is followed only
when it is a path on this site.
"""

from __future__ import annotations

from base64 import b32encode
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote, urlencode

import django_otp
import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from coursewright.accounts import actions
from coursewright.accounts.forms import (
    ChangePasswordForm,
    ConfirmDeviceForm,
    LoginForm,
    RemoveDeviceForm,
    ResetPasswordForm,
    VerifyTokenForm,
)
from coursewright.accounts.models import User
from coursewright.audit.actor import Actor
from coursewright.errors import DomainError
from coursewright.orgs.models import Membership

View = Callable[..., HttpResponse]
ISSUER = "coursewright"


def safe_next(request: HttpRequest, default: str = "/") -> str:
    """The ``next`` parameter if it is a local path (not ``//host`` or ``https://…``)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if (candidate.startswith("/") and not candidate.startswith(("//", "/\\"))
            and url_has_allowed_host_and_scheme(candidate, allowed_hosts=None)):
        return candidate
    return default


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def needs_second_factor(request: HttpRequest) -> bool:
    user = request.user
    # OTPMiddleware gives every request.user an is_verified() method.
    return bool(user.is_authenticated and user_has_device(user, confirmed=True)
                and not user.is_verified())  # type: ignore[attr-defined]


def verify_url(next_url: str) -> str:
    return f"{reverse('web:mfa_verify')}?{urlencode({'next': next_url})}"


def second_factor_passed(view: View) -> View:
    """Signed in, and past the verify step if the person has a device."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if needs_second_factor(request):
            return redirect(verify_url(request.get_full_path()))
        return view(request, *args, **kwargs)

    return wrapper


# Sign-in and sign-out

@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request)
    if request.method == "POST":
        form = LoginForm(request, data=request.POST)
        if form.is_valid():
            assert form.user is not None
            auth_login(request, form.user)  # rotates the session key
            if user_has_device(form.user, confirmed=True):
                return redirect(verify_url(next_url))
            return HttpResponseRedirect(next_url)
        status = 429 if form.blocked else 400
    else:
        if request.user.is_authenticated:
            return HttpResponseRedirect(next_url)
        form = LoginForm(request)
        status = 200
    return render(request, "accounts/login.html", {"form": form, "next": next_url},
                  status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    messages.info(request, "You have signed out.")
    return redirect("web:login")


# Two-factor

@login_required
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    next_url = safe_next(request)
    if not needs_second_factor(request):  # no device, or this session passed already
        return HttpResponseRedirect(next_url)
    status = 200
    if request.method == "POST":
        form = VerifyTokenForm(user, data=request.POST)
        if form.is_valid():
            django_otp.login(request, form.device)
            request.session.cycle_key()  # new privileges, new session key
            return HttpResponseRedirect(next_url)
        status = 429 if form.throttled else 400
    else:
        form = VerifyTokenForm(user)
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": next_url},
                  status=status)


@second_factor_passed
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    next_url = safe_next(request, default=reverse("web:account"))
    if user_has_device(user, confirmed=True):
        messages.info(request, "Two-factor sign-in is already on.")
        return redirect("web:account")
    status = 200
    form = ConfirmDeviceForm(data=request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            device = actions.confirm_totp_device(user, form.cleaned_data["token"],
                                                 actor=Actor.person(user))
        except DomainError as exc:
            form.add_error("token", exc.message)
            status = 429 if exc.code == "throttled" else 400
        else:
            django_otp.login(request, device)
            request.session.cycle_key()
            messages.success(request, "Two-factor sign-in is on. You will be asked for a "
                                      "code each time you sign in.")
            return HttpResponseRedirect(next_url)
    elif form.is_bound:
        status = 400
    device = actions.start_totp_setup(user)
    return render(request, "accounts/mfa_setup.html", {
        "form": form, "next": next_url, "qr_data_uri": _qr_data_uri(device, user),
        "secret": _grouped_secret(device), "required": _orgs_requiring_mfa(user),
    }, status=status)


@second_factor_passed
@require_POST
def mfa_remove(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = RemoveDeviceForm(user, request, data=request.POST)
    if not form.is_valid():
        return _account_page(request, remove_form=form, status=400)
    try:
        actions.remove_totp_devices(user, actor=Actor.person(user))
    except DomainError as exc:
        messages.error(request, exc.message)
        return _account_page(request, status=exc.status)
    messages.success(request, "Two-factor sign-in is off.")
    return redirect("web:account")


def provisioning_uri(device: TOTPDevice, user: User) -> str:
    """The otpauth:// URI with our issuer, so apps list the entry as "coursewright"."""
    params = urlencode({
        "secret": b32encode(device.bin_key).decode().rstrip("="),
        "issuer": ISSUER, "algorithm": "SHA1", "digits": device.digits,
        "period": device.step,
    })
    return f"otpauth://totp/{quote(f'{ISSUER}:{user.email}')}?{params}"


def _qr_data_uri(device: TOTPDevice, user: User) -> str:
    qr = segno.make(provisioning_uri(device, user), error="m")
    return str(qr.svg_data_uri(scale=5, border=2, dark="#1b1f24", light="#ffffff"))


def _grouped_secret(device: TOTPDevice) -> str:
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _orgs_requiring_mfa(user: User) -> list[str]:
    return list(Membership.objects.filter(user=user, org__require_mfa=True)
                .order_by("org__name").values_list("org__name", flat=True))


# Account

def _account_page(request: HttpRequest, *, password_form: ChangePasswordForm | None = None,
                  remove_form: RemoveDeviceForm | None = None, status: int = 200) -> HttpResponse:
    user = _user(request)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
    return render(request, "accounts/account.html", {
        "password_form": password_form or ChangePasswordForm(user, request),
        "remove_form": remove_form or RemoveDeviceForm(user, request),
        "device": device,
        "required": _orgs_requiring_mfa(user),
        "memberships": Membership.objects.filter(user=user).select_related("org")
                                         .order_by("org__name"),
    }, status=status)


@second_factor_passed
@require_http_methods(["GET"])
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


@second_factor_passed
@require_POST
def account_password(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ChangePasswordForm(user, request, data=request.POST)
    if not form.is_valid():
        return _account_page(request, password_form=form, status=400)
    form.save()
    update_session_auth_hash(request, user)  # keep this session, end all the others
    messages.success(request, "Your password has been changed.")
    return redirect("web:account")


# Password reset: Django's views and token generator, our templates and audited save.

class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("web:password_reset_done")

    def get_extra_email_context(self) -> dict[str, Any]:
        return {"base_url": settings.BASE_URL}

    def form_valid(self, form: Any) -> HttpResponse:
        # The link in the mail is built from the configured base URL, never from the
        # request's Host header.
        self.extra_email_context = self.get_extra_email_context()
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    form_class = ResetPasswordForm
    success_url = reverse_lazy("web:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"

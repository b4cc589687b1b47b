"""Forms for signing in and for a person's own account.

Every password check here is throttled the same way as sign-in (accounts.throttle): a
stolen session must not become a way to guess the password behind it.
"""

from __future__ import annotations

from typing import Any

import django_otp
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.core.validators import RegexValidator
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from coursewright.accounts.actions import change_password
from coursewright.accounts.models import User
from coursewright.accounts.throttle import (
    clear_login_failures,
    client_ip,
    login_blocked,
    record_login_failure,
)
from coursewright.audit.actor import Actor

# One message for an unknown address, a wrong password and a disabled account alike.
WRONG_CREDENTIALS = "The email address or password is not correct."
WRONG_PASSWORD = "That password is not correct."  # noqa: S105 - a message, not a secret


def blocked_message() -> str:
    minutes = max(1, settings.LOGIN_WINDOW_SECONDS // 60)
    return (f"Too many failed sign-in attempts. Wait up to {minutes} minutes (or reset your "
            "password), then try again.")


class LoginForm(forms.Form):
    email = forms.CharField(
        label="Email address", max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(
        label="Password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User | None = None
        self.blocked = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        email = str(cleaned.get("email", "")).strip().lower()
        password = cleaned.get("password")
        if not email or password is None:
            return cleaned
        ip = client_ip(self.request.META)
        if login_blocked(email, ip):
            # Refused before the password is looked at: guessing gains nothing.
            self.blocked = True
            raise forms.ValidationError(blocked_message(), code="blocked")
        user = authenticate(self.request, username=email, password=password)
        if user is None:
            record_login_failure(email, ip)
            raise forms.ValidationError(WRONG_CREDENTIALS, code="invalid_login")
        clear_login_failures(email, ip)
        assert isinstance(user, User)
        self.user = user
        return cleaned


def _token_field() -> forms.CharField:
    return forms.CharField(
        label="Six-digit code", max_length=8, min_length=6,
        validators=[RegexValidator(r"^[0-9]{6,8}$", "Enter the digits shown in your app.")],
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True, "size": 8}))


class VerifyTokenForm(forms.Form):
    """The second step of sign-in: a code from the person's confirmed device."""

    token = _token_field()

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.device: TOTPDevice | None = None
        self.throttled = False

    def clean_token(self) -> str:
        token = str(self.cleaned_data["token"])
        device = (TOTPDevice.objects.filter(user=self.user, confirmed=True)
                  .order_by("id").first())
        if device is None:
            raise forms.ValidationError("Two-factor sign-in is not set up.")
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            self.throttled = True
            raise forms.ValidationError(
                "Too many wrong codes. Wait a few seconds, then enter the newest code.",
                code="throttled")
        verified = django_otp.verify_token(self.user, device.persistent_id, token)
        if verified is None:
            raise forms.ValidationError(
                "That code is not correct. Enter the newest code from your app.",
                code="wrong_code")
        self.device = verified
        return token


class ConfirmDeviceForm(forms.Form):
    token = _token_field()


class _ThrottledPasswordCheck:
    """Checks the signed-in person's own password, counting failures like sign-in."""

    def _check(self, user: User, request: HttpRequest, password: str) -> None:
        ip = client_ip(request.META)
        if login_blocked(user.email, ip):
            raise forms.ValidationError(blocked_message(), code="blocked")
        if not user.check_password(password):
            record_login_failure(user.email, ip)
            raise forms.ValidationError(WRONG_PASSWORD, code="password_incorrect")


class RemoveDeviceForm(_ThrottledPasswordCheck, forms.Form):
    password = forms.CharField(
        label="Your password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, user: User, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.request = request

    def clean_password(self) -> str:
        password = str(self.cleaned_data["password"])
        self._check(self.user, self.request, password)
        return password


class ChangePasswordForm(_ThrottledPasswordCheck, PasswordChangeForm):
    """Django's form (old password, new twice, the configured validators), with the old
    password check throttled and saving done by the audited action."""

    user: User

    def __init__(self, user: User, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request
        self.fields["old_password"].label = "Current password"
        self.fields["old_password"].widget.attrs.pop("autofocus", None)

    def clean_old_password(self) -> str:
        password = str(self.cleaned_data["old_password"])
        self._check(self.user, self.request, password)
        return password

    def save(self, commit: bool = True) -> User:
        change_password(self.user, self.cleaned_data["new_password1"],
                        actor=Actor.person(self.user), via="account")
        return self.user


class ResetPasswordForm(SetPasswordForm):  # type: ignore[type-arg]
    """The last step of a password reset: the new password, saved by the audited action."""

    def save(self, commit: bool = True) -> Any:
        user = self.user
        assert isinstance(user, User)
        change_password(user, self.cleaned_data["new_password1"], actor=Actor.person(user),
                        via="reset")
        return user

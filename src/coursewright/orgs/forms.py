from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation

from coursewright.accounts.models import User
from coursewright.orgs.models import Role


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.AUTHOR)

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Key name", max_length=100,
                           help_text="Say where it is used, for example “LMS sync”.")


class RequireMfaForm(forms.Form):
    require_mfa = forms.BooleanField(
        label="Require two-factor sign-in for every member", required=False,
        help_text="Members without an authenticator app are asked to set one up before "
                  "they can open anything in this organisation.")


class JoinForm(forms.Form):
    """A new account for the invited address, with the configured password validators."""

    display_name = forms.CharField(label="Your name", max_length=150, required=False,
                                   widget=forms.TextInput(attrs={"autocomplete": "name"}))
    password1 = forms.CharField(
        label="Choose a password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label="Password again", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, email: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email
        self.fields["password1"].help_text = (
            password_validation.password_validators_help_text_html())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords are not the same.")
        elif password1:
            candidate = User(email=self.email, display_name=cleaned.get("display_name", ""))
            try:
                password_validation.validate_password(password1, user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned

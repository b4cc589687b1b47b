"""Two-factor rules. A person who has a confirmed TOTP device must pass it at every
sign-in; a member of an organisation that requires two-factor must set a device up
before anything else works (dashboard pages redirect to setup, the API refuses the
session)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django_otp import user_has_device

from coursewright.orgs.models import Membership


def mfa_required_by_org(user: Any) -> bool:
    return bool(Membership.objects.filter(user=user, org__require_mfa=True).exists())


def mfa_satisfied(request: HttpRequest) -> bool:
    user = request.user
    if not user.is_authenticated:
        return False
    if user_has_device(user, confirmed=True):
        return bool(user.is_verified())  # type: ignore[attr-defined]
    return not mfa_required_by_org(user)

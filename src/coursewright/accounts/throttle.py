"""Sign-in throttling: after LOGIN_MAX_FAILURES failures within LOGIN_WINDOW_SECONDS for
one account, or from one client address, further attempts are refused without checking
the password (so guessing costs the attacker time, not us CPU). Stored in the database so
every server process and the job consumer share one count."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from coursewright.accounts.models import LoginFailure


def _window_start() -> datetime:
    return timezone.now() - timedelta(seconds=settings.LOGIN_WINDOW_SECONDS)


def login_blocked(email: str, ip: str) -> bool:
    recent = LoginFailure.objects.filter(created_at__gte=_window_start())
    by_account = recent.filter(email=email.strip().lower()).count()
    by_ip = recent.filter(ip=ip).count()
    limit = settings.LOGIN_MAX_FAILURES
    # An address gets more room than an account: offices share addresses.
    return by_account >= limit or by_ip >= limit * 4


def record_login_failure(email: str, ip: str) -> None:
    LoginFailure.objects.create(email=email.strip().lower()[:254], ip=ip[:64])
    LoginFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()


def clear_login_failures(email: str, ip: str) -> None:
    """Forget this account's failures after a successful sign-in. Failures counted
    against the address stay: signing in to one's own account must not reset the
    count an attacker built up guessing someone else's password from that address."""
    LoginFailure.objects.filter(email=email.strip().lower()).delete()


def client_ip(meta: dict[str, str]) -> str:
    return meta.get("REMOTE_ADDR", "") or "unknown"

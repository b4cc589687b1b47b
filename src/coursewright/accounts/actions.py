"""State changes for a person's own account: password and two-factor device.

Each writes an audit row with ``org=None``: these belong to the person, not to any one
organisation. A TOTP device starts unconfirmed (its secret is on the setup page as a QR
code until then) and only counts once a code from the authenticator app has been checked
against it, so a half-finished setup never locks anyone out; starting one is not audited,
since a pending device grants nothing. Code checks go through django-otp's per-device
throttling (1, 2, 4, 8 ... seconds after successive failures).
"""

from __future__ import annotations

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from coursewright.accounts.mfa import mfa_required_by_org
from coursewright.accounts.models import User
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.errors import Conflict, Forbidden, Invalid

DEVICE_NAME = "Authenticator app"


def change_password(user: User, new_password: str, *, actor: Actor, via: str) -> None:
    """``via`` says how: "account" (knew the old one) or "reset" (proved the mailbox)."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        record_event(org=None, actor=actor, action="account.password_changed",
                     object_type="user", object_id=user.pk, after={"via": via})


def start_totp_setup(user: User) -> TOTPDevice:
    """The person's pending (unconfirmed) device, made if there is none yet; reloading
    the setup page keeps showing the same secret instead of invalidating the scanned one."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise Conflict("Two-factor sign-in is already set up.")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def confirm_totp_device(user: User, token: str, *, actor: Actor) -> TOTPDevice:
    """Check ``token`` against the pending device; on success it becomes the person's
    second factor and any other pending devices are dropped."""
    with transaction.atomic():
        device = (TOTPDevice.objects.select_for_update()
                  .filter(user=user, confirmed=False).order_by("id").first())
        if device is None:
            raise Conflict("There is no two-factor setup in progress. Start again.")
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            raise Invalid("Too many wrong codes. Wait a few seconds, then try again.",
                          code="throttled")
        # A wrong code must still commit the throttle counter, so the refusal is raised
        # only after the transaction has closed.
        verified = bool(device.verify_token(token))
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            record_event(org=None, actor=actor, action="account.mfa_device_confirmed",
                         object_type="user", object_id=user.pk,
                         after={"device": device.name})
    if not verified:
        raise Invalid("That code is not correct. Check the time on your phone and enter "
                      "the newest code.", code="wrong_code")
    return device


def remove_totp_devices(user: User, *, actor: Actor) -> None:
    """The caller has re-checked the password. Refused while any of the person's
    organisations requires two-factor: they would be locked out of it at once."""
    if mfa_required_by_org(user):
        raise Forbidden("An organisation you belong to requires two-factor sign-in, so it "
                        "cannot be turned off.", code="mfa_required")
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        if not removed:
            raise Conflict("Two-factor sign-in is not set up.")
        record_event(org=None, actor=actor, action="account.mfa_device_removed",
                     object_type="user", object_id=user.pk, before={"mfa": True},
                     after={"mfa": False})

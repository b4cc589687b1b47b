"""State changes for organisations, memberships, invitations and API keys.

API keys: ``cw_<prefix>_<secret>``; only SHA-256 of the whole key is stored (a fast
hash is right here: the secret has 256 bits of entropy, so there is nothing to
brute-force, and every API call must verify cheaply). The key is shown once.
Invitation tokens are handled the same way.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from coursewright.accounts.models import User
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.errors import Conflict, Invalid, NotFound
from coursewright.orgs.models import ApiKey, Invitation, Membership, Organisation, Region, Role
from coursewright.privacy.keys import keyring

INVITATION_DAYS = 7


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_organisation(*, name: str, region: str, owner: User, actor: Actor,
                        slug: str | None = None) -> Organisation:
    if region not in Region.values:
        raise Invalid(f"region must be one of {', '.join(Region.values)}")
    slug = slug or slugify(name)[:60]
    if not slug:
        raise Invalid("the organisation needs a name with letters or digits")
    with transaction.atomic():
        if Organisation.objects.filter(slug=slug).exists():
            raise Conflict(f"an organisation with the slug {slug!r} already exists")
        org = Organisation.objects.create(name=name, slug=slug, region=region)
        keyring().create(str(org.key_id))
        Membership.objects.create(org=org, user=owner, role=Role.OWNER)
        record_event(org=org, actor=actor, action="org.created", object_type="organisation",
                     object_id=org.pk, after={"name": name, "slug": slug, "region": region,
                                              "owner": owner.email})
    return org


def add_member(org: Organisation, user: User, role: str, *, actor: Actor) -> Membership:
    if role not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}")
    with transaction.atomic():
        try:
            membership = Membership.objects.create(org=org, user=user, role=role)
        except IntegrityError:
            raise Conflict(f"{user.email} is already a member") from None
        record_event(org=org, actor=actor, action="membership.created", object_type="membership",
                     object_id=membership.pk, after={"user": user.email, "role": role})
    return membership


def set_require_mfa(org: Organisation, required: bool, *, actor: Actor) -> None:
    with transaction.atomic():
        before = org.require_mfa
        org.require_mfa = required
        org.save(update_fields=["require_mfa"])
        record_event(org=org, actor=actor, action="org.mfa_policy_changed",
                     object_type="organisation", object_id=org.pk,
                     before={"require_mfa": before}, after={"require_mfa": required})


def create_invitation(org: Organisation, *, email: str, role: str,
                      actor: Actor) -> tuple[Invitation, str]:
    """Returns the invitation and its one-time token (only its hash is stored)."""
    if role not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}")
    email = email.strip().lower()
    if Membership.objects.filter(org=org, user__email=email).exists():
        raise Conflict(f"{email} is already a member")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            org=org, email=email, role=role, token_hash=_sha256(token),
            invited_by=actor.user,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
        record_event(org=org, actor=actor, action="invitation.created", object_type="invitation",
                     object_id=invitation.pk, after={"email": email, "role": role})
    return invitation, token


def find_invitation(token: str) -> Invitation:
    invitation = (Invitation.objects.select_related("org")
                  .filter(token_hash=_sha256(token), accepted_at__isnull=True,
                          expires_at__gt=timezone.now()).first())
    if invitation is None:
        raise NotFound("This invitation is invalid, used or expired.")
    return invitation


def accept_invitation(token: str, *, user: User) -> Membership:
    with transaction.atomic():
        invitation = find_invitation(token)
        if invitation.email != user.email.lower():
            raise NotFound("This invitation is invalid, used or expired.")
        claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
            accepted_at=timezone.now())
        if not claimed:
            raise NotFound("This invitation is invalid, used or expired.")
        membership, _ = Membership.objects.get_or_create(
            org=invitation.org, user=user, defaults={"role": invitation.role})
        record_event(org=invitation.org, actor=Actor.person(user),
                     action="invitation.accepted", object_type="invitation",
                     object_id=invitation.pk, after={"email": user.email,
                                                     "role": membership.role})
    return membership


def create_api_key(org: Organisation, *, name: str, actor: Actor) -> tuple[ApiKey, str]:
    """Returns the key row and the secret, which is never shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("give the key a name of 1 to 100 characters")
    prefix = secrets.token_hex(4)
    secret = f"cw_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(org=org, name=name, prefix=prefix,
                                    secret_hash=_sha256(secret), created_by=actor.user)
        record_event(org=org, actor=actor, action="api_key.created", object_type="api_key",
                     object_id=key.pk, after={"name": name, "prefix": prefix})
    return key, secret


def revoke_api_key(key: ApiKey, *, actor: Actor) -> None:
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now())
        if not updated:
            raise Conflict("this key is already revoked")
        record_event(org=key.org, actor=actor, action="api_key.revoked", object_type="api_key",
                     object_id=key.pk, before={"revoked": False}, after={"revoked": True})


def authenticate_api_key(secret: str) -> ApiKey | None:
    if not secret.startswith("cw_") or len(secret) > 200:
        return None
    key = (ApiKey.objects.select_related("org")
           .filter(secret_hash=_sha256(secret), revoked_at__isnull=True).first())
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key

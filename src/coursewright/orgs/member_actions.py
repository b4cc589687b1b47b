"""Membership changes made from organisation settings, and joining by invitation.

Guarantees: an organisation always keeps at least one owner (the owner count is read
under a row lock in the same transaction as the change, so two admins demoting the last
two owners at once cannot both succeed); only an owner grants, takes away or removes the
owner role; every change writes an audit row with the role before and after.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse

from coursewright.accounts.models import User
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.errors import Conflict, Forbidden, Invalid
from coursewright.orgs.actions import (
    INVITATION_DAYS,
    accept_invitation,
    create_invitation,
    find_invitation,
)
from coursewright.orgs.models import Invitation, Membership, Organisation, Role


def _acting_role(org: Organisation, actor: Actor) -> str | None:
    if actor.user is None:
        return None
    return (Membership.objects.filter(org=org, user=actor.user)
            .values_list("role", flat=True).first())


def _check_owner_rule(membership: Membership, new_role: str | None, actor: Actor) -> None:
    touches_owner = membership.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner and _acting_role(membership.org, actor) != Role.OWNER:
        raise Forbidden("Only an owner can give or take away the owner role.",
                        code="owner_required")
    if membership.role == Role.OWNER and new_role != Role.OWNER:
        owners = list(Membership.objects.select_for_update()
                      .filter(org=membership.org, role=Role.OWNER).values_list("pk", flat=True))
        if owners == [membership.pk]:
            raise Conflict("An organisation must keep at least one owner. Make someone "
                           "else an owner first.", code="last_owner")


def change_role(membership: Membership, role: str, *, actor: Actor) -> Membership:
    if role not in Role.values:
        raise Invalid(f"role must be one of {', '.join(Role.values)}")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("org", "user").get(
            pk=membership.pk)
        before = membership.role
        if before == role:
            return membership
        _check_owner_rule(membership, role, actor)
        membership.role = role
        membership.save(update_fields=["role"])
        record_event(org=membership.org, actor=actor, action="membership.role_changed",
                     object_type="membership", object_id=membership.pk,
                     before={"user": membership.user.email, "role": before},
                     after={"user": membership.user.email, "role": role})
    return membership


def remove_member(membership: Membership, *, actor: Actor) -> None:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("org", "user").get(
            pk=membership.pk)
        _check_owner_rule(membership, None, actor)
        pk, email, role = membership.pk, membership.user.email, membership.role
        membership.delete()
        record_event(org=membership.org, actor=actor, action="membership.removed",
                     object_type="membership", object_id=pk,
                     before={"user": email, "role": role}, after={})


def invite_member(org: Organisation, *, email: str, role: str, actor: Actor) -> Invitation:
    """Create the invitation, then mail its one-time link (the token is not stored, so
    this mail is the only place it ever exists)."""
    invitation, token = create_invitation(org, email=email, role=role, actor=actor)
    link = settings.BASE_URL + reverse("web:invitation", args=[token])
    context = {"org": org, "invitation": invitation, "link": link, "inviter": actor.label,
               "days": INVITATION_DAYS}
    send_mail(
        # A header must be one line, whatever the organisation is called.
        subject=" ".join(render_to_string("orgs/invitation_subject.txt", context).split()),
        message=render_to_string("orgs/invitation_email.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
    return invitation


def join_with_new_account(token: str, *, password: str, display_name: str) -> Membership:
    """A person without an account accepts an invitation: the account is made for the
    invited address (so owning the mailbox is proven by holding the link) and joins."""
    with transaction.atomic():
        invitation = find_invitation(token)
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise Conflict("An account with this email address already exists. Sign in "
                           "to accept the invitation.", code="account_exists")
        try:
            user = User.objects.create_user(invitation.email, password,
                                            display_name=display_name.strip()[:150])
        except IntegrityError:
            raise Conflict("An account with this email address already exists.") from None
        record_event(org=invitation.org, actor=Actor.person(user), action="account.created",
                     object_type="user", object_id=user.pk,
                     after={"email": user.email, "via": "invitation"})
        return accept_invitation(token, user=user)


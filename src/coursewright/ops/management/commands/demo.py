"""Create the demo organisation ``demo`` and its three people. Idempotent: the
passwords are made once, kept in the state directory (mode 0600) and printed again."""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from coursewright.accounts.models import User
from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.orgs import actions
from coursewright.orgs.models import Membership, Organisation

PEOPLE = (("owner@demo.local", "owner", "Olivia Owner"),
          ("author@demo.local", "author", "Arthur Author"),
          ("reviewer@demo.local", "reviewer", "Rhea Reviewer"))


def _passwords() -> dict[str, str]:
    path = settings.VAR_DIR / "demo-credentials.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return stored
    passwords = {email: secrets.token_urlsafe(12) for email, _, _ in PEOPLE}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(passwords, handle)
    return passwords


class Command(BaseCommand):
    help = "Create the demo organisation (slug 'demo') with an owner, an author and a reviewer."

    def handle(self, *args: Any, **options: Any) -> None:
        passwords = _passwords()
        actor = Actor.system(Channel.CLI)
        with transaction.atomic():
            users = {}
            for email, _role, name in PEOPLE:
                user = User.objects.filter(email=email).first()
                if user is None:
                    user = User.objects.create_user(email, passwords[email], display_name=name)
                elif not user.check_password(passwords[email]):
                    user.set_password(passwords[email])
                    user.save(update_fields=["password"])
                users[email] = user
            org = Organisation.objects.filter(slug="demo").first()
            if org is None:
                org = actions.create_organisation(name="Demo Training Co", slug="demo",
                                                  region="eu", owner=users[PEOPLE[0][0]],
                                                  actor=actor)
            for email, role, _ in PEOPLE[1:]:
                if not Membership.objects.filter(org=org, user=users[email]).exists():
                    actions.add_member(org, users[email], role, actor=actor)
        self.stdout.write(
            f"Demo organisation 'demo' is ready. Sign in at {settings.BASE_URL}/login/")
        for email, role, _ in PEOPLE:
            self.stdout.write(f"  {role:<9} {email:<22} password: {passwords[email]}")

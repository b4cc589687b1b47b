from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models


class Region(models.TextChoices):
    EU = "eu", "European Union"
    UK = "uk", "United Kingdom"
    US = "us", "United States"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    AUTHOR = "author", "Author"
    REVIEWER = "reviewer", "Reviewer"


# What each role may do. Checked by orgs.access.require_role, never inline in views.
AUTHORING_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.AUTHOR})
REVIEWING_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.REVIEWER})
MANAGING_ROLES = frozenset({Role.OWNER, Role.ADMIN})
ALL_ROLES = frozenset(Role)


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    region = models.CharField(max_length=2, choices=Region.choices, default=Region.EU)
    require_mfa = models.BooleanField(default=False)
    # Names the organisation's data keys in the keyring (privacy.keys); random, so a
    # restored backup or a reused id can never point at another organisation's keys.
    key_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Residency: the region is chosen once. Moving an organisation's data to another
        # region is a migration with its own review, never a field edit.
        if self.pk is not None:
            stored = Organisation.objects.filter(pk=self.pk).values_list("region", flat=True)
            if stored and stored[0] != self.region:
                raise ValueError(f"{self.slug}: the region ({stored[0]}) cannot be changed")
        super().save(*args, **kwargs)


class Membership(models.Model):
    org = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="one_membership")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) at {self.org}"


class Invitation(models.Model):
    org = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"invitation for {self.email} to {self.org}"


class ApiKey(models.Model):
    """An organisation's API key. Only a SHA-256 of the secret is stored; the secret
    is shown once at creation. Keys act for the organisation, never as a person."""

    org = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ApiKeyWindow(models.Model):
    """Requests an API key made in one rate-limit window (``coursewright.ratelimit_api``).
    Counts only: no path, no caller, nothing of the organisation's content."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    window_start = models.BigIntegerField(db_index=True)  # Unix time, seconds
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "window_start"],
                                               name="one_window_per_key")]

    def __str__(self) -> str:
        return f"key {self.api_key_id} at {self.window_start}: {self.hits}"

from __future__ import annotations

from django.conf import settings
from django.db import models


class ActorKind(models.TextChoices):
    USER = "user", "Person"
    API_KEY = "api_key", "API key"
    SYSTEM = "system", "System"


class Channel(models.TextChoices):
    WEB = "web", "Dashboard"
    API = "api", "API"
    CLI = "cli", "Command line"
    JOB = "job", "Background job"


class AuditEvent(models.Model):
    """One state change: who, through what, on which object, before and after."""

    org = models.ForeignKey(
        "orgs.Organisation", on_delete=models.CASCADE, null=True, related_name="audit_events"
    )
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        "orgs.ApiKey", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_label = models.CharField(max_length=254)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_label}"

"""Webhook endpoints and their deliveries (``webhooks.delivery`` explains the design).

- ``WebhookEndpoint``: a partner's URL and the events it takes. The URL and the signing
  secret are sealed under the organisation's key (we need the secret itself to sign);
  during a rotation's grace period the previous secret is kept, sealed, until
  ``previous_secret_until``.
- ``WebhookDelivery``: one event for one endpoint — the exact body sent (sealed), its
  state and the sender's bookkeeping (attempts, next attempt, lease). ``learner`` is the
  hashed learner id an event is about (commenced, completed), so learner export and
  deletion find the rows without opening payloads.
- ``WebhookAttempt``: each POST of a delivery — when, how long, the status code, the
  error (secrets blanked out) and the start of the receiver's answer (sealed).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from coursewright.privacy.fields import EncryptedTextField


class Event(models.TextChoices):
    COURSE_CREATED = "course.created", "A course was created"
    COURSE_PUBLISHED = "course.published", "A course version was published"
    COURSE_COMMENCED = "course.commenced", "A learner started a course"
    COURSE_COMPLETED = "course.completed", "A learner completed a course"


class WebhookEndpoint(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+",
                            db_index=False)  # (org, active) serves it
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    url = EncryptedTextField()
    description = models.CharField(max_length=100, blank=True)
    events = models.JSONField(default=list)  # Event values
    active = models.BooleanField(default=True)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(null=True)
    previous_secret_until = models.DateTimeField(null=True)
    secret_rotated_at = models.DateTimeField(null=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["org", "active"], name="webhook_endpoint_org")]

    def __str__(self) -> str:
        return f"webhook endpoint {self.pk}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Being delivered"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+",
                            db_index=False)  # (org, created_at) serves it
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE,
                                 related_name="deliveries")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_id = models.UUIDField()  # the payload's id: one event, every endpoint
    event = models.CharField(max_length=32, choices=Event.choices)
    payload = EncryptedTextField()  # the exact body, as signed
    learner = models.CharField(max_length=64, blank=True)  # hashed, as on LaunchProgress
    state = models.CharField(max_length=10, choices=DeliveryState.choices,
                             default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True)
    last_attempt_at = models.DateTimeField(null=True)
    last_status = models.PositiveSmallIntegerField(null=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["org", "created_at"], name="webhook_delivery_org"),
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due",
                         condition=Q(state="pending")),
            models.Index(fields=["org", "learner"], name="webhook_delivery_learner",
                         condition=~Q(learner="")),
        ]

    def __str__(self) -> str:
        return f"webhook delivery {self.uid} ({self.event}, {self.state})"


class WebhookAttempt(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE,
                                 related_name="history")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.PositiveIntegerField()
    manual = models.BooleanField(default=False)  # a person asked for it (resend)
    signed_at = models.DateTimeField()  # the signature's timestamp
    duration_ms = models.PositiveIntegerField(default=0)
    status = models.PositiveSmallIntegerField(null=True)  # null: no HTTP answer
    error = models.CharField(max_length=300, blank=True)
    response = EncryptedTextField(null=True)  # the start of the receiver's answer

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

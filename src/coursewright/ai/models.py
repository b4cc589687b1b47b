from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from coursewright.privacy.fields import EncryptedTextField


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class GenerationJob(models.Model):
    """A request to draft a course from a document; claimed by one worker only."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(
        "ingest.Document", on_delete=models.CASCADE, related_name="generation_jobs"
    )
    course = models.ForeignKey(
        "courses.Course", on_delete=models.CASCADE, null=True, related_name="generation_jobs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_by_key = models.ForeignKey(
        "orgs.ApiKey", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_via = models.CharField(max_length=5, default="web")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = EncryptedTextField()
    language = models.CharField(max_length=2, default="en")
    target_screens = models.PositiveIntegerField(default=25)
    engine = models.CharField(max_length=40, default="offline")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    stage = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"generation {self.pk} ({self.status})"

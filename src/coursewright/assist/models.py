"""Learner-facing AI: per-version access (the player credential), grading records, and
the content-free call log the rate limits count.

Learners appear here only as ``learner_ref``: the SHA-256 of the random session id the
player made up (never an LMS id, a name or an e-mail). Anything a learner wrote, and
anything an AI or a reviewer said about it, is sealed under the organisation's key.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from coursewright.privacy.fields import EncryptedJSONField, EncryptedTextField


class AssistAccess(models.Model):
    """Whether a version's learners may use the tutor and AI grading, and the interim
    credential (``assist.access`` explains it) the version's player sends."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.OneToOneField("courses.CourseVersion", on_delete=models.CASCADE,
                                   related_name="assist_access")
    token_sha256 = models.CharField(max_length=64, unique=True)
    # Kept (sealed) so every rebuild of the package carries the same token.
    token = EncryptedTextField()
    tutor = models.BooleanField(default=True)
    grading = models.BooleanField(default=True)
    enabled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"assist for version {self.version_id}"


class CallKind(models.TextChoices):
    TUTOR = "tutor", "Tutor question"
    GRADING = "grading", "Answer graded"


class AssistCall(models.Model):
    """One learner request, counted by the rate limits. No content; kept one day."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("courses.CourseVersion", on_delete=models.CASCADE,
                                related_name="+")
    learner_ref = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=CallKind.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["version", "kind", "created_at"]),
                   models.Index(fields=["learner_ref", "kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} at {self.created_at}"


class GradingStatus(models.TextChoices):
    AI_GRADED = "ai_graded", "Graded by AI"
    REVIEWED = "reviewed", "Reviewed by a person"


class GradingRecord(models.Model):
    """A learner's free-text answer, the AI's grade, and a reviewer's final word."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("courses.CourseVersion", on_delete=models.CASCADE,
                                related_name="+")
    block_id = models.CharField(max_length=40)
    learner_ref = models.CharField(max_length=64, db_index=True)
    answer = EncryptedTextField()
    # {"criteria": [{"id", "met", "justification"}]}: only what the rubric asked for.
    result = EncryptedJSONField()
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, blank=True)
    ai_score = models.PositiveIntegerField()
    max_score = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=GradingStatus.choices,
                              default=GradingStatus.AI_GRADED)
    final_score = models.PositiveIntegerField(null=True)
    review_note = EncryptedTextField(null=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["org", "course", "created_at"])]

    def __str__(self) -> str:
        return f"grading {self.pk} ({self.status})"

    @property
    def score(self) -> int:
        return self.final_score if self.final_score is not None else self.ai_score

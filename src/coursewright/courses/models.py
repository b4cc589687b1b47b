from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from coursewright.privacy.fields import EncryptedJSONField, EncryptedTextField


class VersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    PUBLISHED = "published", "Published"


IMMUTABLE_STATES = frozenset({VersionState.APPROVED, VersionState.PUBLISHED})


class Course(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="courses")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = EncryptedTextField()
    language = models.CharField(max_length=2, default="en")
    source_document = models.ForeignKey(
        "ingest.Document", on_delete=models.SET_NULL, null=True, related_name="courses"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"course {self.pk}"


class CourseVersion(models.Model):
    """One version of a course's content. Approved and published versions never change;
    editing one starts a new draft (``courses.actions.start_new_draft``)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(max_length=10, choices=VersionState.choices, default="draft")
    content = EncryptedJSONField()
    content_sha256 = models.CharField(max_length=64)
    based_on = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, related_name="+")
    created_by_label = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    submitted_by_label = models.CharField(max_length=254, blank=True)
    submitted_at = models.DateTimeField(null=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approved_via = models.CharField(max_length=5, blank=True)
    approved_at = models.DateTimeField(null=True)
    published_at = models.DateTimeField(null=True)
    # The grounding check of the AI-made blocks (courses.grounding, stored by
    # courses.actions): {"method", "threshold", "checked_at", "flags": [...]}. The flags
    # quote the content, so this is encrypted like the content. None: never checked.
    grounding = EncryptedJSONField(null=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["course", "number"], name="unique_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.course} v{self.number} ({self.state})"

    @property
    def is_immutable(self) -> bool:
        return self.state in IMMUTABLE_STATES

    @property
    def grounding_flags(self) -> list[dict[str, Any]]:
        return list((self.grounding or {}).get("flags", []))

    @property
    def open_flags(self) -> list[dict[str, Any]]:
        """Flagged sentences no reviewer has marked as checked yet."""
        return [f for f in self.grounding_flags if not f.get("resolved_at")]


class ReviewComment(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(CourseVersion, on_delete=models.CASCADE, related_name="comments")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"comment on {self.version}"


class Asset(models.Model):
    """An image an author uploaded (PNG, JPEG or WebP, re-checked by decoding)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="assets")
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=20)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    storage_path = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "sha256"], name="unique_asset")]

    def __str__(self) -> str:
        return self.sha256[:12]

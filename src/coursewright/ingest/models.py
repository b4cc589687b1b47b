from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from coursewright.privacy.fields import EncryptedJSONField, EncryptedTextField


class Document(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="documents")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    filename = EncryptedTextField()
    source_format = models.CharField(max_length=8)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_path = models.CharField(max_length=300)
    title = EncryptedTextField()
    page_count = models.PositiveIntegerField(null=True)
    markdown = EncryptedTextField()
    outline = EncryptedJSONField()  # [{title, level, chunk_ids, children}]
    text_purged = models.BooleanField(default=False)  # extracted text removed by retention
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"document {self.pk}"


class DocumentChunk(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    chunk_id = models.CharField(max_length=80)
    ordinal = models.PositiveIntegerField()
    section_path = EncryptedJSONField()
    text = EncryptedTextField()
    page = models.PositiveIntegerField(null=True)

    class Meta:
        ordering = ["ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "chunk_id"], name="unique_chunk_id")
        ]

    def __str__(self) -> str:
        return self.chunk_id

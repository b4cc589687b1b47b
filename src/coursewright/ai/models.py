from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from coursewright.privacy.fields import EncryptedJSONField, EncryptedTextField


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class GenerationJob(models.Model):
    """A request to draft a course from a document; claimed by one worker only."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(
        "ingest.Document", on_delete=models.CASCADE, null=True, related_name="generation_jobs"
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
    # Prompt-only generation (no document): the author's brief, encrypted.
    prompt = EncryptedTextField(null=True)
    # A provider the requester asked for (must be allowed by the org's policy); blank:
    # the policy's order.
    provider = models.CharField(max_length=40, blank=True)
    # Resumable work: the map step's results so far (encrypted: they are content), and a
    # heartbeat so a job whose worker died is found and requeued.
    checkpoint = EncryptedJSONField(null=True)
    heartbeat_at = models.DateTimeField(null=True)
    attempts = models.PositiveSmallIntegerField(default=0)
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


FEATURES = ("generate", "regenerate_screen", "refine", "translate", "quiz", "tutor", "grading")


def default_features() -> dict[str, bool]:
    return dict.fromkeys(FEATURES, True)


def default_providers() -> list[str]:
    return ["offline"]


class AiPolicy(models.Model):
    """What an organisation allows its AI to do, and with whom. One row per org."""

    org = models.OneToOneField("orgs.Organisation", on_delete=models.CASCADE,
                               related_name="ai_policy")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    features = models.JSONField(default=default_features)
    providers = models.JSONField(default=default_providers)  # ordered: first is tried first
    store_prompts = models.BooleanField(default=False)  # opt-in; stored encrypted
    disclosure_text = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"AI policy of org {self.org_id}"


class ProviderCredential(models.Model):
    """An organisation's own API key for a provider (bring your own key), encrypted."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=40)
    api_key = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "provider"],
                                               name="one_credential_per_provider")]

    def __str__(self) -> str:
        return f"{self.provider} key of org {self.org_id}"


class Outcome(models.TextChoices):
    OK = "ok", "Succeeded"
    BLOCKED = "blocked", "Blocked by policy"
    FAILED = "failed", "Provider failed"


class LedgerEntry(models.Model):
    """One row per attempt to use AI: who, what for, where it went, what it cost.

    Counts and names only in plain columns; anything derived from content (the prompt,
    when the org opted in, and error details) is sealed in ``detail``.
    """

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             related_name="+")
    api_key = models.ForeignKey("orgs.ApiKey", on_delete=models.SET_NULL, null=True,
                                related_name="+")
    channel = models.CharField(max_length=5, default="job")
    feature = models.CharField(max_length=30)
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=120, blank=True)
    region = models.CharField(max_length=10, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    redactions = models.JSONField(default=dict)  # entity type -> count
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=60, blank=True)  # a code, never content
    detail = EncryptedJSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["org", "created_at"])]

    def __str__(self) -> str:
        return f"{self.feature} via {self.provider or '-'}: {self.outcome}"


class ProviderState(models.Model):
    """Circuit-breaker state and health of one configured provider (no content, no org).

    Kept in the database, not a per-process cache, so the web process's health page and
    every worker see the same breaker.
    """

    provider = models.CharField(max_length=40, unique=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=20, blank=True)
    last_failure_at = models.DateTimeField(null=True)
    last_success_at = models.DateTimeField(null=True)
    successes = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.provider}: {self.consecutive_failures} failures"

"""Delivery: where a course is deployed, who may launch it, and every launch.

A ``Deployment`` row is one step of a course channel's history (deploy, promote,
rollback) and never changes; ``Channel`` points at the current one. A ``License`` is one
client LMS's right to launch some courses; the Gatekeeper reads it on every launch (no
cache), so a revocation blocks the next launch. ``LaunchEvent`` records every launch,
allowed or refused, keyed to a hashed learner id only.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from coursewright.privacy.fields import EncryptedTextField


class ChannelName(models.TextChoices):
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class DeploymentAction(models.TextChoices):
    DEPLOY = "deploy", "Deployed"
    PROMOTE = "promote", "Promoted"
    ROLLBACK = "rollback", "Rolled back"


class Deployment(models.Model):
    """One step in a channel's history: which version went live there, why, by whom."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE,
                               related_name="deployments")
    channel = models.CharField(max_length=10, choices=ChannelName.choices)
    version = models.ForeignKey("courses.CourseVersion", on_delete=models.RESTRICT,
                                related_name="deployments")
    action = models.CharField(max_length=10, choices=DeploymentAction.choices)
    previous = models.ForeignKey("self", on_delete=models.SET_NULL, null=True,
                                 related_name="+")  # what was current before (from)
    source = models.ForeignKey("self", on_delete=models.SET_NULL, null=True,
                               related_name="+")  # promote: the staging deployment
    reason = EncryptedTextField(null=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                              null=True, related_name="+")
    actor_label = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["course", "channel", "-id"])]

    def __str__(self) -> str:
        return f"{self.channel} {self.action} of version {self.version_id}"


class Channel(models.Model):
    """The current deployment of a course's channel (moved by a conditional update)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE,
                               related_name="channels")
    name = models.CharField(max_length=10, choices=ChannelName.choices)
    current = models.ForeignKey(Deployment, on_delete=models.RESTRICT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "name"],
                                               name="one_channel_per_course_and_name")]

    def __str__(self) -> str:
        return f"{self.name} of course {self.course_id}"


class LicenseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"


class License(models.Model):
    """A client LMS's right to launch courses, checked on every launch."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE,
                            related_name="licenses")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    courses = models.ManyToManyField("courses.Course", related_name="licenses")
    status = models.CharField(max_length=10, choices=LicenseStatus.choices,
                              default=LicenseStatus.ACTIVE)
    expires_at = models.DateTimeField(null=True)
    allowed_origins = models.JSONField(default=list)  # ["https://lms.example.com"]
    max_learners = models.PositiveIntegerField(null=True)  # distinct learners
    max_launches = models.PositiveIntegerField(null=True)
    launches = models.PositiveIntegerField(default=0)
    learners = models.PositiveIntegerField(default=0)
    # Learner ids from this LMS are hashed with this salt (HMAC), never stored raw.
    learner_salt = EncryptedTextField()
    token_kid = models.CharField(max_length=64, blank=True)  # the key that signed it
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"license {self.name} ({self.status})"


class LicenseLearner(models.Model):
    """A distinct learner seen on a license (for the learner cap): the hash only."""

    # no database-level constraint, as on the launch records below
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+",
                                db_constraint=False)
    learner = models.CharField(max_length=64)  # hex HMAC-SHA256 with the license salt
    first_seen = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["license", "learner"],
                                               name="one_row_per_license_learner")]

    def __str__(self) -> str:
        return f"learner {self.learner[:8]} on license {self.license_id}"


# The launch records (LaunchEvent, LaunchSession, LaunchProgress, LicenseLearner) carry no
# database-level foreign key constraints, as the LRS's ingestion tables don't: on
# PostgreSQL each constraint costs every launch a trigger and a FOR KEY SHARE lock on the
# parent row (the license's, the course's, shared by every concurrent launch), and each
# deleted parent row a lookup in the child table — without an index on the column, a scan
# of a table that may hold a million rows (deleting an organisation's 1,000 course
# versions took 128 s on PostgreSQL that way, scanning a million dead progress rows once
# per version). Deletion still cascades, or sets NULL, through the ORM (``on_delete``),
# and organisation deletion removes these tables first (``privacy.deletion``). What this
# gives up: a row written while its parent is being deleted in a concurrent transaction
# can keep a dangling id; it goes with its organisation or by the retention purge.


class LaunchOutcome(models.TextChoices):
    LAUNCHED = "launched", "Launched"
    BLOCKED = "blocked", "Blocked"


class LaunchEvent(models.Model):
    """One launch attempt through the Gatekeeper, allowed or refused, and why.

    Written on every launch, so it carries only the indexes its reads need: the org's and
    the course's are the composite ones below (their leading column serves the foreign
    key too)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+",
                            null=True, db_index=False, db_constraint=False)
    license = models.ForeignKey(License, on_delete=models.SET_NULL, null=True,
                                related_name="+", db_constraint=False)
    course = models.ForeignKey("courses.Course", on_delete=models.SET_NULL, null=True,
                               related_name="+", db_index=False, db_constraint=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.SET_NULL, null=True,
                                   related_name="+", db_index=False, db_constraint=False)
    learner = models.CharField(max_length=64, blank=True)  # hashed, per license
    outcome = models.CharField(max_length=10, choices=LaunchOutcome.choices)
    reason = models.CharField(max_length=40, blank=True)  # a code
    origin = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["org", "created_at"]),
                   models.Index(fields=["course", "created_at"])]

    def __str__(self) -> str:
        return f"launch {self.outcome} ({self.reason})"


class LaunchSession(models.Model):
    """A launch the Gatekeeper allowed: which deployment and version the learner was
    given, until when, and the SHA-256 of the session credential (the credential itself
    is handed to the launcher once and never stored). Later requests of the same attempt
    (content URLs, runtime reports) present the credential and stay on this version."""

    # Written on every launch: only the indexes reads need. Deleting a course, deployment
    # or version (rare) scans for its sessions rather than every launch paying for three
    # more indexes; the org's foreign key is served by (org, expires_at).
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+",
                            db_index=False, db_constraint=False)
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+",
                                db_constraint=False)
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+",
                               db_index=False, db_constraint=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="+",
                                   db_index=False, db_constraint=False)
    version = models.ForeignKey("courses.CourseVersion", on_delete=models.CASCADE,
                                related_name="+", db_index=False, db_constraint=False)
    learner = models.CharField(max_length=64, blank=True)  # hashed, as on LaunchEvent
    secret_hash = models.CharField(max_length=64)  # sha256 hex of the credential
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["org", "expires_at"])]
        # a constraint, not unique=True: no extra pattern-ops (LIKE) index on PostgreSQL
        constraints = [models.UniqueConstraint(fields=["secret_hash"],
                                               name="one_session_per_credential")]

    def __str__(self) -> str:
        return f"launch session {self.pk} on license {self.license_id}"


class Completion(models.TextChoices):
    NOT_ATTEMPTED = "not_attempted", "Not attempted"
    INCOMPLETE = "incomplete", "Incomplete"
    COMPLETED = "completed", "Completed"
    UNKNOWN = "unknown", "Unknown"


class Success(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"


class LaunchProgress(models.Model):
    """What one launched attempt reported back to the platform (the dispatch relay sends
    the runtime's status and score on every commit): the raw material of the platform's
    completion records, keyed to the hashed learner id only.

    One row per launch session; it outlives the session (launch logs and learner records
    have retention rules of their own). A learner whose latest attempt on a license and
    course is not completed is launched on that attempt's version again, so a promotion
    never moves anyone mid-attempt."""

    # Only the indexes reads need (a million rows are cheap to write and to delete): the
    # foreign keys of org, license and course are served by the composite indexes below;
    # deleting a deployment or version (rare) scans rather than every row paying for two
    # more indexes.
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+",
                            db_index=False, db_constraint=False)
    session = models.OneToOneField(LaunchSession, on_delete=models.SET_NULL, null=True,
                                   related_name="progress", db_constraint=False)
    license = models.ForeignKey(License, on_delete=models.SET_NULL, null=True,
                                related_name="+", db_index=False, db_constraint=False)
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+",
                               db_index=False, db_constraint=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.SET_NULL, null=True,
                                   related_name="+", db_index=False, db_constraint=False)
    version = models.ForeignKey("courses.CourseVersion", on_delete=models.SET_NULL,
                                null=True, related_name="+", db_index=False,
                                db_constraint=False)
    learner = models.CharField(max_length=64, blank=True)  # hashed, as on LaunchEvent
    completion = models.CharField(max_length=14, choices=Completion.choices,
                                  default=Completion.NOT_ATTEMPTED)
    success = models.CharField(max_length=8, choices=Success.choices,
                               default=Success.UNKNOWN)
    score = models.FloatField(null=True)  # scaled, 0..1
    progress = models.FloatField(null=True)  # 0..1, share of the course seen
    location = models.CharField(max_length=100, blank=True)  # the bookmark: a screen id
    reports = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["course", "updated_at"]),
                   models.Index(fields=["org", "updated_at"]),
                   models.Index(fields=["license", "course", "learner", "-id"])]

    def __str__(self) -> str:
        return f"progress {self.completion}/{self.success} of session {self.session_id}"


class PlayerErrorKind(models.TextChoices):
    SCRIPT = "script", "Script error"
    LMS = "lms", "LMS call failed"
    CONTENT = "content", "Course file failed to load"


class PlayerError(models.Model):
    """A runtime error the player reported during a launch session (a script error, an
    LMS call the client LMS refused, a course file that did not load). The message is
    sealed under the organisation's key: it is text from a learner's browser."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey(LaunchSession, on_delete=models.SET_NULL, null=True,
                                related_name="+")
    license = models.ForeignKey(License, on_delete=models.SET_NULL, null=True,
                                related_name="+")
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    deployment = models.ForeignKey(Deployment, on_delete=models.SET_NULL, null=True,
                                   related_name="+")
    version = models.ForeignKey("courses.CourseVersion", on_delete=models.SET_NULL,
                                null=True, related_name="+")
    learner = models.CharField(max_length=64, blank=True)  # hashed, as on LaunchEvent
    kind = models.CharField(max_length=10, choices=PlayerErrorKind.choices)
    message = EncryptedTextField()
    detail = EncryptedTextField(null=True)  # where: source:line, the LMS call and code
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["course", "created_at"]),
                   models.Index(fields=["org", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} error in session {self.session_id}"

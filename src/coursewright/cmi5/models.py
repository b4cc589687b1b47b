"""The cmi5 launching system's tables (``cmi5.launching`` explains the design).

- ``Registration``: a learner's enrollment in a course through a license (the cmi5
  registration id), with what the learner has achieved per AU (to decide "satisfied").
  The learner is the per-license pseudonym (``delivery.licenses.hash_learner``), never
  the LMS's id.
- ``AuSession``: one launch of one AU (the cmi5 session): the one-time fetch URL's
  secret and the auth-token's secret are stored as SHA-256 digests only; the rest is
  what the LMS.LaunchData document and the statement rules need.
- ``SystemCredential``: the LRS credential the launching system writes with (one per
  license); its secret is derived from the server's secret key and never leaves it.
"""

from __future__ import annotations

import uuid

from django.db import models


class LaunchMode(models.TextChoices):
    NORMAL = "Normal", "Normal"
    BROWSE = "Browse", "Browse"
    REVIEW = "Review", "Review"


class Registration(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    license = models.ForeignKey("delivery.License", on_delete=models.CASCADE, related_name="+")
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    learner = models.CharField(max_length=64)  # hashed per license, as on LaunchEvent
    registration = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # the course structure the learner is enrolled in: {"course": IRI, "aus": {IRI: moveOn}}
    structure = models.JSONField(default=dict)
    # per AU publisher id: {"completed": true, "passed": true, "failed": true}
    achieved = models.JSONField(default=dict)
    satisfied_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["license", "course", "learner"],
                                               name="one_cmi5_registration")]

    def __str__(self) -> str:
        return f"cmi5 registration {self.registration}"


class AuSession(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    registration = models.ForeignKey(Registration, on_delete=models.CASCADE,
                                     related_name="sessions")
    launch = models.ForeignKey("delivery.LaunchSession", on_delete=models.SET_NULL,
                               null=True, related_name="+")
    version = models.ForeignKey("courses.CourseVersion", on_delete=models.SET_NULL,
                                null=True, related_name="+")
    session_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    au_id = models.TextField()  # the AU's publisher id (course structure)
    activity_id = models.TextField()  # the id this launching system made for the AU
    launch_url = models.TextField()  # the AU's URL without the cmi5 parameters
    launch_mode = models.CharField(max_length=6, choices=LaunchMode.choices,
                                   default=LaunchMode.NORMAL)
    move_on = models.CharField(max_length=20)
    mastery_score = models.DecimalField(max_digits=5, decimal_places=4, null=True)
    return_url = models.TextField(blank=True)
    fetch_hash = models.CharField(max_length=64, unique=True)
    fetched_at = models.DateTimeField(null=True)
    # the auth-token's digest once the fetch URL was used (NULL before: unique, so not "")
    token_hash = models.CharField(max_length=64, unique=True, null=True)  # noqa: DJ001
    verbs = models.JSONField(default=list)  # cmi5 defined verbs the AU sent this session
    initialized_at = models.DateTimeField(null=True)
    terminated_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"cmi5 session {self.session_id}"


class SystemCredential(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    license = models.OneToOneField("delivery.License", on_delete=models.CASCADE,
                                   related_name="+")
    credential = models.ForeignKey("tracking.XapiCredential", on_delete=models.CASCADE,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"cmi5 system credential of license {self.license_id}"

"""LTI 1.3: the platforms an organisation registered, and what their launches leave.

- ``PlatformRegistration``: one LTI platform (an LMS) that may launch the organisation's
  courses: its issuer, the client id it gave coursewright, the deployment ids it may
  launch from, its key set, OIDC authorisation and token endpoints — and the delivery
  ``License`` whose rules (status, expiry, courses, caps) every launch obeys. Each has
  its own login and launch URLs (they carry the registration's uid), so a launch is
  never matched to a registration by what the platform claims about itself.
- ``LoginState``: one OIDC login in flight (state and nonce, hashed), used at most once,
  for ten minutes.
- ``UsedNonce``: every nonce of an accepted id_token, kept until the token expires, so a
  replay is refused even if the state check were bypassed.
- ``LtiLaunch``: one accepted learner launch: the Gatekeeper's launch session it
  opened, the resource link and the line item its grade goes to, and the grade outbox
  (state, attempts, back-off, lease). The learner's LTI ``sub`` is the only thing the
  platform needs back (AGS ``userId``): it is sealed under the organisation's key and
  erased as soon as no grade is left to send (``lti.privacy``).

Never stored: the learner's name, e-mail, picture, roster or any other claim of the
id_token beyond those above.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from coursewright.privacy.fields import EncryptedTextField


class PlatformRegistration(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE,
                            related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    issuer = models.CharField(max_length=255)
    client_id = models.CharField(max_length=255)
    deployment_ids = models.JSONField(default=list)
    jwks_url = models.CharField(max_length=2000)
    auth_url = models.CharField(max_length=2000)  # OIDC authorisation endpoint
    token_url = models.CharField(max_length=2000)  # OAuth2 token endpoint (AGS)
    token_audience = models.CharField(max_length=2000, blank=True)  # aud of assertions
    license = models.ForeignKey("delivery.License", on_delete=models.CASCADE,
                                related_name="+")
    active = models.BooleanField(default=True)
    # the platform's public key set, as last fetched (public keys: not secret)
    jwks_cache = models.JSONField(default=dict)
    jwks_fetched_at = models.DateTimeField(null=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["org", "issuer", "client_id"],
                                               name="lti_one_registration_per_client")]

    def __str__(self) -> str:
        return f"LTI registration {self.name}"


class LoginState(models.Model):
    registration = models.ForeignKey(PlatformRegistration, on_delete=models.CASCADE,
                                     related_name="+")
    state_hash = models.CharField(max_length=64, unique=True)
    nonce_hash = models.CharField(max_length=64)
    # SHA-256 of the secret put into the platform's storage (lti.put_data), if offered
    storage_hash = models.CharField(max_length=64, blank=True)
    storage_target = models.CharField(max_length=100, blank=True)  # the platform's frame
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"LTI login state {self.pk}"


class UsedNonce(models.Model):
    registration = models.ForeignKey(PlatformRegistration, on_delete=models.CASCADE,
                                     related_name="+")
    nonce_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["registration", "nonce_hash"],
                                               name="lti_nonce_used_once")]

    def __str__(self) -> str:
        return f"used nonce {self.nonce_hash[:8]}"


class GradeState(models.TextChoices):
    NONE = "none", "Nothing to send"
    PENDING = "pending", "To be sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class LtiLaunch(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    registration = models.ForeignKey(PlatformRegistration, on_delete=models.CASCADE,
                                     related_name="launches")
    session = models.OneToOneField("delivery.LaunchSession", on_delete=models.SET_NULL,
                                   null=True, related_name="+", db_constraint=False)
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="+")
    learner = models.CharField(max_length=64)  # the Gatekeeper's pseudonym
    deployment_id = models.CharField(max_length=255)
    resource_link_id = models.CharField(max_length=255)
    lineitem_url = models.CharField(max_length=2000, blank=True)
    scopes = models.JSONField(default=list)  # AGS scopes the platform granted
    subject = EncryptedTextField(null=True)  # the LTI sub (AGS userId), sealed
    created_at = models.DateTimeField(auto_now_add=True)
    # the grade outbox
    grade_state = models.CharField(max_length=8, choices=GradeState.choices,
                                   default=GradeState.NONE)
    grade_sent = models.CharField(max_length=100, blank=True)  # what was last sent
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True)
    last_attempt_at = models.DateTimeField(null=True)
    last_status = models.PositiveSmallIntegerField(null=True)
    last_error = models.CharField(max_length=300, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["org", "created_at"]),
                   models.Index(fields=["next_attempt_at"], name="lti_grade_due",
                                condition=Q(grade_state="pending"))]

    def __str__(self) -> str:
        return f"LTI launch {self.pk}"

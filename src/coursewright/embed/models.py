"""The embed tokens' bookkeeping (what each table is for; ``embed.tokens`` says why).

- ``EmbedFamily``: one per token exchange (a partner's user opening an embedded page).
  It holds what every token of the session may do (scope, courses, access-token
  lifetime) and the key that minted it; revoking it refuses every access token and
  refresh token it ever issued. The partner's user id is sealed under the
  organisation's data key (a refresh needs it for the new token's ``sub``) and indexed
  only as a keyed hash (HMAC-SHA256 under a key derived from that data key), so
  revocation and deletion by user work while no column names anyone.
- ``EmbedRefreshToken``: the SHA-256 of each refresh token (256 random bits, shown
  once). A token is used at most once: ``used_at`` is set by a conditional update, and
  presenting a used one revokes its family (reuse detection).
- ``EmbedAccessToken``: one row per access token minted (its ``jti``), so the check on
  every request is one indexed lookup that also answers "revoked by jti", and a
  revocation by jti can be scoped to the organisation that minted it.
- ``EmbedOrigin``: the partner's allow-list, per organisation, of the origins
  (``scheme://host[:port]``) whose pages may frame the embedded pages and talk to them
  by ``postMessage`` (``embed.origins``).
- ``EmbedCode``: a one-time code the partner's backend puts in an embedded page's URL
  instead of posting it a token (``embed.codes``): only its SHA-256, the exchange it
  stands for (the user sealed and keyed-hashed, as on a family), 60 seconds of life,
  used at most once; the family its use opened, so a second use can revoke it.

Rows are deleted once everything they describe has expired (``embed.actions.purge_expired``).
"""

from __future__ import annotations

import uuid

from django.db import models

from coursewright.privacy.fields import EncryptedTextField


class Scope(models.TextChoices):
    AUTHOR = "author", "Author"
    REVIEWER = "reviewer", "Reviewer"
    LEARNER = "learner", "Learner"


class RevokeReason(models.TextChoices):
    REFRESH_REUSED = "refresh_reused", "An old refresh token was presented again"
    USER = "user", "The partner revoked the user's tokens"
    KEY = "key", "The partner revoked all tokens of its API key"
    DELETED = "deleted", "The user's data was deleted"
    CODE_REUSED = "code_reused", "The one-time code that opened it was used again"


class EmbedFamily(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey("orgs.ApiKey", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject = EncryptedTextField()
    subject_digest = models.CharField(max_length=64)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    # course uids (str), or None: every course of the organisation (author scope only)
    courses = models.JSONField(null=True)
    access_ttl = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # the family's absolute end: no token of it outlives this
    expires_at = models.DateTimeField()
    refreshed_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)
    revoked_reason = models.CharField(max_length=20, choices=RevokeReason.choices, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["org", "subject_digest"], name="embed_family_subject"),
            models.Index(fields=["expires_at"], name="embed_family_expiry"),
        ]

    def __str__(self) -> str:
        return f"embed family {self.uid} ({self.scope})"

    @property
    def all_courses(self) -> bool:
        return self.courses is None


class EmbedRefreshToken(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    family = models.ForeignKey(EmbedFamily, on_delete=models.CASCADE,
                               related_name="refresh_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"refresh token {self.pk} of {self.family_id}"


class EmbedAccessToken(models.Model):
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    family = models.ForeignKey(EmbedFamily, on_delete=models.CASCADE,
                               related_name="access_tokens")
    jti = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"access token {self.jti}"


class EmbedOrigin(models.Model):
    """One origin allowed to embed the organisation's pages (``embed.origins``)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    origin = models.CharField(max_length=300)  # scheme://host[:port], lower case
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "origin"],
                                               name="embed_origin_once_per_org")]

    def __str__(self) -> str:
        return self.origin


class EmbedCode(models.Model):
    """A one-time code for a token pair (``embed.codes``)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey("orgs.ApiKey", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code_hash = models.CharField(max_length=64, unique=True)
    subject = EncryptedTextField()
    subject_digest = models.CharField(max_length=64)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    courses = models.JSONField(null=True)  # as on EmbedFamily
    access_ttl = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)
    # the session its (first) use opened
    family = models.ForeignKey(EmbedFamily, on_delete=models.SET_NULL, null=True,
                               related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["org", "subject_digest"], name="embed_code_subject"),
            models.Index(fields=["expires_at"], name="embed_code_expiry"),
        ]

    def __str__(self) -> str:
        return f"embed code {self.uid} ({self.scope})"

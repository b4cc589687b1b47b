"""The xAPI LRS's tables.

What is stored, and how (the design note of ``tracking.lrs`` says why):

- A statement's full JSON is sealed under its organisation's data key
  (``privacy.crypto``), bound to ``tracking_statement.data`` and the statement id, so
  a sealed blob copied to another row or organisation does not decrypt. Only what the
  queries need stays readable: the statement id, when it was stored, a digest of the
  verb IRI and of the object's activity IRI, the registration, the target of a
  StatementRef, whether it voids, and the agents as keyed hashes (HMAC-SHA256 under a
  key derived from the organisation's data key): equal agents match, the column
  reveals nothing, and another organisation's hash of the same e-mail differs.
- IRIs are kept as 128-bit digests: not for secrecy (an IRI names an activity, not a
  person) but so every index is small and of fixed width whatever the IRI's length.
- Documents (state, activity profile, agent profile) are sealed the same way; the
  columns hold only what identifies them and their ETag.
- Attachment bytes are files sealed through ``coursewright.storage`` (in the
  organisation's region, content-addressed by their SHA-256, which is also the xAPI
  ``sha2``); a row records them per organisation, and a link row per statement.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from coursewright.privacy.fields import EncryptedJSONField, EncryptedTextField


class Scope(models.TextChoices):
    """The xAPI (TinCan OAuth) scope vocabulary."""

    STATEMENTS_WRITE = "statements/write", "Write statements"
    STATEMENTS_READ = "statements/read", "Read the organisation's statements"
    STATEMENTS_READ_MINE = "statements/read/mine", "Read the statements it wrote"
    STATE = "state", "Read and write activity state"
    PROFILE = "profile", "Read and write activity and agent profiles"
    DEFINE = "define", "Update the canonical activity definitions"
    ALL_READ = "all/read", "Read everything"
    ALL = "all", "Everything"


class XapiCredential(models.Model):
    """A key pair for HTTP Basic authentication against the LRS: the ``key`` is the
    user name, the secret (shown once) the password. Only the SHA-256 of the secret is
    stored: the secret is 256 random bits, so no password-style slow hash is needed to
    make guessing it impractical, and checking it costs microseconds per request."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    license = models.ForeignKey("delivery.License", on_delete=models.CASCADE, null=True,
                                related_name="+")
    name = models.CharField(max_length=100)
    key = models.CharField(max_length=40, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True)
    last_used_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"xAPI credential {self.name} ({self.key})"


class XapiSettings(models.Model):
    """An organisation's LRS options."""

    org = models.OneToOneField("orgs.Organisation", on_delete=models.CASCADE,
                               related_name="xapi_settings")
    pseudonymise = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"xAPI settings of {self.org_id}"


class Statement(models.Model):
    # No database-level foreign keys on the ingestion tables: on PostgreSQL each would
    # add a trigger and a FOR KEY SHARE lock on the parent row (the organisation's, for
    # every concurrent writer) per inserted row, which measured as more work than the
    # insert itself. Deletion still cascades through the ORM (on_delete).
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+",
                            db_constraint=False)
    statement_id = models.UUIDField()
    stored = models.DateTimeField()
    credential = models.ForeignKey(XapiCredential, on_delete=models.SET_NULL, null=True,
                                   related_name="+", db_constraint=False)
    # the license of the credential that wrote it: a license's credentials read only
    # their license's statements
    license = models.ForeignKey("delivery.License", on_delete=models.SET_NULL, null=True,
                                related_name="+", db_constraint=False)
    verb = models.CharField(max_length=32)
    activity = models.CharField(max_length=32, blank=True)  # object, when an Activity
    actor = models.CharField(max_length=32)
    object_agent = models.CharField(max_length=32, blank=True)  # object, when an Agent/Group
    registration = models.UUIDField(null=True)
    ref_target = models.UUIDField(null=True)  # object, when a StatementRef
    voiding = models.BooleanField(default=False)
    has_attachments = models.BooleanField(default=False)
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "statement_id"],
                                               name="one_statement_id_per_org")]
        indexes = [
            models.Index(fields=["org", "stored", "id"], name="xapi_stmt_stored"),
            models.Index(fields=["actor", "stored"], name="xapi_stmt_actor"),
            models.Index(fields=["org", "verb", "stored"], name="xapi_stmt_verb"),
            models.Index(fields=["org", "activity", "stored"], name="xapi_stmt_activity"),
            models.Index(fields=["object_agent"], name="xapi_stmt_object_agent",
                         condition=~Q(object_agent="")),
            models.Index(fields=["org", "registration"], name="xapi_stmt_registration",
                         condition=Q(registration__isnull=False)),
            models.Index(fields=["org", "ref_target"], name="xapi_stmt_ref_target",
                         condition=Q(ref_target__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"statement {self.statement_id}"


class StatementActivity(models.Model):
    """An activity a statement relates to beyond its object (context activities, a
    sub-statement's object and context): the rows ``related_activities`` searches."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="+",
                                  db_constraint=False)
    activity = models.CharField(max_length=32)

    class Meta:
        indexes = [models.Index(fields=["activity"], name="xapi_related_activity")]

    def __str__(self) -> str:
        return f"activity {self.activity} of statement {self.statement_id}"


class StatementAgent(models.Model):
    """An agent a statement relates to beyond its actor and object (instructor, team,
    context agents and groups, a sub-statement's agents): for ``related_agents``."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="+",
                                  db_constraint=False)
    agent = models.CharField(max_length=32)

    class Meta:
        indexes = [models.Index(fields=["agent"], name="xapi_related_agent")]

    def __str__(self) -> str:
        return f"agent {self.agent} of statement {self.statement_id}"


class Attachment(models.Model):
    """Attachment bytes the organisation holds, by SHA-256 (the file is sealed in
    storage under ``path``)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    sha2 = models.CharField(max_length=64)
    path = models.CharField(max_length=300)
    content_type = models.CharField(max_length=255)
    length = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "sha2"],
                                               name="one_attachment_per_hash")]

    def __str__(self) -> str:
        return f"attachment {self.sha2[:12]}"


class StatementAttachment(models.Model):
    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="+")
    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    sha2 = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["org", "sha2"], name="xapi_stmt_attachment")]

    def __str__(self) -> str:
        return f"attachment {self.sha2[:12]} of statement {self.statement_id}"


class Activity(models.Model):
    """The canonical definition of an activity, merged from the statements that
    described it (sealed: ``{"id", "definition"}``)."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    iri = models.CharField(max_length=32)  # digest of the activity IRI
    data = models.BinaryField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "iri"],
                                               name="one_canonical_activity")]

    def __str__(self) -> str:
        return f"activity {self.iri}"


class DocumentKind(models.TextChoices):
    STATE = "state", "Activity state"
    ACTIVITY_PROFILE = "activity_profile", "Activity profile"
    AGENT_PROFILE = "agent_profile", "Agent profile"


class Document(models.Model):
    """A state, activity profile or agent profile document. ``location`` is a digest
    of everything that names it (kind, license partition, activity, agent,
    registration, id), so one unique constraint covers all three kinds."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    license = models.ForeignKey("delivery.License", on_delete=models.CASCADE, null=True,
                                related_name="+")
    kind = models.CharField(max_length=16, choices=DocumentKind.choices)
    location = models.CharField(max_length=64)
    activity = models.CharField(max_length=32, blank=True)
    agent = models.CharField(max_length=32, blank=True)
    registration = models.UUIDField(null=True)
    document_id = models.TextField()  # the stateId / profileId, returned by listings
    content_type = models.CharField(max_length=255)
    etag = models.CharField(max_length=40)  # SHA-1 of the content, hex
    content = models.BinaryField()
    updated = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "location"],
                                               name="one_document_per_location")]
        indexes = [models.Index(fields=["org", "kind", "activity", "agent"],
                                name="xapi_document_lookup"),
                   models.Index(fields=["agent"], name="xapi_document_agent")]

    def __str__(self) -> str:
        return f"{self.kind} document {self.document_id[:40]}"


class ForwardState(models.TextChoices):
    ACTIVE = "active", "Forwarding"
    PAUSED = "paused", "Paused by a person"
    REJECTED = "rejected", "Stopped: the receiver refused a statement"


class ForwardAuth(models.TextChoices):
    NONE = "none", "No credentials"
    BASIC = "basic", "HTTP Basic (key and secret)"
    BEARER = "bearer", "Bearer token"


class ForwardTarget(models.Model):
    """An external LRS an organisation's statements are forwarded to
    (``tracking.forwarding`` explains the design). The URL and the credentials are
    sealed under the organisation's key; the cursor, lease and status columns are the
    forwarder's bookkeeping."""

    org = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    url = EncryptedTextField()  # the receiver's xAPI endpoint (or its /statements)
    auth = models.CharField(max_length=8, choices=ForwardAuth.choices,
                            default=ForwardAuth.NONE)
    credentials = EncryptedJSONField(null=True)  # {"key", "secret"} or {"token"}
    xapi_version = models.CharField(max_length=8, default="1.0.3")
    verbs = models.JSONField(default=list)  # verb IRIs to forward; empty: every verb
    only_licensed = models.BooleanField(default=False)  # written through a license's credential
    state = models.CharField(max_length=8, choices=ForwardState.choices,
                             default=ForwardState.ACTIVE)
    # the cursor: the last forwarded statement in (stored, id) order, and the highest
    # row id forwarded (statements committed late, behind the cursor, have a higher id)
    cursor_stored = models.DateTimeField(null=True)
    cursor_id = models.BigIntegerField(default=0)
    max_forwarded_id = models.BigIntegerField(default=0)
    # the lease of the worker forwarding now (a conditional update claims it)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True)
    # status
    delivered = models.BigIntegerField(default=0)
    already_present = models.BigIntegerField(default=0)  # 409s, counted as delivered
    failures = models.IntegerField(default=0)  # in a row
    next_attempt_at = models.DateTimeField(null=True)
    last_attempt_at = models.DateTimeField(null=True)
    last_success_at = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=300, blank=True)  # no secrets, no answer body
    last_error_at = models.DateTimeField(null=True)
    rejected_statement_id = models.UUIDField(null=True)
    rejection_detail = EncryptedTextField(null=True)  # the receiver's answer (excerpt)
    backlog = models.IntegerField(default=0)
    backlog_at = models.DateTimeField(null=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["org", "name"],
                                               name="one_forward_target_name_per_org")]

    def __str__(self) -> str:
        return f"forwarding target {self.name}"

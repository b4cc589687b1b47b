"""The audit log's tables. How the chain works, and why, is in ``audit.chain``.

``org``, ``actor_user`` and ``actor_api_key`` are foreign keys *without* a database
constraint and with ``DO_NOTHING``: deleting an organisation, a person or a key never
deletes or alters an audit row (which the append-only triggers would refuse anyway); the
row keeps the plain id.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.functional import cached_property


class ActorKind(models.TextChoices):
    USER = "user", "Person"
    API_KEY = "api_key", "API key"
    SYSTEM = "system", "System"
    ANONYMOUS = "anonymous", "Anonymous"


class Channel(models.TextChoices):
    WEB = "web", "Dashboard"
    API = "api", "API"
    CLI = "cli", "Command line"
    JOB = "job", "Background job"


class AuditEvent(models.Model):
    """One entry of the hash chain: who, through what, on which object; the sealed
    payload holds the actor's label and the before/after state."""

    seq = models.BigIntegerField(unique=True)
    uid = models.UUIDField(unique=True, editable=False)
    created_at = models.DateTimeField(db_index=True)
    org = models.ForeignKey(
        "orgs.Organisation", on_delete=models.DO_NOTHING, db_constraint=False, null=True,
        related_name="audit_events",
    )
    # the organisation's data key id the payload is sealed under; "" = stored in clear
    key_id = models.CharField(max_length=36, blank=True, default="")
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True,
        related_name="+",
    )
    actor_api_key = models.ForeignKey(
        "orgs.ApiKey", on_delete=models.DO_NOTHING, db_constraint=False, null=True,
        related_name="+",
    )
    channel = models.CharField(max_length=5, choices=Channel.choices)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    payload = models.BinaryField()
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["org", "-seq"], name="audit_org_seq"),
            models.Index(fields=["org", "action"], name="audit_org_action"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    @cached_property
    def payload_data(self) -> dict[str, Any] | str:
        """The opened payload, or a marker saying why it cannot be read."""
        from coursewright.audit.chain import read_payload

        return read_payload(self)

    @property
    def payload_readable(self) -> bool:
        return isinstance(self.payload_data, dict)

    @property
    def actor_label(self) -> str:
        data = self.payload_data
        return str(data.get("actor", "")) if isinstance(data, dict) else data

    @property
    def before(self) -> dict[str, Any]:
        data = self.payload_data
        return dict(data.get("before") or {}) if isinstance(data, dict) else {}

    @property
    def after(self) -> dict[str, Any]:
        data = self.payload_data
        return dict(data.get("after") or {}) if isinstance(data, dict) else {}


class AuditChainHead(models.Model):
    """The one row (pk=1) naming the chain's last entry. Appends lock it, which
    serialises writers; verification compares it with the last entry (truncation)."""

    seq = models.BigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"audit chain head at #{self.seq}"


class AuditCheckpoint(models.Model):
    """A signed statement "entry ``seq`` has hash ``entry_hash``". The Ed25519 private
    key is kept outside the database, so whoever can only write to the database cannot
    make a checkpoint, and a chain rewritten with recomputed hashes no longer matches."""

    seq = models.BigIntegerField(unique=True)
    entry_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=80)  # fingerprint of the signing public key
    signature = models.CharField(max_length=128)  # hex, 64 bytes

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"audit checkpoint at #{self.seq}"


class AuditPrune(models.Model):
    """Entries ``first_seq``..``last_seq`` were deleted by retention, up to a signed
    checkpoint; ``last_hash`` is where the remaining chain continues. Signed like a
    checkpoint, so nobody with only database access can pass a deletion off as a prune."""

    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField(unique=True)
    last_hash = models.CharField(max_length=64)
    entries = models.BigIntegerField()
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=80)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["last_seq"]

    def __str__(self) -> str:
        return f"audit entries #{self.first_seq}–#{self.last_seq} pruned"

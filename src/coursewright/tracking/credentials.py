"""LRS credentials: issuing, revoking and listing them (audited actions), the
organisation's LRS settings, and checking a request's credentials.

Design note
-----------
- **What a credential is.** A public ``key`` (the HTTP Basic user name, ``xk_`` + 24 hex)
  and a secret (the password, 256 random bits, shown once). An LRS checks credentials on
  every request, often a hundred times a second per client, so the secret is stored as
  its SHA-256 only: for a secret with 256 bits of entropy a slow password hash adds
  nothing (there is no dictionary to try) and would cost milliseconds per statement.
  The check is one indexed lookup by ``key`` and a constant-time comparison of digests.
- **Nothing is cached.** Each request reads the credential row (with its organisation
  and settings, one query), so a revocation refuses the very next request. ``last_used_at``
  is written at most once every five minutes per credential (a conditional update), not
  on every request.
- **Scope.** A credential belongs to one organisation and, optionally, to one license
  (a client LMS): a license's credential reads only statements and documents written
  through that license's credentials, an organisation's credential reads the whole
  organisation's statements (and its own documents). Scopes use the xAPI OAuth names
  (``statements/write``, ``statements/read``, ``statements/read/mine``, ``state``,
  ``profile``, ``define``, ``all/read``, ``all``).
- **Audit.** Issuing and revoking credentials and changing settings are changes people
  make, so each writes its audit row in the same transaction. Statements and documents
  the LRS receives are learner runtime records (like launch events), not audited
  changes: they have retention, export and deletion of their own (``tracking.privacy``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.errors import Conflict, Invalid
from coursewright.tracking.agents import AgentKeys
from coursewright.tracking.models import Scope, XapiCredential, XapiSettings

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.delivery.models import License
    from coursewright.orgs.models import Organisation

KEY_PREFIX = "xk_"
DEFAULT_SCOPES = ("statements/write", "statements/read/mine", "state", "profile")
LAST_USED_EVERY = timedelta(minutes=5)
READ_ALL = frozenset({Scope.STATEMENTS_READ, Scope.ALL_READ, Scope.ALL})


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _scopes(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise Invalid("scopes must be a list of scope names", code="bad_scopes")
    chosen = list(dict.fromkeys(values))
    unknown = [s for s in chosen if s not in Scope.values]
    if unknown or not chosen:
        raise Invalid(f"scopes must be some of {', '.join(Scope.values)}"
                      + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else ""),
                      code="bad_scopes")
    return chosen


def describe(credential: XapiCredential) -> dict[str, Any]:
    return {"name": credential.name, "key": credential.key, "scopes": credential.scopes,
            "license_id": credential.license_id,
            "revoked": credential.revoked_at is not None}


def issue_credential(org: Organisation, *, name: str, scopes: Iterable[str] = DEFAULT_SCOPES,
                     license: License | None = None,
                     actor: Actor) -> tuple[XapiCredential, str]:
    """A new credential and its secret (the only time the secret is seen)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("give the credential a name of 1 to 100 characters", code="bad_name")
    if license is not None and license.org_id != org.pk:
        raise Invalid("no such license in this organisation", code="bad_license")
    secret = secrets.token_urlsafe(32)
    credential = XapiCredential(org=org, license=license, name=name,
                                key=KEY_PREFIX + secrets.token_hex(12),
                                secret_hash=_digest(secret), scopes=_scopes(scopes),
                                created_by=actor.user if actor.is_person else None)
    with transaction.atomic():
        credential.save()
        record_event(org=org, actor=actor, action="xapi_credential.issued",
                     object_type="xapi_credential", object_id=credential.pk,
                     after=describe(credential))
    return credential, secret


def revoke_credential(credential: XapiCredential, *, actor: Actor) -> XapiCredential:
    with transaction.atomic():
        now = timezone.now()
        updated = XapiCredential.objects.filter(pk=credential.pk,
                                                revoked_at__isnull=True).update(revoked_at=now)
        if not updated:
            raise Conflict("this credential is already revoked", code="already_revoked")
        credential.revoked_at = now
        record_event(org=credential.org, actor=actor, action="xapi_credential.revoked",
                     object_type="xapi_credential", object_id=credential.pk,
                     before={"revoked": False}, after={"revoked": True})
    return credential


def list_credentials(org: Organisation) -> list[XapiCredential]:
    return list(XapiCredential.objects.filter(org=org).order_by("-id"))


def settings_for(org: Organisation) -> XapiSettings:
    found = XapiSettings.objects.filter(org=org).first()
    return found or XapiSettings(org=org)


def set_pseudonymise(org: Organisation, enabled: bool, *, actor: Actor) -> XapiSettings:
    """Switch pseudonymisation of direct identifiers on or off for statements received
    from now on (stored statements are not rewritten either way)."""
    with transaction.atomic():
        current, _ = XapiSettings.objects.select_for_update().get_or_create(org=org)
        before = current.pseudonymise
        current.pseudonymise = bool(enabled)
        current.save(update_fields=["pseudonymise", "updated_at"])
        record_event(org=org, actor=actor, action="xapi_settings.changed",
                     object_type="xapi_settings", object_id=org.pk,
                     before={"pseudonymise": before}, after={"pseudonymise": bool(enabled)})
    return current


# --- checking a request ---------------------------------------------------------------


@dataclass
class Caller:
    """Who is calling the LRS, as its credential says (read in one query per request)."""

    credential_id: int
    org_id: int
    license_id: int | None
    org_key_id: str
    name: str
    key: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    pseudonymise: bool = False

    @classmethod
    def of(cls, credential: XapiCredential) -> Caller:
        """The caller a credential row stands for (for in-process writers such as the
        cmi5 launching system; requests go through :func:`authenticate`)."""
        return cls(credential.pk, credential.org_id, credential.license_id,
                   str(credential.org.key_id), credential.name, credential.key,
                   frozenset(credential.scopes), settings_for(credential.org).pseudonymise)

    @cached_property
    def org(self) -> Organisation:
        from coursewright.orgs.models import Organisation

        return Organisation.objects.get(pk=self.org_id)

    @cached_property
    def keys(self) -> AgentKeys:
        return AgentKeys(self.org_key_id)

    @cached_property
    def authority(self) -> dict[str, Any]:
        return authority(self.name, self.key)

    def may(self, *wanted: str) -> bool:
        return bool(self.scopes & (set(wanted) | {Scope.ALL}))

    def may_read(self, *wanted: str) -> bool:
        return self.may(*wanted, Scope.ALL_READ)

    @property
    def reads_everything(self) -> bool:
        return bool(self.scopes & READ_ALL)


def authority(name: str, key: str) -> dict[str, Any]:
    """The agent the LRS records as a statement's authority: the credential itself."""
    return {"objectType": "Agent", "name": name,
            "account": {"homePage": f"{settings.BASE_URL}/xapi/credentials", "name": key}}


def authority_for(credential: XapiCredential) -> dict[str, Any]:
    return authority(credential.name, credential.key)


# One query, few columns, no ORM compilation: it runs before every LRS request.
_LOOKUP = (
    "SELECT c.id, c.org_id, c.license_id, c.name, c.secret_hash, c.scopes, o.key_id, "
    "s.pseudonymise, CASE WHEN c.last_used_at IS NULL OR c.last_used_at < %s THEN 1 "
    "ELSE 0 END FROM tracking_xapicredential c "
    "JOIN orgs_organisation o ON o.id = c.org_id "
    "LEFT JOIN tracking_xapisettings s ON s.org_id = c.org_id "
    "WHERE c.key = %s AND c.revoked_at IS NULL")


def authenticate(authorization: str | None) -> Caller | None:
    """The caller named by an ``Authorization: Basic`` header, or None."""
    import base64
    import binascii

    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded or len(encoded) > 512:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, sep, secret = decoded.partition(":")
    if not sep or not key.startswith(KEY_PREFIX) or len(key) > 40:
        return None
    import json
    import uuid

    from django.db import connection

    now = timezone.now()
    if connection.vendor == "postgresql":
        from coursewright.tracking.db import PREPARE, pg_cursor

        with pg_cursor() as raw:
            row = raw.execute(_LOOKUP, [now - LAST_USED_EVERY, key],
                              prepare=PREPARE).fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(_LOOKUP, [now - LAST_USED_EVERY, key])
            row = cursor.fetchone()
    if row is None:
        return None
    pk, org_id, license_id, name, secret_hash, scopes, key_id, pseudonymise, stale = row
    if not hmac.compare_digest(secret_hash, _digest(secret)):
        return None
    if stale:
        XapiCredential.objects.filter(pk=pk).update(last_used_at=now)
    if isinstance(scopes, str):
        scopes = json.loads(scopes)
    return Caller(pk, org_id, license_id, str(uuid.UUID(str(key_id))), name, key,
                  frozenset(scopes), bool(pseudonymise))

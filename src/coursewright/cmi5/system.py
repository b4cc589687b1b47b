"""The LRS credential the cmi5 launching system writes with, one per license.

Design note
-----------
- **Why a credential of its own.** The launching system writes the LMS's statements
  (launched, satisfied) and the LMS.LaunchData document into our LRS, and the LMS
  listener (``cmi5.listener``) hands the AU's requests, once they passed the cmi5
  checks, to the LRS under this credential. Statements therefore carry the license (a
  license's own LRS credentials read them) and the launching system as authority.
- **The secret never leaves the server.** It is an HMAC of the credential's public key
  under a key derived from the Django secret key, so nothing secret is stored beside the
  credential row (which holds only its SHA-256, like every LRS credential). An AU
  never sees it: AUs hold a per-session auth-token that only the listener accepts.
  Should the secret key change, or an administrator revoke the credential, the next
  use finds the digest no longer matches (or the row revoked) and makes a new one.
- Making it is runtime plumbing, like a launch session, not a change a person makes:
  no audit row (the credential is listed with the organisation's LRS credentials).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.db import IntegrityError, transaction
from django.utils.crypto import salted_hmac

from coursewright.cmi5.models import SystemCredential
from coursewright.delivery.models import License
from coursewright.tracking.credentials import KEY_PREFIX, Caller, authenticate
from coursewright.tracking.models import XapiCredential

NAME = "cmi5 launching system"
SALT = "coursewright.cmi5.system-credential"


def _secret(key: str) -> str:
    return salted_hmac(SALT, key, algorithm="sha256").hexdigest()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _usable(credential: XapiCredential) -> bool:
    return credential.revoked_at is None and hmac.compare_digest(
        credential.secret_hash, _digest(_secret(credential.key)))


def system_credential(license: License) -> XapiCredential:
    """The license's launching-system credential (made, or made again, when needed)."""
    found = (SystemCredential.objects.filter(license=license)
             .select_related("credential").first())
    if found is not None and _usable(found.credential):
        return found.credential
    key = KEY_PREFIX + secrets.token_hex(12)
    with transaction.atomic():
        credential = XapiCredential.objects.create(
            org_id=license.org_id, license=license, name=NAME, key=key,
            secret_hash=_digest(_secret(key)), scopes=["all"])
        try:
            with transaction.atomic():
                SystemCredential.objects.update_or_create(
                    license=license, defaults={"org_id": license.org_id,
                                               "credential": credential})
        except IntegrityError:  # a concurrent request made one first: use that
            credential.delete()
            return SystemCredential.objects.get(license=license).credential
    return credential


def basic_header(credential: XapiCredential) -> str:
    raw = f"{credential.key}:{_secret(credential.key)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def system_caller(license: License) -> Caller:
    """The LRS's view of the license's launching-system credential (read as the LRS reads
    any credential, so it follows the LRS's rules: scopes, pseudonymisation)."""
    caller = authenticate(basic_header(system_credential(license)))
    if caller is None:  # revoked between the two reads: make a new one
        caller = authenticate(basic_header(system_credential(license)))
    assert caller is not None
    return caller

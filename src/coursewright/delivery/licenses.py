"""Licenses: issuing, changing, suspending, revoking and reinstating a client LMS's right
to launch courses, and the signed token that carries it.

Design, and what it guarantees:

- **The token names the license; the database decides.** A token is a JWS (Ed25519,
  ``delivery.signing``) with the claims ``iss`` (this platform's ``BASE_URL``), ``aud``
  (``coursewright:gatekeeper``), ``sub`` (the license's random uid), ``iat`` and
  ``jti``. It holds no status, expiry, caps, origins or courses: the Gatekeeper reads
  all of those from the license row on every launch, so a change (revoke, suspend, a new
  expiry or cap) takes effect on the next launch — and extending a license needs no new
  package in the LMS. (A token that does carry an ``exp`` is refused after it.) Only the signing
  key's ``kid`` is stored (``License.token_kid``); the token is shown to the owner when
  it is minted and can be minted again (same claims, the current key), which does not
  invalidate the earlier tokens of the same license (revoke the license for that).
- **Status.** ``active`` → ``suspended`` (a pause) → ``active`` again (reinstate);
  ``active`` or ``suspended`` → ``revoked`` (the end of the contract): a revoked license
  is not edited and mints no tokens, but it can be reinstated (the contract is renewed),
  and then its existing tokens launch again; issue a new license when old tokens must
  never work again. Each change is a conditional update from the status the caller saw
  (a stale view cannot undo a change made meanwhile, e.g. reinstate what was just
  revoked), so two concurrent changes cannot both apply, and each writes its audit row.
- **Origins** are exact ``scheme://host[:port]`` values (http or https, no path,
  query, fragment or credentials; lower-cased, default port dropped), compared exactly
  with the browser's ``Origin`` header. An empty list means "any origin, or none".
- **Learners** are never stored as the LMS sends them: each license has a random salt
  (encrypted at rest) and the Gatekeeper keeps only HMAC-SHA256(salt, learner id).
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from coursewright.audit.actions import record_event
from coursewright.courses.models import Course
from coursewright.delivery import signing
from coursewright.delivery.models import License, LicenseStatus
from coursewright.errors import Conflict, Invalid

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

AUDIENCE = "coursewright:gatekeeper"
MAX_ORIGINS = 50
MAX_NAME = 200
_DEFAULT_PORTS = {"http": 80, "https": 443}


# --- validation ------------------------------------------------------------------------


def _origin_parts(value: str) -> str | None:
    """``value`` as a normalised origin, or None when it is not one."""
    if not isinstance(value, str) or not value.isascii() or any(c.isspace() for c in value):
        return None
    text = value[:-1] if value.endswith("/") else value
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if (scheme not in _DEFAULT_PORTS or not host or parts.path or parts.query
            or parts.fragment or "?" in text or "#" in text
            or parts.username is not None or parts.password is not None):
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6
    elif not all(c.isalnum() or c in "-." for c in host) or host.startswith((".", "-")):
        return None
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def normalise_origin(value: str) -> str:
    """A configured allowed origin, normalised; :class:`Invalid` when it is not one."""
    origin = _origin_parts(value)
    if origin is None:
        raise Invalid(
            f"{str(value)[:100]!r} is not an origin: write scheme://host or "
            "scheme://host:port with http or https and nothing after the host (no path); "
            "international domain names in their xn-- form",
            code="bad_origin")
    return origin


def request_origin(header: str | None) -> str | None:
    """The browser's ``Origin`` header, normalised; None when absent, ``null`` or not an
    origin (which only an empty allowed list accepts)."""
    if not header or header == "null":
        return None
    return _origin_parts(header)


def _origins(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise Invalid("allowed_origins must be a list of origins", code="bad_origin")
    origins = list(dict.fromkeys(normalise_origin(v) for v in values))
    if len(origins) > MAX_ORIGINS:
        raise Invalid(f"at most {MAX_ORIGINS} allowed origins", code="bad_origin")
    return origins


def _name(value: str) -> str:
    name = (value or "").strip()
    if not name or len(name) > MAX_NAME:
        raise Invalid(f"the name must be 1 to {MAX_NAME} characters", code="bad_name")
    return name


def _cap(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"{field} must be a positive whole number, or null for no cap",
                      code="bad_cap")
    if value > 2_000_000_000:
        raise Invalid(f"{field} is too large", code="bad_cap")
    return value


def _expiry(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        raise Invalid("expires_at needs a time zone (e.g. 2030-01-31T23:59:59Z)",
                      code="bad_expiry")
    if value <= timezone.now():
        raise Invalid("expires_at must be in the future", code="bad_expiry")
    return value


def _courses(org: Organisation, courses: Sequence[int | Course] | None) -> list[Course]:
    if courses is None or isinstance(courses, (str, bytes)):
        raise Invalid("courses must be a list of course ids", code="bad_courses")
    ids = list(dict.fromkeys(c.pk if isinstance(c, Course) else c for c in courses))
    if not ids:
        raise Invalid("a license needs at least one course", code="bad_courses")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Invalid("courses must be a list of course ids", code="bad_courses")
    found = {c.pk: c for c in Course.objects.filter(org=org, pk__in=ids)}
    unknown = [i for i in ids if i not in found]
    if unknown:
        # another organisation's course is reported exactly like one that does not exist
        raise Invalid(f"no such course in this organisation: {', '.join(map(str, unknown))}",
                      code="bad_courses")
    return [found[i] for i in ids]


def describe(license: License) -> dict[str, Any]:
    """The license's settings, as audit rows record them."""
    return {"name": license.name, "status": license.status,
            "expires_at": license.expires_at.isoformat() if license.expires_at else None,
            "allowed_origins": list(license.allowed_origins),
            "max_learners": license.max_learners, "max_launches": license.max_launches,
            "courses": sorted(license.courses.values_list("pk", flat=True))}


# --- tokens ----------------------------------------------------------------------------


def _claims(license: License) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": settings.BASE_URL, "aud": AUDIENCE,
                              "sub": str(license.uid), "iat": int(time.time()),
                              "jti": secrets.token_urlsafe(16)}
    return claims


@dataclass(frozen=True)
class LicenseClaims:
    license_uid: uuid.UUID
    exp: int | None
    kid: str


def read_token(token: str) -> LicenseClaims:
    """The license a token names, once its signature, issuer and audience check out.
    Raises :class:`signing.TokenRefused`. Expiry is the caller's to judge (it records the
    refusal against the license)."""
    verified = signing.verify(token)
    claims = verified.claims
    aud = claims.get("aud")
    if claims.get("iss") != settings.BASE_URL:
        raise signing.TokenRefused("bad_token", "the token was issued elsewhere")
    if aud != AUDIENCE and not (isinstance(aud, list) and AUDIENCE in aud):
        raise signing.TokenRefused("bad_token", "the token is not meant for the Gatekeeper")
    exp = claims.get("exp")
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
        raise signing.TokenRefused("bad_token", "the token's expiry is not a time")
    try:
        license_uid = uuid.UUID(str(claims.get("sub", "")))
    except ValueError:
        raise signing.TokenRefused("bad_token", "the token names no license") from None
    return LicenseClaims(license_uid, int(exp) if exp is not None else None, verified.kid)


def hash_learner(license: License, learner_id: str) -> str:
    """The learner's pseudonym on this license: HMAC-SHA256 keyed by the license salt."""
    return hmac.new(license.learner_salt.encode(), learner_id.encode("utf-8"),
                    sha256).hexdigest()


# --- actions ---------------------------------------------------------------------------


def issue_license(org: Organisation, *, name: str, courses: Sequence[int | Course],
                  expires_at: datetime | None = None,
                  allowed_origins: Iterable[str] = (), max_learners: int | None = None,
                  max_launches: int | None = None, actor: Actor) -> tuple[License, str]:
    """A new active license and its token (the only time the caller sees both at once)."""
    license = License(org=org, name=_name(name), expires_at=_expiry(expires_at),
                      allowed_origins=_origins(allowed_origins),
                      max_learners=_cap(max_learners, "max_learners"),
                      max_launches=_cap(max_launches, "max_launches"),
                      learner_salt=secrets.token_hex(32),
                      created_by=actor.user if actor.is_person else None,
                      status_changed_at=timezone.now())
    chosen = _courses(org, courses)
    token, kid = signing.sign(_claims(license))
    license.token_kid = kid
    with transaction.atomic():
        license.save()
        license.courses.set(chosen)
        record_event(org=org, actor=actor, action="license.issued", object_type="license",
                     object_id=license.pk, after={**describe(license), "token_kid": kid})
    return license, token


def license_token(license: License, *, actor: Actor) -> str:
    """A fresh token for ``license`` (same claims, the current signing key). Earlier
    tokens keep working: they name the same license."""
    if license.status == LicenseStatus.REVOKED:
        raise Conflict("This license is revoked; issue a new license instead.",
                       code="license_revoked")
    token, kid = signing.sign(_claims(license))
    with transaction.atomic():
        License.objects.filter(pk=license.pk).update(token_kid=kid)
        license.token_kid = kid
        record_event(org=license.org, actor=actor, action="license.token_minted",
                     object_type="license", object_id=license.pk, after={"token_kid": kid})
    return token


_UNSET: Any = object()


def update_license(license: License, *, actor: Actor, name: str = _UNSET,
                   expires_at: datetime | None = _UNSET,
                   allowed_origins: Iterable[str] = _UNSET,
                   max_learners: int | None = _UNSET, max_launches: int | None = _UNSET,
                   courses: Sequence[int | Course] = _UNSET) -> License:
    """Change the settings given (the others stay). Lowering a cap below what was used
    refuses new launches (or new learners) from then on; launches already made stay."""
    if license.status == LicenseStatus.REVOKED:
        raise Conflict("This license is revoked and can no longer be changed.",
                       code="license_revoked")
    before = describe(license)
    fields: list[str] = []
    if name is not _UNSET:
        license.name = _name(name)
        fields.append("name")
    if expires_at is not _UNSET:
        license.expires_at = _expiry(expires_at)
        fields.append("expires_at")
    if allowed_origins is not _UNSET:
        license.allowed_origins = _origins(allowed_origins or [])
        fields.append("allowed_origins")
    if max_learners is not _UNSET:
        license.max_learners = _cap(max_learners, "max_learners")
        fields.append("max_learners")
    if max_launches is not _UNSET:
        license.max_launches = _cap(max_launches, "max_launches")
        fields.append("max_launches")
    chosen = _courses(license.org, courses) if courses is not _UNSET else None
    with transaction.atomic():
        if fields:
            license.save(update_fields=fields)
        if chosen is not None:
            license.courses.set(chosen)
        after = describe(license)
        changed = {k for k in after if after[k] != before[k]}
        if changed:
            record_event(org=license.org, actor=actor, action="license.updated",
                         object_type="license", object_id=license.pk,
                         before={k: before[k] for k in sorted(changed)},
                         after={k: after[k] for k in sorted(changed)})
    return license


def _change_status(license: License, *, to: str, allowed_from: Sequence[str], action: str,
                   actor: Actor, reason: str, refusal: str) -> License:
    now = timezone.now()
    reason = (reason or "").strip()[:500]
    with transaction.atomic():
        before = (License.objects.select_for_update().filter(pk=license.pk)
                  .values_list("status", flat=True).first())
        if before is not None and before != license.status:
            raise Conflict(f"The license was changed meanwhile (it is {before} now); "
                           "look at it again.", code="wrong_status")
        changed = before in allowed_from and License.objects.filter(
            pk=license.pk, status=before).update(status=to, status_changed_at=now)
        if not changed:
            raise Conflict(refusal.format(status=before or "gone"), code="wrong_status")
        license.status, license.status_changed_at = to, now
        record_event(org=license.org, actor=actor, action=action, object_type="license",
                     object_id=license.pk, before={"status": before},
                     after={"status": to, "reason": reason})
    return license


def suspend_license(license: License, *, actor: Actor, reason: str = "") -> License:
    return _change_status(license, to=LicenseStatus.SUSPENDED,
                          allowed_from=[LicenseStatus.ACTIVE], action="license.suspended",
                          actor=actor, reason=reason,
                          refusal="Only an active license can be suspended; this one is "
                                  "{status}.")


def revoke_license(license: License, *, actor: Actor, reason: str = "") -> License:
    return _change_status(license, to=LicenseStatus.REVOKED,
                          allowed_from=[LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED],
                          action="license.revoked", actor=actor, reason=reason,
                          refusal="This license is already {status}.")


def reinstate_license(license: License, *, actor: Actor, reason: str = "") -> License:
    """Make a suspended or revoked license active again: its existing tokens launch
    again from the next request (revoking is an end, not a deletion; issue a new license
    instead when the old tokens must never work again)."""
    return _change_status(license, to=LicenseStatus.ACTIVE,
                          allowed_from=[LicenseStatus.SUSPENDED, LicenseStatus.REVOKED],
                          action="license.reinstated", actor=actor, reason=reason,
                          refusal="Only a suspended or revoked license can be reinstated; "
                                  "this one is {status}.")

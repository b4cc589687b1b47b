"""LTI under the privacy rules: retention, the organisation's export and deletion, and
one learner's records.

Design note
-----------
- **Short-lived by construction.** Login states live ten minutes and used nonces until
  their id_token expires; a daily job (``expire_records``) deletes both once expired.
  The learner's LTI ``sub`` on a launch (sealed; the AGS ``userId``) is erased by the
  same job once the launch session has ended and no grade is pending.
- **Launch records.** ``LtiLaunch`` rows are launch logs: the organisation's
  ``launch_logs`` retention rule purges them with the Gatekeeper's launch events
  (``register`` chains the purge).
- **The organisation.** Its export lists the registrations (settings; never a cached
  key set) and the launches' metadata (never the ``sub``); its deletion removes them by
  cascade from the organisation, counted in the receipt.
- **One learner.** An LTI learner is known to the Gatekeeper as
  ``lti.launch.learner_id`` (a digest of issuer, client id and ``sub``); given the
  platform's ``sub``, ``pseudonyms`` finds their pseudonym under each registration's
  license, so the learner export and deletion reach their launch records too.
- Functions here write no audit row, except the expiry job's: the caller (``privacy.*``)
  writes the receipt.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils import timezone

from coursewright.lti.models import (
    GradeState,
    LoginState,
    LtiLaunch,
    PlatformRegistration,
    UsedNonce,
)

if TYPE_CHECKING:
    from coursewright.orgs.models import Organisation


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def expire_records(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    states, _ = LoginState.objects.filter(expires_at__lt=now).delete()
    nonces, _ = UsedNonce.objects.filter(expires_at__lt=now).delete()
    return {"login_states": states, "used_nonces": nonces,
            "subjects_forgotten": forget_subjects(now)}


def forget_subjects(now: datetime | None = None) -> int:
    """Erase the ``sub`` of launches whose session ended and whose grade is settled."""
    from coursewright.delivery.models import LaunchSession

    now = now or timezone.now()
    live = LaunchSession.objects.filter(expires_at__gt=now).values("pk")
    return (LtiLaunch.objects.filter(subject__isnull=False)
            .exclude(grade_state=GradeState.PENDING)
            .filter(Q(session__isnull=True) | ~Q(session__in=live))
            .update(subject=None))


def purge_launches(org: Organisation, cutoff: datetime) -> int:
    old = LtiLaunch.objects.filter(org=org, created_at__lt=cutoff)
    count = old.count()
    if count:
        old.delete()
    return count


def register() -> None:
    """Chain ``purge_launches`` after the launch-log purge (once)."""
    from coursewright.privacy import retention
    from coursewright.privacy.models import Category

    launch_logs = retention.PURGERS[Category.LAUNCH_LOGS]
    if getattr(launch_logs, "with_lti_launches", False):
        return

    def with_lti(org: Organisation, cutoff: datetime) -> int:
        return launch_logs(org, cutoff) + purge_launches(org, cutoff)

    with_lti.with_lti_launches = True  # type: ignore[attr-defined]
    for name in ("with_webhook_deliveries",):  # keep the markers of earlier links
        if getattr(launch_logs, name, False):
            setattr(with_lti, name, True)
    retention.PURGERS[Category.LAUNCH_LOGS] = with_lti


def registration_row(reg: PlatformRegistration) -> dict[str, Any]:
    return {"id": reg.pk, "uid": str(reg.uid), "name": reg.name, "issuer": reg.issuer,
            "client_id": reg.client_id, "deployment_ids": list(reg.deployment_ids),
            "jwks_url": reg.jwks_url, "auth_url": reg.auth_url, "token_url": reg.token_url,
            "license_id": reg.license_id, "active": reg.active,
            "created_at": _iso(reg.created_at)}


def launch_row(launch: LtiLaunch) -> dict[str, Any]:
    return {"id": launch.pk, "registration_id": launch.registration_id,
            "course_id": launch.course_id, "learner": launch.learner,
            "deployment_id": launch.deployment_id,
            "resource_link_id": launch.resource_link_id,
            "grade_state": launch.grade_state, "grade_attempts": launch.attempts,
            "created_at": _iso(launch.created_at)}


def org_export(org: Organisation) -> dict[str, list[dict[str, Any]]]:
    return {
        "lti_registrations": [registration_row(r) for r in
                              PlatformRegistration.objects.filter(org=org).order_by("pk")],
        "lti_launches": [launch_row(x) for x in LtiLaunch.objects.filter(org=org)
                         .defer("subject").order_by("pk").iterator(chunk_size=1000)],
    }


def org_counts(org: Organisation) -> dict[str, int]:
    counts = {"lti_registrations": PlatformRegistration.objects.filter(org=org).count(),
              "lti_launches": LtiLaunch.objects.filter(org=org).count()}
    return {k: v for k, v in counts.items() if v}


def pseudonyms(org: Organisation, subject: str) -> dict[int, str]:
    """License id -> the pseudonym of the LTI user ``subject`` (the platform's ``sub``)
    under each of the organisation's registrations."""
    from coursewright.delivery.licenses import hash_learner
    from coursewright.lti.launch import learner_id

    found: dict[int, str] = {}
    for reg in PlatformRegistration.objects.filter(org=org).select_related("license"):
        found[reg.license_id] = hash_learner(reg.license, learner_id(reg, subject))
    return found


def learner_launches(org: Organisation, hashes: Iterable[str]) -> list[dict[str, Any]]:
    return [launch_row(x) for x in LtiLaunch.objects.filter(
        org=org, learner__in=[h for h in hashes if h]).defer("subject").order_by("pk")]


def delete_learner_launches(org: Organisation, hashes: Iterable[str]) -> dict[str, int]:
    count, _ = LtiLaunch.objects.filter(org=org, learner__in=[h for h in hashes if h]).delete()
    return {"lti_launches": count} if count else {}

"""Delete or export one anonymous learner's records.

Design note
-----------
We never store a learner's identity: a learner reaches us only as the opaque id the
client LMS uses, and every record keeps HMAC-SHA256(license salt, that id) — a
different pseudonym per license. So a request names the learner the way the LMS knows
them (its learner id), and we recompute the pseudonym under each of the organisation's
licenses to find their rows:

* launch events, launch sessions and the license's record of distinct learners
  (``delivery``); completion records will join this list when tracking stores them.
* A partner's user of embedded pages, whom the partner names by that same opaque id:
  their embed sessions, one-time codes and embedded player attempts (``embed.privacy``:
  refresh families and their tokens' hashes, codes, progress rows, found by the id's
  keyed hash); deleting them ends those sessions at once.
* Webhook deliveries of events about them (``webhooks.privacy``: commenced, completed),
  which carry the same pseudonym.
* An LTI 1.3 user, named by the platform's ``sub``: the Gatekeeper knows them under
  each registration's license by another pseudonym (``lti.privacy.pseudonyms``), so
  their launch records are found under those too, with their LTI launch records.
* Graded free-text answers (``assist``) are keyed to a random id the player makes per
  browser tab, never to the LMS id, so they cannot be tied to a learner on request; they
  are removed by the learner-records retention rule instead. The receipt says so.

A deletion is one transaction with a receipt in the audit log (counts only; the learner
id itself is not written anywhere, the receipt names the pseudonyms' count). An export
returns the learner's rows as JSON, with the pseudonyms, and is recorded as a read.
A distinct-learner cap keeps counting a deleted learner (the count is a licence fact,
not a record of the person).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from coursewright.audit.actions import record_event, record_read
from coursewright.embed.privacy import delete_user_records as delete_embed_user
from coursewright.embed.privacy import learner_hash as embed_learner_hash
from coursewright.embed.privacy import user_export as embed_user_export
from coursewright.errors import Invalid
from coursewright.lti.privacy import delete_learner_launches as delete_lti_launches
from coursewright.lti.privacy import learner_launches
from coursewright.lti.privacy import pseudonyms as lti_pseudonyms
from coursewright.privacy.deletion import DeletionReceipt
from coursewright.privacy.export import cmi5_registration_row, player_error_row, progress_row
from coursewright.tracking.privacy import delete_learner_records, learner_export
from coursewright.webhooks.privacy import delete_learner_records as delete_webhook_records
from coursewright.webhooks.privacy import learner_export as webhook_export

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

MAX_ID = 255
NOT_LINKABLE_XAPI = ("xAPI statements a third party sent naming a person by e-mail (mbox) "
                     "or by another account are not linked to the LMS id; only our own "
                     "launches' pseudonymous accounts are")
NOT_LINKABLE = ("graded free-text answers are keyed to a per-tab random id, not the LMS "
                "id; the learner-records retention rule removes them")


def _pseudonyms(org: Organisation, learner_id: str) -> dict[int, str]:
    """License id -> this learner's pseudonym under that license."""
    from coursewright.delivery.licenses import hash_learner
    from coursewright.delivery.models import License

    learner_id = learner_id.strip()
    if not learner_id or len(learner_id) > MAX_ID:
        raise Invalid(f"Give the learner's id as the LMS knows it (1 to {MAX_ID} characters)",
                      code="bad_learner_id")
    return {lic.pk: hash_learner(lic, learner_id) for lic in License.objects.filter(org=org)}


def _rows(org: Organisation, pseudonyms: dict[int, str]) -> dict[str, Any]:
    from django.db.models import Q

    from coursewright.cmi5.models import Registration
    from coursewright.delivery.models import (
        LaunchEvent,
        LaunchProgress,
        LaunchSession,
        LicenseLearner,
        PlayerError,
    )

    def match(field: str = "license_id") -> Q:
        q = Q(pk__in=[])
        for license_id, learner in pseudonyms.items():
            q |= Q(**{field: license_id, "learner": learner})
        return q

    return {
        "launch_events": LaunchEvent.objects.filter(match(), org=org),
        "launch_progress": LaunchProgress.objects.filter(match(), org=org),
        "player_errors": PlayerError.objects.filter(match(), org=org),
        "launch_sessions": LaunchSession.objects.filter(match(), org=org),
        # cmi5 registrations and, with them, their AU sessions
        "cmi5_registrations": Registration.objects.filter(match(), org=org),
        "license_learners": LicenseLearner.objects.filter(match(), license__org=org),
    }


def export_learner(org: Organisation, learner_id: str, *, actor: Actor) -> dict[str, Any]:
    pseudonyms = _pseudonyms(org, learner_id)
    rows = _rows(org, pseudonyms)
    data: dict[str, Any] = {
        "organisation": org.slug,
        "exported_at": timezone.now().isoformat(),
        "pseudonyms": [{"license_id": k, "learner": v} for k, v in sorted(pseudonyms.items())],
        "launch_events": [{
            "id": e.pk, "license_id": e.license_id, "course_id": e.course_id,
            "deployment_id": e.deployment_id, "outcome": e.outcome, "reason": e.reason,
            "origin": e.origin, "created_at": e.created_at.isoformat(),
        } for e in rows["launch_events"].order_by("id")],
        "launch_sessions": [{
            "id": s.pk, "license_id": s.license_id, "course_id": s.course_id,
            "version_id": s.version_id, "created_at": s.created_at.isoformat(),
            "expires_at": s.expires_at.isoformat(),
        } for s in rows["launch_sessions"].order_by("id")],
        "launch_progress": [progress_row(p) for p in rows["launch_progress"].order_by("id")],
        "cmi5_registrations": [cmi5_registration_row(r) for r in
                               rows["cmi5_registrations"].order_by("id")
                               .prefetch_related("sessions")],
        "player_errors": [player_error_row(e) for e in rows["player_errors"].order_by("id")],
        "licenses_seen_on": sorted(r.license_id for r in rows["license_learners"]),
        **learner_export(org, pseudonyms.values()),
        # an embedded page's user: the same id, as the partner gave it (coursewright.embed)
        **embed_user_export(org, learner_id.strip()),
        # webhook events about them (commenced, completed) and what was sent
        **webhook_export(org, [*pseudonyms.values(),
                               embed_learner_hash(org, learner_id.strip())]),
        "not_included": [NOT_LINKABLE, NOT_LINKABLE_XAPI],
    }
    # an LTI user, named by the platform's ``sub`` (coursewright.lti)
    lti = lti_pseudonyms(org, learner_id.strip())
    if lti:
        lti_rows = _rows(org, lti)
        data["lti"] = {
            "pseudonyms": [{"license_id": k, "learner": v} for k, v in sorted(lti.items())],
            "launch_events": [{"id": e.pk, "license_id": e.license_id,
                               "course_id": e.course_id, "outcome": e.outcome,
                               "reason": e.reason, "created_at": e.created_at.isoformat()}
                              for e in lti_rows["launch_events"].order_by("id")],
            "launch_progress": [progress_row(p) for p in
                                lti_rows["launch_progress"].order_by("id")],
            "lti_launches": learner_launches(org, lti.values()),
        }
    record_read(org=org, actor=actor, object_type="learner", object_id=0,
                details={"what": "learner export",
                         "records": sum(len(data[k]) for k in (
                             "launch_events", "launch_sessions", "launch_progress",
                             "player_errors", "xapi_statements", "xapi_documents"))})
    return data


def delete_learner(org: Organisation, learner_id: str, *, actor: Actor,
                   reason: str = "") -> DeletionReceipt:
    pseudonyms = _pseudonyms(org, learner_id)
    with transaction.atomic():
        counts: dict[str, int] = {}
        for name, queryset in _rows(org, pseudonyms).items():
            deleted, _ = queryset.delete()
            counts[name] = deleted
        counts.update(delete_learner_records(org, pseudonyms.values()))
        counts.update(delete_embed_user(org, learner_id.strip()))
        counts.update(delete_webhook_records(
            org, [*pseudonyms.values(), embed_learner_hash(org, learner_id.strip())]))
        # an LTI user, named by the platform's ``sub`` (coursewright.lti)
        lti = lti_pseudonyms(org, learner_id.strip())
        if lti:
            counts.update(delete_lti_launches(org, lti.values()))
            for name, queryset in _rows(org, lti).items():
                deleted, _ = queryset.delete()
                counts[name] = counts.get(name, 0) + deleted
            counts.update({k: v + counts.get(k, 0) for k, v in delete_webhook_records(
                org, lti.values()).items()})
        receipt = DeletionReceipt(kind="learner", object_id=0, org_id=org.pk,
                                  deleted_at=timezone.now(), deleted_by=actor.label,
                                  channel=str(actor.channel), reason=reason[:500],
                                  counts=counts)
        after = receipt.as_json()
        after["pseudonyms_checked"] = len(pseudonyms)
        after["not_included"] = NOT_LINKABLE
        record_event(org=org, actor=actor, action="deletion.learner", object_type="learner",
                     object_id=0, after=after)
    return receipt

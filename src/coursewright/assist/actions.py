"""State changes of learner-facing AI: one function each, one transaction, one audit row."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from coursewright.assist.access import mint_token, token_digest
from coursewright.assist.models import AssistAccess, GradingRecord, GradingStatus
from coursewright.audit.actions import record_event
from coursewright.audit.actor import Actor
from coursewright.courses.models import IMMUTABLE_STATES, CourseVersion
from coursewright.errors import Conflict, Forbidden, Invalid
from coursewright.orgs.models import REVIEWING_ROLES, Membership

MAX_NOTE = 2000


def enable_assist(version: CourseVersion, *, actor: Actor, tutor: bool = True,
                  grading: bool = True) -> AssistAccess:
    """Switch the tutor and/or AI grading on for an approved version's learners.

    The first switch-on mints the version's player token (``assist.access``); changing
    which features are on keeps it. Turning both off is ``disable_assist``."""
    if version.state not in IMMUTABLE_STATES:
        raise Conflict("Only an approved or published version can have a tutor or AI "
                       "grading: learners see only approved content.", code="not_approved")
    if not (tutor or grading):
        raise Invalid("Switch on the tutor, AI grading or both (to switch both off, "
                      "disable assist for the version).", code="nothing_enabled")
    with transaction.atomic():
        access = AssistAccess.objects.select_for_update().filter(version=version).first()
        before: dict[str, Any] = {}
        if access is None:
            token = mint_token()
            access = AssistAccess(org_id=version.org_id, version=version,
                                  token_sha256=token_digest(token), token=token,
                                  tutor=tutor, grading=grading, enabled_by=actor.user)
            access.save()
        else:
            before = {"tutor": access.tutor, "grading": access.grading}
            access.tutor, access.grading = tutor, grading
            access.save(update_fields=["tutor", "grading", "updated_at"])
        record_event(org=version.org, actor=actor, action="assist.enabled",
                     object_type="course_version", object_id=version.pk, before=before,
                     after={"tutor": tutor, "grading": grading,
                            "token_minted": not before})
    _forget_packages(version)
    return access


def _forget_packages(version: CourseVersion) -> None:
    """Stored packages carry the player's assist settings: drop them to be rebuilt."""
    from coursewright.publishing.actions import forget_exports

    forget_exports(version)


def disable_assist(version: CourseVersion, *, actor: Actor) -> bool:
    """Switch both off and destroy the token: every copy in packages stops working."""
    with transaction.atomic():
        access = AssistAccess.objects.select_for_update().filter(version=version).first()
        if access is None:
            return False
        before = {"tutor": access.tutor, "grading": access.grading}
        access.delete()
        record_event(org=version.org, actor=actor, action="assist.disabled",
                     object_type="course_version", object_id=version.pk, before=before,
                     after={"tutor": False, "grading": False, "token_revoked": True})
    _forget_packages(version)
    return True


def record_grading(access: AssistAccess, *, block_id: str, learner: str, answer: str,
                   verdicts: list[dict[str, Any]], score: int, max_score: int,
                   provider: str, model: str, actor: Actor) -> GradingRecord:
    version = access.version
    with transaction.atomic():
        record = GradingRecord(org_id=access.org_id, course_id=version.course_id,
                               version=version, block_id=block_id, learner_ref=learner,
                               answer=answer, result={"criteria": verdicts},
                               provider=provider, model=model[:120], ai_score=score,
                               max_score=max_score)
        record.save()
        record_event(org=access.org, actor=actor, action="assist.answer_graded",
                     object_type="grading_record", object_id=record.pk,
                     after={"version": version.pk, "block_id": block_id, "ai_score": score,
                            "max_score": max_score, "provider": provider})
    return record


def check_can_review_grading(record: GradingRecord, actor: Actor) -> None:
    if not actor.is_person or actor.user is None:
        raise Forbidden("Only a signed-in person with the reviewer role can review a grade; "
                        "API keys and automated jobs never can.", code="person_required")
    role = (Membership.objects.filter(org_id=record.org_id, user=actor.user)
            .values_list("role", flat=True).first())
    if role not in REVIEWING_ROLES:
        raise Forbidden("Only a reviewer, admin or owner of this organisation can review "
                        "a grade.", code="reviewer_required")


def review_grading(record: GradingRecord, *, actor: Actor, score: int,
                   note: str = "") -> GradingRecord:
    """A person sets the final score (and says why); the AI's grade is kept beside it."""
    check_can_review_grading(record, actor)
    note = note.strip()
    if not 0 <= score <= record.max_score:
        raise Invalid(f"The score must be between 0 and {record.max_score}.",
                      code="bad_score")
    if len(note) > MAX_NOTE:
        raise Invalid(f"Keep the note under {MAX_NOTE} characters.", code="note_too_long")
    with transaction.atomic():
        record = GradingRecord.objects.select_for_update().get(pk=record.pk)
        before = {"status": record.status, "score": record.score}
        record.final_score = score
        record.review_note = note
        record.status = GradingStatus.REVIEWED
        record.reviewed_by = actor.user
        record.reviewed_at = timezone.now()
        record.save(update_fields=["final_score", "review_note", "status", "reviewed_by",
                                   "reviewed_at"])
        record_event(org=record.org, actor=actor, action="assist.grading_reviewed",
                     object_type="grading_record", object_id=record.pk, before=before,
                     after={"status": record.status, "score": score,
                            "ai_score": record.ai_score, "note": note})
    return record

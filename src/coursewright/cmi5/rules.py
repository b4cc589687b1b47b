"""The cmi5 rules the LMS listener applies to statements an AU sends (sections 6.3, 7.1,
9.3-9.6), before the LRS stores them.

Design note
-----------
- **Identity first.** Every statement sent with a session's auth-token must name the
  session's actor, and its registration (when it gives one) must be the session's: an AU
  writes for its learner and enrollment only. No voiding (section 6.3).
- **"cmi5 defined" statements** (the cmi5 category in ``context.contextActivities``,
  or a cmi5 verb about the AU's activity) must be about the session's activity, carry
  the registration and the session id, use a verb the AU may send (initialized,
  completed, passed, failed, terminated), and keep the result rules: success true for
  passed and false for failed, completion true for completed, a score only in passed
  and failed (consistent with the mastery score: passed at or above it, failed below),
  a duration in completed, passed, failed and terminated, and the moveon category
  exactly on those with success or completion.
- **Ordering** (section 9.3), by timestamp: initialized first and once; terminated
  last and once; no cmi5 verb twice in a session; at most one of passed and failed per
  session; completed and passed once per registration; no failed after passed. Once
  "terminated" arrived the session accepts, for ``GRACE``, only late statements whose
  timestamp is not after it (requests of the same page that crossed on the way), then
  none (section 9.3.8).
- **launchMode.** In Browse and Review only initialized and terminated are accepted
  among the cmi5 defined statements (section 10).
- A refusal is a 403 naming the rule; nothing of the request is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from coursewright.cmi5.launching import (
    CMI5_CATEGORY,
    MASTERY_EXT,
    MOVEON_CATEGORY,
    SESSION_EXT,
    VERB,
    learner_actor,
)
from coursewright.cmi5.models import AuSession, LaunchMode
from coursewright.tracking.agents import canonical_ifi
from coursewright.tracking.validation import VOIDED, parse_timestamp

GRACE = timedelta(seconds=60)
AU_VERBS = {VERB[v]: v for v in ("initialized", "completed", "passed", "failed",
                                 "terminated")}
LMS_VERBS = {VERB[v] for v in ("launched", "abandoned", "waived", "satisfied")}
JUDGED = ("completed", "passed", "failed")
NEEDS_DURATION = ("completed", "passed", "failed", "terminated")


class Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Verdict:
    """What a checked request will change when the LRS has stored it."""

    verbs: list[str] = field(default_factory=list)  # cmi5 defined verbs, in order
    initialized: bool = False
    terminated_at: datetime | None = None


def _ids(items: Any) -> list[str]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return []
    return [str(i["id"]) for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]


def _activities(context: dict[str, Any], key: str) -> list[str]:
    found = context.get("contextActivities")
    return _ids(found.get(key)) if isinstance(found, dict) else []


def _when(statement: dict[str, Any]) -> datetime:
    moment = parse_timestamp(statement.get("timestamp")) if "timestamp" in statement else None
    return moment or timezone.now()


def _score(result: dict[str, Any]) -> Decimal | None:
    score = result.get("score")
    if not isinstance(score, dict) or "scaled" not in score:
        return None
    try:
        return Decimal(str(score["scaled"]))
    except InvalidOperation:
        return None


def _check_defined(session: AuSession, statement: dict[str, Any], verb: str,
                   context: dict[str, Any], result: dict[str, Any]) -> None:
    obj = statement.get("object")
    if not isinstance(obj, dict) or obj.get("id") != session.activity_id:
        raise Refused("a cmi5 defined statement must be about the AU's activity "
                      "(the launch's activityId)")
    if context.get("registration", "").lower() != str(session.registration.registration):
        raise Refused("a cmi5 defined statement must carry the launch's registration")
    extensions = context.get("extensions")
    if not isinstance(extensions, dict) or extensions.get(SESSION_EXT) != str(session.session_id):
        raise Refused("a cmi5 defined statement must carry the session id of "
                      "LMS.LaunchData's contextTemplate")
    if session.au_id not in _activities(context, "grouping"):
        raise Refused("a cmi5 defined statement must keep the contextTemplate's grouping "
                      "activity (the AU's publisher id)")
    if verb not in ("initialized", "terminated") and session.launch_mode != LaunchMode.NORMAL:
        raise Refused(f"in {session.launch_mode} mode an AU sends only initialized and "
                      "terminated")
    expected = {"passed": ("success", True), "failed": ("success", False),
                "completed": ("completion", True)}
    for key in ("success", "completion"):
        if key in result and expected.get(verb, ("", None))[0] != key:
            raise Refused(f"a {verb} statement must not include result.{key}")
    if verb in expected:
        key, value = expected[verb]
        if result.get(key) is not value:
            raise Refused(f"a {verb} statement must set result.{key} to "
                          f"{str(value).lower()}")
    if "score" in result and verb not in ("passed", "failed"):
        raise Refused(f"a {verb} statement must not include a score")
    if verb in NEEDS_DURATION and "duration" not in result:
        raise Refused(f"a {verb} statement must include result.duration")
    moveon = MOVEON_CATEGORY in _activities(context, "category")
    if moveon != (verb in JUDGED):
        raise Refused("the moveon category belongs on completed, passed and failed "
                      "statements, and only there")
    scaled = _score(result)
    if scaled is not None and session.mastery_score is not None:
        if verb == "passed" and scaled < session.mastery_score:
            raise Refused("a passed statement's scaled score must be at least the "
                          "masteryScore")
        if verb == "failed" and scaled >= session.mastery_score:
            raise Refused("a failed statement's scaled score must be below the "
                          "masteryScore")
    if verb in ("passed", "failed") and session.mastery_score is not None and scaled is not None:
        given = extensions.get(MASTERY_EXT)
        if given is None or Decimal(str(given)) != session.mastery_score:
            raise Refused("a passed or failed statement judged by the masteryScore must "
                          "carry it in the masteryscore context extension")


def check(session: AuSession, items: list[Any]) -> Verdict:
    """Check statements an AU sends (see the module note); raise :class:`Refused`."""
    actor = canonical_ifi(learner_actor(session.registration.learner))
    verdict = Verdict()
    seen = list(session.verbs)
    achieved = session.registration.achieved.get(session.au_id, {})
    initialized = session.initialized_at is not None
    terminated = session.terminated_at
    now = timezone.now()
    if terminated is not None and now - terminated > GRACE:
        raise Refused("this AU session has ended (terminated)")
    statements = [s for s in items if isinstance(s, dict)]
    for statement in sorted(statements, key=_when):
        if not isinstance(statement.get("actor"), dict) or \
                canonical_ifi(statement["actor"]) != actor:
            raise Refused("statements must name the launch's actor")
        verb_id = (statement.get("verb") or {}).get("id") if isinstance(
            statement.get("verb"), dict) else None
        if verb_id == VOIDED:
            raise Refused("an AU may not void statements")
        if verb_id in LMS_VERBS:
            raise Refused("launched, abandoned, waived and satisfied are the LMS's to send")
        context = statement.get("context") if isinstance(statement.get("context"), dict) else {}
        assert isinstance(context, dict)
        registration = context.get("registration")
        if registration is not None and str(registration).lower() != str(
                session.registration.registration):
            raise Refused("statements must use the launch's registration")
        result = statement.get("result") if isinstance(statement.get("result"), dict) else {}
        assert isinstance(result, dict)
        defined = CMI5_CATEGORY in _activities(context, "category") or (
            verb_id in AU_VERBS and isinstance(statement.get("object"), dict)
            and statement["object"].get("id") == session.activity_id)
        verb = AU_VERBS.get(verb_id or "", "") if defined else ""
        if defined and not verb:
            raise Refused("a cmi5 defined statement must use a cmi5 verb the AU may send")
        if terminated is not None and _when(statement) > terminated:
            raise Refused("nothing may follow terminated")
        if not initialized and verb != "initialized":
            raise Refused("initialized must be the session's first statement")
        if not verb:
            continue  # "cmi5 allowed": between initialized and terminated
        _check_defined(session, statement, verb, context, result)
        if verb in seen:
            raise Refused(f"{verb} was already sent in this session")
        if verb in ("passed", "failed") and ({"passed", "failed"} & set(seen)):
            raise Refused("a session has at most one of passed and failed")
        if verb in ("completed", "passed") and achieved.get(verb):
            raise Refused(f"{verb} was already sent in this registration")
        if verb == "failed" and achieved.get("passed"):
            raise Refused("failed may not follow passed in a registration")
        seen.append(verb)
        verdict.verbs.append(verb)
        if verb == "initialized":
            initialized = verdict.initialized = True
        if verb == "terminated":
            terminated = verdict.terminated_at = _when(statement)
    return verdict

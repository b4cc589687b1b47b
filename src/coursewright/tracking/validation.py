"""Strict validation of xAPI statements (1.0.3 and 2.0.0 / IEEE 9274.1.1).

Every object is checked for its required properties, the types of its values and for
properties the specification does not define (refused: a misspelt or mis-cased key is
the most common client error, and 2.0 makes refusing them a requirement). Values with a
format — IRIs, UUIDs, mailto IRIs, timestamps, durations, RFC 5646 language tags — are
checked by their syntax; the LRS never fetches an IRI. ``null`` is refused everywhere
except inside extensions, which hold arbitrary JSON.

Where the two versions differ the caller passes ``v2``: 2.0 adds ``contextAgents`` and
``contextGroups``, allows ``version`` 2.0.x and an RFC 3339 timestamp with a space for
the ``T``, and a 1.0.x request may not use the 2.0 additions.

Errors are :class:`XapiError` with the HTTP status (400) and a message naming the
property path, which the LRS returns as the body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}$")
# an absolute IRI: a scheme, a colon and something, no white space or characters that
# RFC 3987 never allows unescaped
IRI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]+$")
MBOX_RE = re.compile(r"^mailto:[^@\s:/?#]+@[^@\s/?#]+$")
SHA1_RE = re.compile(r"^[0-9a-fA-F]{40}$")
SHA2_RE = re.compile(r"^[0-9a-fA-F]{64}$")
VERSION_1_RE = re.compile(r"^1\.0(\.\d+)?$")
VERSION_2_RE = re.compile(r"^2\.0(\.\d+)?$")
_NUM = r"\d+(?:[.,]\d+)?"
# ISO 8601:2004 4.4.3.2: PnYnMnDTnHnMnS, or weeks alone (PnW: "P4W1D" is not valid)
DURATION_RE = re.compile(
    rf"^P(?:{_NUM}W|(?!$)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}D)?"
    rf"(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?)$")
_TZ = r"(?P<tz>[Zz]|(?P<sign>[+-])(?P<th>\d{2})(?::?(?P<tm>\d{2}))?)?"
TIMESTAMP_EXTENDED = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})(?P<sep>[Tt ])(?P<h>\d{2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?" + _TZ + "$")
TIMESTAMP_BASIC = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})(?P<sep>[Tt])(?P<h>\d{2})(?P<mi>\d{2})"
    r"(?:(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?" + _TZ.replace("(?::?", "(?:") + "$")

# RFC 5646 (BCP 47) syntax, including the grandfathered tags. A four-letter primary
# language subtag is reserved (RFC 5646 2.2.1) and never valid, so it is refused.
_LANGTAG = re.compile(
    r"^(?:(?P<language>[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{5,8})"
    r"(?:-(?P<script>[A-Za-z]{4}))?"
    r"(?:-(?P<region>[A-Za-z]{2}|\d{3}))?"
    r"(?P<variants>(?:-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*)"
    r"(?P<extensions>(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*)"
    r"(?:-[Xx](?:-[A-Za-z0-9]{1,8})+)?"
    r"|[Xx](?:-[A-Za-z0-9]{1,8})+)$")
GRANDFATHERED = frozenset(t.lower() for t in (
    "en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon",
    "i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-BE-FR",
    "sgn-BE-NL", "sgn-CH-DE", "art-lojban", "cel-gaulish", "no-bok", "no-nyn",
    "zh-guoyu", "zh-hakka", "zh-min", "zh-min-nan", "zh-xiang"))

INTERACTION_TYPES = frozenset({"true-false", "choice", "fill-in", "long-fill-in",
                               "matching", "performance", "sequencing", "likert",
                               "numeric", "other"})
# which interaction component lists each interaction type may carry
COMPONENTS = {"choices": {"choice", "sequencing"}, "scale": {"likert"},
              "source": {"matching"}, "target": {"matching"}, "steps": {"performance"}}
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"

STATEMENT_KEYS = frozenset({"id", "actor", "verb", "object", "result", "context",
                            "timestamp", "stored", "authority", "version", "attachments"})
SUBSTATEMENT_KEYS = frozenset({"objectType", "actor", "verb", "object", "result",
                               "context", "timestamp", "attachments"})
AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
GROUP_KEYS = AGENT_KEYS | {"member"}
IFI_KEYS = ("mbox", "mbox_sha1sum", "openid", "account")
DEFINITION_KEYS = frozenset({"name", "description", "type", "moreInfo", "extensions",
                             "interactionType", "correctResponsesPattern", "choices",
                             "scale", "source", "target", "steps"})
CONTEXT_KEYS = frozenset({"registration", "instructor", "team", "contextActivities",
                          "revision", "platform", "language", "statement", "extensions"})
CONTEXT_KEYS_V2 = CONTEXT_KEYS | {"contextAgents", "contextGroups"}
ATTACHMENT_KEYS = frozenset({"usageType", "display", "description", "contentType",
                             "length", "sha2", "fileUrl"})


class XapiError(Exception):
    """A request the LRS refuses, with the HTTP status the specification requires."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def fail(path: str, problem: str) -> XapiError:
    return XapiError(400, f"{path}: {problem}" if path else problem)


# --- scalar formats ----------------------------------------------------------------------


def is_iri(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 8192 and IRI_RE.match(value) is not None


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and UUID_RE.match(value) is not None


def is_language_tag(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 100 and _language_tag(value)


@lru_cache(maxsize=4096)
def _language_tag(value: str) -> bool:
    if value.lower() in GRANDFATHERED:
        return True
    match = _LANGTAG.match(value)
    if match is None:
        return False
    variants = [v.lower() for v in (match.group("variants") or "").split("-") if v]
    if len(variants) != len(set(variants)):
        return False
    extensions = match.group("extensions") or ""
    singletons = [part.lower() for part in extensions.split("-") if len(part) == 1]
    return len(singletons) == len(set(singletons))


def parse_timestamp(value: object, *, v2: bool = True) -> datetime | None:
    """The moment a timestamp names (UTC when it gives no offset), or None when it is
    not an ISO 8601 date and time. An offset of "-00", "-0000" or "-00:00" (RFC 3339's
    "unknown local offset") is refused, as the specification requires."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = TIMESTAMP_EXTENDED.match(value) or TIMESTAMP_BASIC.match(value)
    if match is None or (match.group("sep") == " " and not v2):
        return None
    parts = match.groupdict()
    try:
        tz: timezone = UTC
        if parts["tz"] and parts["tz"] not in ("Z", "z"):
            hours, minutes = int(parts["th"]), int(parts["tm"] or 0)
            if parts["sign"] == "-" and hours == 0 and minutes == 0:
                return None
            if hours > 23 or minutes > 59:
                return None
            offset = timedelta(hours=hours, minutes=minutes)
            tz = timezone(-offset if parts["sign"] == "-" else offset)
        fraction = (parts["f"] or "0")[:6].ljust(6, "0")
        return datetime(int(parts["y"]), int(parts["mo"]), int(parts["d"]), int(parts["h"]),
                        int(parts["mi"]), int(parts["s"] or 0), int(fraction), tzinfo=tz)
    except ValueError:
        return None


# --- the validator -----------------------------------------------------------------------


class Validator:
    def __init__(self, *, v2: bool) -> None:
        self.v2 = v2

    # helpers
    @staticmethod
    def obj(value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(path, "must be a JSON object")
        return value

    @staticmethod
    def keys(value: dict[str, Any], allowed: frozenset[str], path: str) -> None:
        extra = [k for k in value if k not in allowed]
        if extra:
            raise fail(path, f"unknown propert{'y' if len(extra) == 1 else 'ies'} "
                             f"{', '.join(sorted(map(repr, extra)))}")

    @staticmethod
    def string(value: object, path: str) -> str:
        if not isinstance(value, str):
            raise fail(path, "must be a string")
        return value

    @staticmethod
    def iri(value: object, path: str) -> str:
        if not is_iri(value):
            raise fail(path, "must be an absolute IRI")
        assert isinstance(value, str)
        return value

    @staticmethod
    def uuid(value: object, path: str) -> str:
        if not is_uuid(value):
            raise fail(path, "must be a UUID")
        assert isinstance(value, str)
        return value

    @staticmethod
    def boolean(value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise fail(path, "must be true or false")
        return value

    @staticmethod
    def number(value: object, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(path, "must be a number")
        return float(value)

    def timestamp(self, value: object, path: str) -> None:
        if parse_timestamp(value, v2=self.v2) is None:
            raise fail(path, "must be an ISO 8601 date and time (with a time zone other "
                             "than -00:00)")

    def language_map(self, value: object, path: str) -> None:
        mapping = self.obj(value, path)
        for tag, text in mapping.items():
            if not is_language_tag(tag):
                raise fail(path, f"{tag!r} is not an RFC 5646 language tag")
            if not isinstance(text, str):
                raise fail(f"{path}.{tag}", "must be a string")

    def extensions(self, value: object, path: str) -> None:
        mapping = self.obj(value, path)
        for key in mapping:
            if not is_iri(key):
                raise fail(path, f"the extension key {key!r} is not an IRI")

    # actors
    def agent(self, value: object, path: str, *, object_type_required: bool = False) -> None:
        agent = self.obj(value, path)
        kind = agent.get("objectType", None if not object_type_required else "")
        if "objectType" in agent and kind not in ("Agent", "Group"):
            raise fail(f"{path}.objectType", 'must be "Agent" or "Group"')
        if kind == "Group":
            self.group(agent, path)
            return
        if object_type_required and kind != "Agent":
            raise fail(f"{path}.objectType", 'must be "Agent" or "Group"')
        self.keys(agent, AGENT_KEYS, path)
        if "name" in agent:
            self.string(agent["name"], f"{path}.name")
        if self.ifi_count(agent, path) != 1:
            raise fail(path, "an Agent needs exactly one of mbox, mbox_sha1sum, openid, "
                             "account")

    def group(self, group: dict[str, Any], path: str) -> None:
        self.keys(group, GROUP_KEYS, path)
        if "name" in group:
            self.string(group["name"], f"{path}.name")
        identified = self.ifi_count(group, path)
        if identified > 1:
            raise fail(path, "a Group has at most one of mbox, mbox_sha1sum, openid, "
                             "account")
        members = group.get("member")
        if members is None and "member" in group:
            raise fail(f"{path}.member", "must be an array of Agents")
        if members is not None:
            if not isinstance(members, list):
                raise fail(f"{path}.member", "must be an array of Agents")
            for index, member in enumerate(members):
                member_path = f"{path}.member[{index}]"
                if isinstance(member, dict) and member.get("objectType") == "Group":
                    raise fail(member_path, "a Group's members are Agents, not Groups")
                self.agent(member, member_path)
        if not identified and not members:
            raise fail(path, "an anonymous Group (no identifier) must list its members")

    def ifi_count(self, agent: dict[str, Any], path: str) -> int:
        count = 0
        if "mbox" in agent:
            count += 1
            if not isinstance(agent["mbox"], str) or not MBOX_RE.match(agent["mbox"]):
                raise fail(f"{path}.mbox", 'must be a "mailto:" IRI of an e-mail address')
        if "mbox_sha1sum" in agent:
            count += 1
            if not isinstance(agent["mbox_sha1sum"], str) or not SHA1_RE.match(
                    agent["mbox_sha1sum"]):
                raise fail(f"{path}.mbox_sha1sum", "must be a SHA-1 hex digest")
        if "openid" in agent:
            count += 1
            self.iri(agent["openid"], f"{path}.openid")
        if "account" in agent:
            count += 1
            account = self.obj(agent["account"], f"{path}.account")
            self.keys(account, frozenset({"homePage", "name"}), f"{path}.account")
            if "homePage" not in account or "name" not in account:
                raise fail(f"{path}.account", "needs homePage and name")
            self.iri(account["homePage"], f"{path}.account.homePage")
            self.string(account["name"], f"{path}.account.name")
        return count

    def authority(self, value: object, path: str) -> None:
        authority = self.obj(value, path)
        if authority.get("objectType") == "Group":
            self.group(authority, path)
            members = authority.get("member") or []
            if self.ifi_count(authority, path) or len(members) != 2:
                raise fail(path, "an authority Group is an anonymous Group of exactly two "
                                 "Agents (an OAuth consumer and user)")
            return
        self.agent(authority, path)

    # verb, activity
    def verb(self, value: object, path: str) -> None:
        verb = self.obj(value, path)
        self.keys(verb, frozenset({"id", "display"}), path)
        if "id" not in verb:
            raise fail(path, "needs an id")
        self.iri(verb["id"], f"{path}.id")
        if "display" in verb:
            self.language_map(verb["display"], f"{path}.display")

    def activity(self, activity: dict[str, Any], path: str) -> None:
        self.keys(activity, frozenset({"objectType", "id", "definition"}), path)
        if "id" not in activity:
            raise fail(path, "an Activity needs an id")
        self.iri(activity["id"], f"{path}.id")
        if "definition" in activity:
            self.definition(activity["definition"], f"{path}.definition")

    def definition(self, value: object, path: str) -> None:
        definition = self.obj(value, path)
        self.keys(definition, DEFINITION_KEYS, path)
        for key in ("name", "description"):
            if key in definition:
                self.language_map(definition[key], f"{path}.{key}")
        if "type" in definition:
            self.iri(definition["type"], f"{path}.type")
        if "moreInfo" in definition:
            self.iri(definition["moreInfo"], f"{path}.moreInfo")
        if "extensions" in definition:
            self.extensions(definition["extensions"], f"{path}.extensions")
        interaction = definition.get("interactionType")
        if "interactionType" in definition and interaction not in INTERACTION_TYPES:
            raise fail(f"{path}.interactionType",
                       f"must be one of {', '.join(sorted(INTERACTION_TYPES))}")
        if "correctResponsesPattern" in definition:
            if interaction is None:
                raise fail(path, "correctResponsesPattern needs an interactionType")
            pattern = definition["correctResponsesPattern"]
            if not isinstance(pattern, list) or not all(isinstance(p, str) for p in pattern):
                raise fail(f"{path}.correctResponsesPattern", "must be an array of strings")
        for key, types in COMPONENTS.items():
            if key not in definition:
                continue
            if interaction not in types:
                raise fail(f"{path}.{key}", f"is only for interactionType "
                                            f"{' or '.join(sorted(types))}")
            components = definition[key]
            if not isinstance(components, list):
                raise fail(f"{path}.{key}", "must be an array of interaction components")
            seen: set[str] = set()
            for index, component in enumerate(components):
                component_path = f"{path}.{key}[{index}]"
                item = self.obj(component, component_path)
                self.keys(item, frozenset({"id", "description"}), component_path)
                if "id" not in item:
                    raise fail(component_path, "needs an id")
                component_id = self.string(item["id"], f"{component_path}.id")
                if component_id in seen:
                    raise fail(component_path, f"the id {component_id!r} is used twice")
                seen.add(component_id)
                if "description" in item:
                    self.language_map(item["description"], f"{component_path}.description")

    # object
    def target(self, value: object, path: str, *, sub: bool) -> str:
        """Validates the object; returns its objectType."""
        obj = self.obj(value, path)
        kind = obj.get("objectType", "Activity")
        if kind == "Activity":
            self.activity(obj, path)
        elif kind in ("Agent", "Group"):
            self.agent(obj, path, object_type_required=True)
        elif kind == "StatementRef":
            self.keys(obj, frozenset({"objectType", "id"}), path)
            if "id" not in obj:
                raise fail(path, "a StatementRef needs an id")
            self.uuid(obj["id"], f"{path}.id")
        elif kind == "SubStatement":
            if sub:
                raise fail(path, "a SubStatement cannot contain another SubStatement")
            self.statement_body(obj, path, sub=True)
        else:
            raise fail(f"{path}.objectType", "must be Activity, Agent, Group, StatementRef "
                                             "or SubStatement")
        return str(kind)

    # result, context
    def result(self, value: object, path: str) -> None:
        result = self.obj(value, path)
        self.keys(result, frozenset({"score", "success", "completion", "response",
                                     "duration", "extensions"}), path)
        if "score" in result:
            score = self.obj(result["score"], f"{path}.score")
            self.keys(score, frozenset({"scaled", "raw", "min", "max"}), f"{path}.score")
            numbers = {k: self.number(score[k], f"{path}.score.{k}") for k in score}
            if "scaled" in numbers and not -1 <= numbers["scaled"] <= 1:
                raise fail(f"{path}.score.scaled", "must be between -1 and 1")
            low, high, raw = numbers.get("min"), numbers.get("max"), numbers.get("raw")
            if low is not None and high is not None and low >= high:
                raise fail(f"{path}.score", "min must be less than max")
            if raw is not None and ((low is not None and raw < low)
                                    or (high is not None and raw > high)):
                raise fail(f"{path}.score.raw", "must be between min and max")
        for key in ("success", "completion"):
            if key in result:
                self.boolean(result[key], f"{path}.{key}")
        if "response" in result:
            self.string(result["response"], f"{path}.response")
        if "duration" in result:
            duration = result["duration"]
            if not isinstance(duration, str) or not DURATION_RE.match(duration):
                raise fail(f"{path}.duration", "must be an ISO 8601 duration")
        if "extensions" in result:
            self.extensions(result["extensions"], f"{path}.extensions")

    def context(self, value: object, path: str, *, object_kind: str) -> None:
        context = self.obj(value, path)
        self.keys(context, CONTEXT_KEYS_V2 if self.v2 else CONTEXT_KEYS, path)
        if "registration" in context:
            self.uuid(context["registration"], f"{path}.registration")
        if "instructor" in context:
            self.agent(context["instructor"], f"{path}.instructor")
        if "team" in context:
            team = self.obj(context["team"], f"{path}.team")
            if team.get("objectType") != "Group":
                raise fail(f"{path}.team", 'must be a Group (objectType "Group")')
            self.group(team, f"{path}.team")
        if "contextActivities" in context:
            self.context_activities(context["contextActivities"],
                                    f"{path}.contextActivities")
        for key in ("revision", "platform"):
            if key in context:
                self.string(context[key], f"{path}.{key}")
                if object_kind != "Activity":
                    raise fail(f"{path}.{key}", "is only allowed when the object is an "
                                                "Activity")
        if "language" in context and not is_language_tag(context["language"]):
            raise fail(f"{path}.language", "must be an RFC 5646 language tag")
        if "statement" in context:
            ref = self.obj(context["statement"], f"{path}.statement")
            self.keys(ref, frozenset({"objectType", "id"}), f"{path}.statement")
            if ref.get("objectType") != "StatementRef":
                raise fail(f"{path}.statement", 'must be a StatementRef')
            self.uuid(ref.get("id"), f"{path}.statement.id")
        if "extensions" in context:
            self.extensions(context["extensions"], f"{path}.extensions")
        for key, kind, member in (("contextAgents", "contextAgent", "agent"),
                                  ("contextGroups", "contextGroup", "group")):
            if key not in context:
                continue
            entries = context[key]
            if not isinstance(entries, list) or not entries:
                raise fail(f"{path}.{key}", f"must be a non-empty array of {kind} objects")
            for index, entry in enumerate(list(entries)):
                entry_path = f"{path}.{key}[{index}]"
                item = self.obj(entry, entry_path)
                self.keys(item, frozenset({"objectType", member, "relevantTypes"}),
                          entry_path)
                if item.get("objectType") != kind:
                    raise fail(f"{entry_path}.objectType", f'must be "{kind}"')
                if member not in item:
                    raise fail(entry_path, f"needs {member}")
                if member == "group":
                    group = self.obj(item["group"], f"{entry_path}.group")
                    if group.get("objectType") != "Group":
                        raise fail(f"{entry_path}.group", 'must be a Group')
                    self.group(group, f"{entry_path}.group")
                else:
                    self.agent(item["agent"], f"{entry_path}.agent")
                if "relevantTypes" in item:
                    types = item["relevantTypes"]
                    if not isinstance(types, list) or not types:
                        raise fail(f"{entry_path}.relevantTypes",
                                   "must be a non-empty array of IRIs")
                    for t_index, iri in enumerate(types):
                        self.iri(iri, f"{entry_path}.relevantTypes[{t_index}]")

    def context_activities(self, value: object, path: str) -> None:
        activities = self.obj(value, path)
        self.keys(activities, frozenset({"parent", "grouping", "category", "other"}), path)
        for key, entry in activities.items():
            items = entry if isinstance(entry, list) else [entry]
            for index, item in enumerate(items):
                item_path = f"{path}.{key}[{index}]"
                activity = self.obj(item, item_path)
                if activity.get("objectType", "Activity") != "Activity":
                    raise fail(item_path, "context activities must be Activities")
                self.activity(activity, item_path)

    def attachments(self, value: object, path: str) -> None:
        if not isinstance(value, list):
            raise fail(path, "must be an array of attachments")
        for index, entry in enumerate(value):
            item_path = f"{path}[{index}]"
            attachment = self.obj(entry, item_path)
            self.keys(attachment, ATTACHMENT_KEYS, item_path)
            for key in ("usageType", "display", "contentType", "length", "sha2"):
                if key not in attachment:
                    raise fail(item_path, f"needs {key}")
            self.iri(attachment["usageType"], f"{item_path}.usageType")
            self.language_map(attachment["display"], f"{item_path}.display")
            if "description" in attachment:
                self.language_map(attachment["description"], f"{item_path}.description")
            self.string(attachment["contentType"], f"{item_path}.contentType")
            length = attachment["length"]
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise fail(f"{item_path}.length", "must be a whole number of bytes")
            if not isinstance(attachment["sha2"], str) or not SHA2_RE.match(
                    attachment["sha2"]):
                raise fail(f"{item_path}.sha2", "must be a SHA-256 hex digest")
            if "fileUrl" in attachment:
                self.iri(attachment["fileUrl"], f"{item_path}.fileUrl")

    # statements
    def statement_body(self, statement: dict[str, Any], path: str, *, sub: bool) -> None:
        for key in ("actor", "verb", "object"):
            if key not in statement:
                raise fail(path, f"a {'SubStatement' if sub else 'Statement'} needs {key}")
        self.agent(statement["actor"], f"{path}.actor" if path else "actor")
        self.verb(statement["verb"], f"{path}.verb" if path else "verb")
        kind = self.target(statement["object"], f"{path}.object" if path else "object",
                           sub=sub)
        prefix = f"{path}." if path else ""
        if "result" in statement:
            self.result(statement["result"], f"{prefix}result")
        if "context" in statement:
            self.context(statement["context"], f"{prefix}context", object_kind=kind)
        if "timestamp" in statement:
            self.timestamp(statement["timestamp"], f"{prefix}timestamp")
        if "attachments" in statement:
            self.attachments(statement["attachments"], f"{prefix}attachments")
        if sub:
            self.keys(statement, SUBSTATEMENT_KEYS, path)
        elif statement["verb"].get("id") == VOIDED and kind != "StatementRef":
            raise fail("object", 'a voiding statement\'s object must be a StatementRef')

    def statement(self, value: object) -> dict[str, Any]:
        statement = self.obj(value, "statement")
        self.keys(statement, STATEMENT_KEYS, "statement")
        if "id" in statement:
            self.uuid(statement["id"], "id")
        self.statement_body(statement, "", sub=False)
        if "stored" in statement:
            self.timestamp(statement["stored"], "stored")
        if "authority" in statement:
            self.authority(statement["authority"], "authority")
        if "version" in statement:
            version = statement["version"]
            pattern_ok = isinstance(version, str) and (
                VERSION_1_RE.match(version) or (self.v2 and VERSION_2_RE.match(version)))
            if not pattern_ok:
                raise fail("version", "must be 1.0 or 1.0.x" + (" or 2.0.x" if self.v2
                                                                 else ""))
        return statement


def validate_statement(value: object, *, v2: bool) -> dict[str, Any]:
    return Validator(v2=v2).statement(value)


def validate_agent(value: object, path: str = "agent", *, v2: bool = True) -> dict[str, Any]:
    """An Agent or identified Group, as a query parameter names one."""
    validator = Validator(v2=v2)
    agent = validator.obj(value, path)
    if agent.get("objectType") == "Group":
        validator.keys(agent, GROUP_KEYS, path)
        if validator.ifi_count(agent, path) != 1:
            raise fail(path, "a Group named here must be identified (one of mbox, "
                             "mbox_sha1sum, openid, account)")
        for index, member in enumerate(agent.get("member") or []):
            validator.agent(member, f"{path}.member[{index}]")
        return agent
    validator.agent(agent, path)
    return agent

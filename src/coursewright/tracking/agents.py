"""Agents: their identifiers, the keyed hashes the index columns hold, and the optional
pseudonymisation of direct identifiers.

Design note
-----------
- **Index hashes.** An agent is equal to another when both carry the same inverse
  functional identifier (IFI: mbox, mbox_sha1sum, openid or account) and the same
  objectType. The statement and document tables hold
  ``HMAC-SHA256(k_org, canonical IFI)`` (first 128 bits, hex), where ``k_org`` is derived
  from the organisation's first data key (``privacy.keys``), so equal agents match inside
  an organisation, the column says nothing about the person, the same e-mail hashes
  differently in another organisation, and destroying the organisation's key makes the
  hashes unlinkable too. Key version 1 is used on purpose: rotating the data key must
  not change the hashes of stored rows.
- **Learners from our own launches** are accounts whose name is the per-license learner
  pseudonym (``delivery.licenses.hash_learner``) and whose homePage is
  :func:`learner_home_page`; that is how ``tracking.privacy`` finds a learner's rows.
- **Pseudonymisation** (an organisation's ``XapiSettings.pseudonymise``), for
  statements sent by third parties that name people directly: on ingestion every
  Agent's ``mbox``, ``mbox_sha1sum`` and ``openid`` is replaced by an account
  ``{homePage: <platform>/xapi/pseudonyms, name: HMAC(k'_org, IFI)}`` and its ``name``
  is dropped (group names are kept: they name teams, not people). Queries and document
  requests naming an agent by its original mbox are mapped through the same function,
  so they still match. The trade-off: the original identifier is gone — the LRS cannot
  give it back, another system holding the same learner's mbox cannot join on it
  without asking us to map it, a signed statement no longer matches its signature once
  stored (the signature is checked before the mapping), and accounts (already opaque
  by construction) are kept as sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings

from coursewright.privacy.keys import data_key

INDEX_LABEL = b"coursewright xapi agent index v1"
PSEUDONYM_LABEL = b"coursewright xapi pseudonym v1"
DIRECT_IFIS = ("mbox", "mbox_sha1sum", "openid")


def learner_home_page() -> str:
    return f"{settings.BASE_URL}/xapi/learners"


def pseudonym_home_page() -> str:
    return f"{settings.BASE_URL}/xapi/pseudonyms"


def learner_account(pseudonym: str) -> dict[str, Any]:
    """The xAPI actor of a learner launched through our packages: an account named by
    the per-license pseudonym, never the LMS's id or the person's name."""
    return {"objectType": "Agent",
            "account": {"homePage": learner_home_page(), "name": pseudonym}}


def canonical_ifi(agent: dict[str, Any]) -> str | None:
    kind = "Group" if agent.get("objectType") == "Group" else "Agent"
    if "mbox" in agent:
        return f"{kind}|mbox|{agent['mbox']}"
    if "mbox_sha1sum" in agent:
        return f"{kind}|mbox_sha1sum|{str(agent['mbox_sha1sum']).lower()}"
    if "openid" in agent:
        return f"{kind}|openid|{agent['openid']}"
    account = agent.get("account")
    if isinstance(account, dict):
        return f"{kind}|account|" + json.dumps([account.get("homePage"), account.get("name")],
                                               ensure_ascii=False)
    return None


class AgentKeys:
    """The organisation's agent-hashing keys, derived once per request."""

    def __init__(self, org_key_id: str) -> None:
        root = data_key(org_key_id, 1).key
        self._index = hmac.new(root, INDEX_LABEL, hashlib.sha256).digest()
        self._pseudonym = hmac.new(root, PSEUDONYM_LABEL, hashlib.sha256).digest()

    def hash_ifi(self, ifi: str) -> str:
        return hmac.new(self._index, ifi.encode(), hashlib.sha256).hexdigest()[:32]

    def hash(self, agent: dict[str, Any]) -> str:
        """The index hash of an agent or identified group ('' for an anonymous group:
        it has no identity to match)."""
        ifi = canonical_ifi(agent)
        return self.hash_ifi(ifi) if ifi else ""

    def pseudonym(self, ifi: str) -> str:
        return hmac.new(self._pseudonym, ifi.encode(), hashlib.sha256).hexdigest()[:32]

    def pseudonymise(self, agent: dict[str, Any]) -> dict[str, Any]:
        """``agent`` with its direct identifiers replaced (see the module's note)."""
        is_group = agent.get("objectType") == "Group"
        out = {k: v for k, v in agent.items()
               if k not in DIRECT_IFIS and (is_group or k != "name")}
        if any(k in agent for k in DIRECT_IFIS):
            ifi = canonical_ifi(agent)
            assert ifi is not None
            out["account"] = {"homePage": pseudonym_home_page(), "name": self.pseudonym(ifi)}
        if is_group and isinstance(agent.get("member"), list):
            out["member"] = [self.pseudonymise(m) if isinstance(m, dict) else m
                             for m in agent["member"]]
        return out

    def pseudonymise_statement(self, statement: dict[str, Any]) -> None:
        """Pseudonymise every person a statement names, in place (the authority is the
        LRS's own and stays)."""
        statement["actor"] = self.pseudonymise(statement["actor"])
        obj = statement["object"]
        if obj.get("objectType") in ("Agent", "Group"):
            statement["object"] = self.pseudonymise(obj)
        elif obj.get("objectType") == "SubStatement":
            self.pseudonymise_statement(obj)
        context = statement.get("context")
        if isinstance(context, dict):
            for key in ("instructor", "team"):
                if isinstance(context.get(key), dict):
                    context[key] = self.pseudonymise(context[key])
            for entry in context.get("contextAgents") or []:
                entry["agent"] = self.pseudonymise(entry["agent"])
            for entry in context.get("contextGroups") or []:
                entry["group"] = self.pseudonymise(entry["group"])

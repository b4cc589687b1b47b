"""Embed sessions under the privacy rules: one partner user's rows (export, deletion)
and the organisation export.

A partner's user is known here only by the id the partner chose, sealed, and found by
its keyed hash (``embed.actions.subject_digest``). Their rows are refresh families
(scope, courses, times, the minting key) with the hashes of their tokens. Deleting a
user's rows ends their embedded sessions at once (the tokens' rows are gone, so the
live check refuses them). Org deletion needs nothing here: every row cascades with the
organisation and with its API keys. Expired rows go hourly (``embed.tasks``), so there
is no retention category to apply. Functions here write no audit row: the caller
(``privacy.learners`` / ``privacy.export``) writes the receipt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coursewright.embed.actions import subject_digest
from coursewright.embed.models import EmbedAccessToken, EmbedFamily, EmbedRefreshToken

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from coursewright.orgs.models import Organisation


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _family_row(family: EmbedFamily, *, with_user: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"id": family.pk, "uid": str(family.uid)}
    if with_user:
        row["user"] = family.subject
    row.update({
        "scope": family.scope,
        "courses": "*" if family.courses is None else family.courses,
        "api_key_id": family.api_key_id, "access_ttl": family.access_ttl,
        "created_at": _iso(family.created_at), "expires_at": _iso(family.expires_at),
        "refreshed_at": _iso(family.refreshed_at), "revoked_at": _iso(family.revoked_at),
        "revoked_reason": family.revoked_reason or None,
        "access_tokens": EmbedAccessToken.objects.filter(family=family).count(),
        "refresh_tokens": EmbedRefreshToken.objects.filter(family=family).count(),
    })
    return row


def _user_families(org: Organisation, user: str) -> QuerySet[EmbedFamily]:
    return EmbedFamily.objects.filter(org=org, subject_digest=subject_digest(org, user))


def user_export(org: Organisation, user: str) -> dict[str, list[dict[str, Any]]]:
    return {"embed_sessions": [_family_row(f, with_user=False)
                               for f in _user_families(org, user).order_by("pk")]}


def delete_user_records(org: Organisation, user: str) -> dict[str, int]:
    """Delete the user's families with their tokens (inside the caller's transaction).
    Counted only when there were some, like the receipts' other newer kinds."""
    families = _user_families(org, user)
    count = families.count()
    families.delete()
    return {"embed_sessions": count} if count else {}


def org_export(org: Organisation) -> list[dict[str, Any]]:
    """Every family of the organisation, with the partner's user id (never a token or a
    token hash)."""
    return [_family_row(f, with_user=True)
            for f in EmbedFamily.objects.filter(org=org).order_by("pk")]

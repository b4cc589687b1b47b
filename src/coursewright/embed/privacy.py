"""Embed data under the privacy rules: one partner user's rows (export, deletion) and
the organisation export.

A partner's user is known here only by the id the partner chose, sealed, and found by
its keyed hash (``embed.actions.subject_digest``). Their rows are refresh families
(scope, courses, times, the minting key) with the hashes of their tokens, one-time codes
issued for them, and — for a learner of the embedded player — their attempts, which are
``delivery.LaunchProgress`` rows with no license, keyed to that same hash
(``embed.playing``). Deleting a user's rows ends their embedded sessions at once (the
tokens' rows are gone, so the live check refuses them) and removes their progress.
Org deletion needs nothing here: every row cascades with the organisation and with its
API keys, and progress rows go with the organisation's launch records. Expired tokens
and codes go hourly (``embed.tasks``); attempts follow the learner-records retention
rule like every progress row. The organisation export lists the sessions, the codes'
metadata (never a code or its hash) and the allow-list of embedding origins. Functions
here write no audit row: the caller (``privacy.learners`` / ``privacy.export``) writes
the receipt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coursewright.embed.actions import subject_digest
from coursewright.embed.models import (
    EmbedAccessToken,
    EmbedCode,
    EmbedFamily,
    EmbedOrigin,
    EmbedRefreshToken,
)

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


def _user_codes(org: Organisation, user: str) -> QuerySet[EmbedCode]:
    return EmbedCode.objects.filter(org=org, subject_digest=subject_digest(org, user))


def _user_attempts(org: Organisation, user: str) -> QuerySet[Any]:
    from coursewright.delivery.models import LaunchProgress

    return LaunchProgress.objects.filter(org=org, license__isnull=True, session__isnull=True,
                                         learner=subject_digest(org, user))


def _code_row(code: EmbedCode) -> dict[str, Any]:
    return {"id": code.pk, "uid": str(code.uid), "scope": code.scope,
            "courses": "*" if code.courses is None else code.courses,
            "api_key_id": code.api_key_id, "created_at": _iso(code.created_at),
            "expires_at": _iso(code.expires_at), "used_at": _iso(code.used_at),
            "family": str(code.family.uid) if code.family else None}


def learner_hash(org: Organisation, user: str) -> str:
    """The hash an embedded learner's records (and webhook deliveries about them) carry."""
    return subject_digest(org, user)


def user_export(org: Organisation, user: str) -> dict[str, list[dict[str, Any]]]:
    from coursewright.privacy.export import progress_row

    return {"embed_sessions": [_family_row(f, with_user=False)
                               for f in _user_families(org, user).order_by("pk")],
            "embed_codes": [_code_row(c) for c in _user_codes(org, user)
                            .select_related("family").order_by("pk")],
            "embed_progress": [progress_row(p) for p in
                               _user_attempts(org, user).order_by("pk")]}


def delete_user_records(org: Organisation, user: str) -> dict[str, int]:
    """Delete the user's families with their tokens, their codes and their embedded
    attempts (inside the caller's transaction). Counted only when there were some, like
    the receipts' other newer kinds."""
    counts: dict[str, int] = {}
    for name, rows in (("embed_codes", _user_codes(org, user)),
                       ("embed_sessions", _user_families(org, user)),
                       ("embed_progress", _user_attempts(org, user))):
        count = rows.count()
        if count:
            rows.delete()
            counts[name] = count
    return counts


def org_export(org: Organisation) -> list[dict[str, Any]]:
    """Every family of the organisation, with the partner's user id (never a token or a
    token hash)."""
    return [_family_row(f, with_user=True)
            for f in EmbedFamily.objects.filter(org=org).order_by("pk")]


def org_settings_export(org: Organisation) -> dict[str, Any]:
    """The allow-list of embedding origins and the one-time codes (metadata and user id;
    never a code or its hash)."""
    return {"embed_origins": [{"origin": o.origin, "created_at": _iso(o.created_at)}
                              for o in EmbedOrigin.objects.filter(org=org).order_by("pk")],
            "embed_codes": [{**_code_row(c), "user": c.subject}
                            for c in EmbedCode.objects.filter(org=org)
                            .select_related("family").order_by("pk")]}

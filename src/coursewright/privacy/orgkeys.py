"""Organisation ↔ data key id, cached: an organisation's key id never changes, and
organisation ids are never reused (PostgreSQL sequences; SQLite AUTOINCREMENT)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def key_id_for_org(org_id: int) -> str:
    from coursewright.orgs.models import Organisation

    return str(Organisation.objects.values_list("key_id", flat=True).get(pk=org_id))

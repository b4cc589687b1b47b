"""API keys from the settings page: the secret is shown once, only its hash is stored, it
authenticates the API until revoked."""

from __future__ import annotations

import hashlib
import re

from django.test import Client

from coursewright.audit.models import AuditEvent
from coursewright.orgs.models import ApiKey
from tests.conftest import People, client_for, key_client


def create_key(client: Client, name: str = "LMS sync") -> tuple[str, str]:
    response = client.post("/o/acme/settings/keys/", {"name": name})
    assert response.status_code == 201
    html = response.content.decode()
    match = re.search(r'<p class="secret" id="new-secret"[^>]*>(cw_[A-Za-z0-9_-]+)</p>', html)
    assert match, html
    return match.group(1), html


def test_the_secret_is_shown_once_with_a_warning(people: People) -> None:
    client = client_for(people.alice)
    secret, html = create_key(client)
    assert "shown only this once" in html
    assert "Cache-Control" in client.get("/o/acme/settings/").headers
    later = client.get("/o/acme/settings/").content.decode()
    assert secret not in later
    key = ApiKey.objects.get(name="LMS sync")
    assert f"cw_{key.prefix}_…" in later


def test_only_a_hash_is_stored(people: People) -> None:
    secret, _ = create_key(client_for(people.alice))
    key = ApiKey.objects.get(name="LMS sync")
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(f"cw_{key.prefix}_")
    stored = [str(v) for row in ApiKey.objects.values() for v in row.values()]
    stored += [str(e.before) + str(e.after) for e in AuditEvent.objects.all()]
    assert not any(secret in value for value in stored)
    assert not any(secret[len(f"cw_{key.prefix}_"):] in value for value in stored)


def test_the_key_works_on_the_api_until_revoked(people: People) -> None:
    client = client_for(people.alice)
    secret, _ = create_key(client)
    api = key_client(secret)

    me = api.get("/api/v1/me")
    assert me.status_code == 200
    assert [o["slug"] for o in me.json()["organisations"]] == ["acme"]
    key = ApiKey.objects.get(name="LMS sync")
    assert key.last_used_at is not None
    page = client.get("/o/acme/settings/").content.decode()
    assert "Never" in page  # the fixture's "acme ci" key, never used

    revoked = client.post(f"/o/acme/settings/keys/{key.pk}/revoke/")
    assert revoked.status_code == 302
    assert api.get("/api/v1/me").status_code == 401
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "Revoked" in client.get("/o/acme/settings/").content.decode()
    assert AuditEvent.objects.filter(action="api_key.revoked", object_id=str(key.pk)).exists()


def test_revoking_twice_is_a_clear_conflict(people: People) -> None:
    client = client_for(people.alice)
    key = ApiKey.objects.get(org=people.acme)
    assert client.post(f"/o/acme/settings/keys/{key.pk}/revoke/").status_code == 302
    again = client.post(f"/o/acme/settings/keys/{key.pk}/revoke/")
    assert again.status_code == 409
    assert "already revoked" in again.content.decode()


def test_a_key_needs_a_name(people: People) -> None:
    response = client_for(people.alice).post("/o/acme/settings/keys/", {"name": "  "})
    assert response.status_code == 400
    assert ApiKey.objects.filter(org=people.acme).count() == 1


def test_a_key_of_another_org_cannot_be_revoked(people: People) -> None:
    globex_key = ApiKey.objects.get(org=people.globex)
    response = client_for(people.alice).post(f"/o/acme/settings/keys/{globex_key.pk}/revoke/")
    assert response.status_code == 404
    globex_key.refresh_from_db()
    assert globex_key.revoked_at is None

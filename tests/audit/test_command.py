"""`coursewright audit verify | checkpoint | prune`, the periodic checkpoint task, and
the signing key kept outside the database."""

from __future__ import annotations

import io
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from coursewright.audit.models import AuditCheckpoint, AuditEvent
from coursewright.audit.signing import SIGNING_KEY_ENV, signer, trusted_keys
from coursewright.audit.tasks import checkpoint_audit_log
from tests.conftest import People


def audit(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("audit", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_verify_says_ok(people: People) -> None:
    count = AuditEvent.objects.count()
    out, _ = audit("checkpoint")
    assert out.startswith(f"Checkpoint at seq {count} signed by ed25519:")
    out, _ = audit("verify")
    assert out.strip() == f"OK: {count} entries, 1 checkpoints"
    assert audit("checkpoint")[0].strip() == "Nothing new since the last checkpoint."


def test_verify_exits_1_naming_the_broken_entry(people: People, tamper: None) -> None:
    event = AuditEvent.objects.order_by("seq")[2]
    AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "verify", stdout=io.StringIO(), stderr=err)
    assert exit_info.value.code == 1
    assert f"BROKEN at seq {event.seq} (id {event.pk}): " in err.getvalue()
    with pytest.raises(CommandError, match="not signed"):
        audit("checkpoint")


def test_prune_from_the_command_line(people: People) -> None:
    audit("checkpoint")
    seq = AuditCheckpoint.objects.get().seq
    with pytest.raises(CommandError, match="not at a signed checkpoint"):
        audit("prune", "--through-seq", str(seq - 1))
    out, _ = audit("prune", "--through-seq", str(seq))
    assert out.startswith(f"Pruned {seq} entries (seq 1–{seq})")
    assert audit("prune", "--older-than-days", "30")[0].startswith("Nothing to prune")
    assert audit("verify")[0].startswith("OK: 1 entries, 1 checkpoints")


def test_the_periodic_task_checkpoints_only_new_entries(people: People) -> None:
    checkpoint_audit_log.call_local()
    checkpoint_audit_log.call_local()
    assert AuditCheckpoint.objects.count() == 1


def test_the_signing_key_is_made_once_outside_the_database(people: People,
                                                          settings: Any) -> None:
    first = signer()
    path = Path(settings.KEYS_DIR) / "audit-signing.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signer().key_id == first.key_id
    assert set(trusted_keys()) == {first.key_id}
    checkpoint_audit_log.call_local()
    assert AuditCheckpoint.objects.get().key_id == first.key_id


def test_a_configured_key_file_must_exist_and_be_ed25519(
        people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, str(tmp_path / "missing.key"))
    with pytest.raises(ImproperlyConfigured, match=SIGNING_KEY_ENV):
        signer()
    wrong = tmp_path / "ec.key"
    wrong.write_bytes(generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    monkeypatch.setenv(SIGNING_KEY_ENV, str(wrong))
    with pytest.raises(ImproperlyConfigured, match="Ed25519"):
        signer()


def test_a_replaced_signing_key_keeps_old_checkpoints_verifiable(
        people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    audit("checkpoint")
    new_key = tmp_path / "new.key"
    new_key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    monkeypatch.setenv(SIGNING_KEY_ENV, str(new_key))
    from coursewright.audit.actions import record_event
    from coursewright.audit.actor import Actor

    record_event(org=None, actor=Actor.system(), action="test.later", object_type="x",
                 object_id=1)
    audit("checkpoint")
    assert len({c.key_id for c in AuditCheckpoint.objects.all()}) == 2
    assert audit("verify")[0].startswith("OK:")

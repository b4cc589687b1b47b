"""The audit log's Ed25519 signing key, kept outside the database.

The private key is ``<keys dir>/audit-signing.key`` (PKCS#8 PEM, mode 0600, made on first
use) or the file named by ``COURSEWRIGHT_AUDIT_SIGNING_KEY_FILE``. Its public key is
published, under its fingerprint, in ``<keys dir>/audit-public-keys/``; verification
trusts only the keys in that directory, never a key read from the database, so a
database writer cannot sign with a key of their own. Replacing the signing key (point
the variable at a new file) keeps old checkpoints verifiable as long as the old public
key stays in that directory.

The newest checkpoint is also copied to ``<keys dir>/audit-witness.json`` once its
transaction commits: if the database loses it (tables emptied, or an older backup
restored), verification says so.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured

from coursewright.audit.chain import canonical, sha256_hex, utc_iso
from coursewright.audit.models import AuditCheckpoint, AuditPrune
from coursewright.privacy.keys import keys_dir

SIGNING_KEY_ENV = "COURSEWRIGHT_AUDIT_SIGNING_KEY_FILE"
PUBLIC_KEYS_DIR = "audit-public-keys"
WITNESS_FILE = "audit-witness.json"


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + sha256_hex(raw)[:32]


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    key_id: str

    def sign(self, message: bytes) -> str:
        return self.private.sign(message).hex()


def _write_new(path: Path, data: bytes) -> None:
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def signer() -> Signer:
    configured = os.environ.get(SIGNING_KEY_ENV, "")
    path = Path(configured) if configured else keys_dir() / "audit-signing.key"
    if not path.exists():
        if configured:
            raise ImproperlyConfigured(f"{SIGNING_KEY_ENV}: {path} does not exist")
        _write_new(path, Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    source = SIGNING_KEY_ENV if configured else str(path)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source}: cannot read the audit signing key: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{source}: the audit signing key must be an Ed25519 key")
    key_id = fingerprint(private.public_key())
    _publish(private.public_key(), key_id)
    return Signer(private, key_id)


def _public_dir() -> Path:
    path = keys_dir() / PUBLIC_KEYS_DIR
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _file_name(key_id: str) -> str:
    return key_id.replace(":", "-") + ".pem"


def _publish(public: Ed25519PublicKey, key_id: str) -> None:
    target = _public_dir() / _file_name(key_id)
    if not target.exists():
        _write_new(target, public.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for path in sorted(_public_dir().glob("*.pem")):
        try:
            public = serialization.load_pem_public_key(path.read_bytes())
        except ValueError:
            continue
        if isinstance(public, Ed25519PublicKey):
            keys[fingerprint(public)] = public
    return keys


def checkpoint_message(seq: int, entry_hash: str, created_at: datetime, key_id: str) -> bytes:
    return canonical(["cw-audit-checkpoint-1", seq, entry_hash, utc_iso(created_at), key_id])


def prune_message(first_seq: int, last_seq: int, last_hash: str, entries: int,
                  created_at: datetime, key_id: str) -> bytes:
    return canonical(["cw-audit-prune-1", first_seq, last_seq, last_hash, entries,
                      utc_iso(created_at), key_id])


def signature_problem(key_id: str, message: bytes, signature: str,
                      keys: dict[str, Ed25519PublicKey]) -> str | None:
    """Why the signature is not good, or None when it is."""
    public = keys.get(key_id)
    if public is None:
        return f"it is signed by {key_id}, which is not a trusted audit key"
    try:
        public.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return "its signature does not verify (altered or forged)"
    return None


def checkpoint_signature_problem(checkpoint: AuditCheckpoint,
                                 keys: dict[str, Ed25519PublicKey]) -> str | None:
    return signature_problem(
        checkpoint.key_id,
        checkpoint_message(checkpoint.seq, checkpoint.entry_hash, checkpoint.created_at,
                           checkpoint.key_id),
        checkpoint.signature, keys)


def prune_signature_problem(prune: AuditPrune,
                            keys: dict[str, Ed25519PublicKey]) -> str | None:
    return signature_problem(
        prune.key_id,
        prune_message(prune.first_seq, prune.last_seq, prune.last_hash, prune.entries,
                      prune.created_at, prune.key_id),
        prune.signature, keys)


def write_witness(checkpoint: AuditCheckpoint) -> None:
    path = keys_dir() / WITNESS_FILE
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"seq": checkpoint.seq, "entry_hash": checkpoint.entry_hash,
                   "created_at": utc_iso(checkpoint.created_at),
                   "key_id": checkpoint.key_id, "signature": checkpoint.signature}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    current = read_witness()
    if current is not None and int(current.get("seq", 0)) > checkpoint.seq:
        tmp.unlink()  # a newer checkpoint was witnessed meanwhile: keep it
        return
    os.replace(tmp, path)


def read_witness() -> dict[str, Any] | None:
    path = keys_dir() / WITNESS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return {"seq": 0, "invalid": True}
    return data if isinstance(data, dict) else {"seq": 0, "invalid": True}

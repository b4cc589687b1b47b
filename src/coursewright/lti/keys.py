"""The LTI tool's RSA keys: they sign what coursewright sends to LTI platforms (deep
linking responses, the ``private_key_jwt`` assertions that obtain AGS access tokens).

Design, and what it guarantees:

- **RS256, because LTI 1.3 says so.** The license tokens' keys are Ed25519
  (``delivery.signing``); LTI platforms verify RS256 only, so the tool has its own RSA
  key set (2048-bit, e=65537). Nothing here verifies tokens: platform messages are
  verified with the *platform's* keys (``lti.launch``).
- **Stored like the other signing keys.** ``<keys dir>/lti-signing.json`` (mode 0600,
  outside the database and the data backups), each key's private part sealed with
  AES-256-GCM under the master key and bound to its ``kid`` (the RFC 7638 thumbprint,
  checked on every load). ``keys rotate-master`` re-seals them.
- **Rotation.** ``keys rotate-signing`` rotates these together with the license-token
  keys: a new active key signs from then on, the previous one stays *published* (state
  ``verifying``) so platforms that cached the key set can still check messages signed
  just before; ``keys retire-signing -- KID`` removes it from the published set.
- **Published** at ``/lti/jwks.json`` (public parts only, ``alg: RS256``, ``use: sig``).
- **Changes reach running processes**: the file is re-read when its stat changes.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from joserfc import jws
from joserfc.jwk import RSAKey

from coursewright.privacy.keys import MasterKeyProvider, keys_dir, load_master_keys

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor

ALGORITHM = "RS256"
KEY_BITS = 2048
FILE_NAME = "lti-signing.json"
ACTIVE = "active"
VERIFYING = "verifying"


class LtiKeyError(Exception):
    """A refused key operation (retire the active key, an unknown kid)."""


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    state: str
    created_at: str


def _path() -> Path:
    return keys_dir() / FILE_NAME


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": 1, "keys": [], "retired": {}}
    except ValueError as exc:
        raise ImproperlyConfigured(f"{path}: not an LTI key file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ImproperlyConfigured(f"{path}: not an LTI key file")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked() -> Iterator[dict[str, Any]]:
    path = _path()
    with open(path.with_name(f".{path.name}.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = _read(path)
            yield data
            _write(path, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _context(kid: str) -> str:
    return f"coursewright lti signing key {kid}"


def _new_entry(master: MasterKeyProvider, state: str) -> dict[str, Any]:
    key = RSAKey.generate_key(KEY_BITS)
    kid = key.thumbprint()
    private = json.dumps(key.as_dict(private=True), sort_keys=True).encode()
    master_id, sealed = master.wrap(private, context=_context(kid))
    return {"kid": kid, "state": state, "created_at": datetime.now(UTC).isoformat(),
            "public": key.as_dict(private=False), "master": master_id,
            "sealed": base64.b64encode(sealed).decode()}


def _public_key(entry: Mapping[str, Any]) -> RSAKey:
    public = dict(entry["public"])
    if "d" in public or public.get("kty") != "RSA":
        raise ImproperlyConfigured(f"{_path()}: key {entry.get('kid')!r} is not a public "
                                   "RSA key")
    key = RSAKey.import_key(public)
    if key.thumbprint() != entry["kid"]:
        raise ImproperlyConfigured(f"{_path()}: key {entry.get('kid')!r} does not match "
                                   "its kid (the file was edited)")
    return key


_lock = threading.Lock()
_cache: dict[str, Any] = {"stamp": None, "entries": (), "private": {}}


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0, 0, 0)
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _entries() -> tuple[dict[str, Any], ...]:
    path = _path()
    stamp = _stamp(path)
    with _lock:
        if _cache["stamp"] != stamp:
            entries = tuple(_read(path)["keys"])
            for entry in entries:
                _public_key(entry)
            if sum(1 for e in entries if e["state"] == ACTIVE) > 1:
                raise ImproperlyConfigured(f"{path}: more than one active LTI key")
            _cache.update(stamp=stamp, entries=entries, private={})
        return tuple(_cache["entries"])


def _ensure_active() -> dict[str, Any]:
    active = next((e for e in _entries() if e["state"] == ACTIVE), None)
    if active is None:
        with _locked() as data:
            if not any(e["state"] == ACTIVE for e in data["keys"]):
                data["keys"].append(_new_entry(load_master_keys(), ACTIVE))
        active = next(e for e in _entries() if e["state"] == ACTIVE)
    return active


def _private_key(entry: Mapping[str, Any]) -> RSAKey:
    kid = entry["kid"]
    with _lock:
        cached = _cache["private"].get(kid)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    private = load_master_keys().unwrap(entry["master"], base64.b64decode(entry["sealed"]),
                                        context=_context(kid))
    key = RSAKey.import_key(json.loads(private))
    if key.thumbprint() != kid:
        raise ImproperlyConfigured(f"{_path()}: the private key of {kid!r} does not match it")
    with _lock:
        _cache["private"][kid] = key
    return key


def sign(claims: Mapping[str, Any]) -> str:
    """A compact RS256 JWS of ``claims`` by the active key (header: alg, kid, typ)."""
    entry = _ensure_active()
    header = {"alg": ALGORITHM, "kid": entry["kid"], "typ": "JWT"}
    payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True)
    return jws.serialize_compact(header, payload, _private_key(entry),
                                 algorithms=[ALGORITHM])


def jwks() -> dict[str, Any]:
    """The published key set, active key first (made on first use)."""
    _ensure_active()
    entries = sorted(_entries(), key=lambda e: (e["state"] != ACTIVE, e["created_at"]))
    return {"keys": [{**e["public"], "kid": e["kid"], "use": "sig", "alg": ALGORITHM}
                     for e in entries]}


def list_keys() -> list[KeyInfo]:
    return [KeyInfo(e["kid"], e["state"], e["created_at"]) for e in _entries()]


def rotate() -> tuple[str, str | None]:
    """A new active key; the previous one stays published. Returns (new, old)."""
    master = load_master_keys()
    with _locked() as data:
        old = None
        for entry in data["keys"]:
            if entry["state"] == ACTIVE:
                entry["state"] = VERIFYING
                old = entry["kid"]
        new = _new_entry(master, ACTIVE)
        data["keys"].append(new)
    return new["kid"], old


def retire(kid: str) -> None:
    """Remove a published, no longer active key."""
    with _locked() as data:
        entry = next((e for e in data["keys"] if e["kid"] == kid), None)
        if entry is None:
            raise LtiKeyError(f"there is no LTI signing key {kid!r}")
        if entry["state"] == ACTIVE:
            raise LtiKeyError(f"{kid} is the active LTI signing key; rotate first")
        data["keys"].remove(entry)
        data.setdefault("retired", {})[kid] = {"at": datetime.now(UTC).isoformat()}


def has_key(kid: str) -> bool:
    return any(e["kid"] == kid for e in _entries())


def rewrap(new_master: MasterKeyProvider) -> int:
    """Re-seal every private key under ``new_master``'s current key."""
    if not _path().exists():
        return 0
    count = 0
    with _locked() as data:
        for entry in data["keys"]:
            context = _context(entry["kid"])
            private = new_master.unwrap(entry["master"], base64.b64decode(entry["sealed"]),
                                        context=context)
            master_id, sealed = new_master.wrap(private, context=context)
            entry.update(master=master_id, sealed=base64.b64encode(sealed).decode())
            count += 1
    return count


def rotate_key(*, actor: Actor) -> tuple[str, str | None]:
    """:func:`rotate`, recorded in the audit log (a platform event: no organisation)."""
    from coursewright.audit.actions import record_event

    new, old = rotate()
    with transaction.atomic():
        record_event(org=None, actor=actor, action="lti_key.rotated", object_type="lti_key",
                     object_id=new, before={"active": old},
                     after={"active": new, "published": old})
    return new, old


def retire_key(kid: str, *, actor: Actor) -> None:
    """:func:`retire`, recorded in the audit log."""
    from coursewright.audit.actions import record_event

    retire(kid)
    with transaction.atomic():
        record_event(org=None, actor=actor, action="lti_key.retired", object_type="lti_key",
                     object_id=kid, before={"state": VERIFYING}, after={"state": "retired"})

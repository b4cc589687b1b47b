"""Token-signing keys: Ed25519 keys that sign license tokens (and, later, LTI messages).

Design, and what it guarantees:

- **One algorithm.** Tokens are JWS compact serialisations with the header
  ``{"alg": "EdDSA", "kid": ..., "typ": "JWT"}``: ``EdDSA`` is the name every JOSE
  library knows (joserfc 1.8 prefers ``Ed25519`` and deprecates ``EdDSA``; PyJWT knows
  only ``EdDSA``). Verification goes through a registry that holds exactly that one
  algorithm, restricted to Ed25519 keys, so ``none``, ``HS*``, ``RS*``, ``ES*`` and even
  joserfc's own ``Ed25519`` name are refused before any key is touched; the header may
  carry only ``alg``, ``kid`` and ``typ`` (no ``jwk``/``jku``/``crit``/``b64`` tricks).
  A token is verified only with the key its ``kid`` names, taken from our key set,
  never from the token.
- **Where the keys live.** ``<keys dir>/token-signing.json`` (mode 0600, next to the
  keyring, outside the database and the data backups). Each key has a ``kid`` (its
  RFC 7638 thumbprint, checked on every load), its public JWK, and its private part
  sealed with AES-256-GCM by the master key (``privacy.keys``: the same master key that
  wraps the organisations' data keys; ``keys rotate-master`` re-wraps these too), bound
  to the kid. A copy of the file without the master key signs nothing.
- **States.** ``active`` signs new tokens (exactly one, made on first use);
  ``verifying`` no longer signs but still verifies tokens it signed earlier. ``keys
  rotate-signing`` makes a new active key and turns the old one into a verifying key;
  ``keys retire-signing -- KID`` removes a verifying key (never the active one), after
  which every token it signed is refused as ``unknown_key``. Retired kids are listed so
  they are never reused.
- **Changes reach running processes.** The file is changed under an exclusive lock and
  replaced atomically; every verification stats it (one ``stat`` call) and re-reads it
  when it changed, so a retirement takes effect in every process on its next request.
- **Published.** :func:`jwks` is the public key set (no private parts: ``d`` is never
  in it), served at ``/.well-known/jwks.json``.
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
from typing import TYPE_CHECKING, Any, Final

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwa import EdDSAAlgorithm
from joserfc.jwk import OKPKey

from coursewright.privacy.keys import MasterKeyProvider, keys_dir, load_master_keys

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor

ALGORITHM = "EdDSA"
CURVE: Final = "Ed25519"
FILE_NAME = "token-signing.json"
ACTIVE = "active"
VERIFYING = "verifying"
ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})
MAX_TOKEN_CHARS = 4096


class _Ed25519Only(EdDSAAlgorithm):
    """RFC 8037 ``EdDSA``, accepted for Ed25519 keys only (Ed448 is not ours), without
    joserfc's deprecation warning on every call: the name is chosen on purpose, see the
    module note."""

    security_warning = ""

    def check_key(self, key: Any) -> None:
        super().check_key(key)
        if getattr(key, "curve_name", None) != CURVE:
            raise JoseError(f"only {CURVE} keys sign and verify {ALGORITHM} tokens here")


class _OneAlgorithm(jws.JWSRegistry):
    algorithms = {ALGORITHM: _Ed25519Only()}
    recommended = [ALGORITHM]
    max_payload_length = MAX_TOKEN_CHARS


REGISTRY = _OneAlgorithm(algorithms=[ALGORITHM])


class TokenRefused(Exception):
    """The token is not one we signed with a key we still trust. ``reason`` is
    ``bad_token`` (malformed, wrong algorithm, bad signature) or ``unknown_key``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class SigningKeyError(Exception):
    """A refused key operation (retire the active key, an unknown kid)."""


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    state: str
    created_at: str


@dataclass(frozen=True)
class _Snapshot:
    stamp: tuple[int, int, int]
    public: Mapping[str, OKPKey]
    infos: tuple[KeyInfo, ...]
    active_kid: str | None


def _path() -> Path:
    return keys_dir() / FILE_NAME


def _empty() -> dict[str, Any]:
    return {"format": 1, "keys": [], "retired": {}}


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _empty()
    except ValueError as exc:
        raise ImproperlyConfigured(f"{path}: not a token-signing key file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ImproperlyConfigured(f"{path}: not a token-signing key file")
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
    """The key file's content, to change in place; written back atomically on exit."""
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
    return f"coursewright token signing key {kid}"


def _new_entry(master: MasterKeyProvider, state: str) -> dict[str, Any]:
    key = OKPKey.generate_key(CURVE)
    kid = key.thumbprint()
    private = json.dumps(key.as_dict(private=True), sort_keys=True).encode()
    master_id, sealed = master.wrap(private, context=_context(kid))
    return {"kid": kid, "state": state, "created_at": datetime.now(UTC).isoformat(),
            "public": key.as_dict(private=False), "master": master_id,
            "sealed": base64.b64encode(sealed).decode()}


def _public_key(entry: Mapping[str, Any]) -> OKPKey:
    public = dict(entry["public"])
    if "d" in public or public.get("crv") != CURVE:
        raise ImproperlyConfigured(f"{_path()}: key {entry.get('kid')!r} is not a public "
                                   f"{CURVE} key")
    key = OKPKey.import_key(public)
    if key.thumbprint() != entry["kid"]:
        raise ImproperlyConfigured(f"{_path()}: key {entry.get('kid')!r} does not match "
                                   "its kid (the file was edited)")
    return key


_lock = threading.Lock()
_snapshot: _Snapshot | None = None
_private_cache: dict[str, OKPKey] = {}


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0, 0, 0)
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _current() -> _Snapshot:
    """The key set as the file holds it now (re-read when the file changed)."""
    global _snapshot
    path = _path()
    stamp = _stamp(path)
    snapshot = _snapshot
    if snapshot is not None and snapshot.stamp == stamp:
        return snapshot
    with _lock:
        data = _read(path)
        entries = data["keys"]
        public = {entry["kid"]: _public_key(entry) for entry in entries}
        actives = [entry["kid"] for entry in entries if entry["state"] == ACTIVE]
        if len(actives) > 1:
            raise ImproperlyConfigured(f"{path}: more than one active signing key")
        infos = tuple(KeyInfo(e["kid"], e["state"], e["created_at"]) for e in entries)
        _snapshot = _Snapshot(stamp, public, infos, actives[0] if actives else None)
        _private_cache.clear()
        return _snapshot


def forget_cached() -> None:
    global _snapshot
    with _lock:
        _snapshot = None
        _private_cache.clear()


def _ensure_active() -> _Snapshot:
    snapshot = _current()
    if snapshot.active_kid is None:
        with _locked() as data:
            if not any(entry["state"] == ACTIVE for entry in data["keys"]):
                data["keys"].append(_new_entry(load_master_keys(), ACTIVE))
        snapshot = _current()
    return snapshot


def _private_key(kid: str) -> OKPKey:
    cached = _private_cache.get(kid)
    if cached is not None:
        return cached
    entry = next((e for e in _read(_path())["keys"] if e["kid"] == kid), None)
    if entry is None:
        raise SigningKeyError(f"no signing key {kid!r}")
    sealed = base64.b64decode(entry["sealed"])
    private = load_master_keys().unwrap(entry["master"], sealed, context=_context(kid))
    key = OKPKey.import_key(json.loads(private))
    if key.thumbprint() != kid:
        raise ImproperlyConfigured(f"{_path()}: the private key of {kid!r} does not match it")
    with _lock:
        _private_cache[kid] = key
    return key


# --- using the keys --------------------------------------------------------------------


def sign(claims: Mapping[str, Any]) -> tuple[str, str]:
    """A JWS compact token of ``claims`` signed by the active key; returns (token, kid)."""
    snapshot = _ensure_active()
    kid = snapshot.active_kid
    assert kid is not None
    header = {"alg": ALGORITHM, "kid": kid, "typ": "JWT"}
    payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True)
    token = jws.serialize_compact(header, payload, _private_key(kid), registry=REGISTRY)
    return token, kid


@dataclass(frozen=True)
class Verified:
    kid: str
    claims: dict[str, Any]


def verify(token: str) -> Verified:
    """The claims of a token signed by one of our keys (active or verifying).

    Raises :class:`TokenRefused`. Checks only the signature and the header; what the
    claims must say is the caller's business (``delivery.licenses.read_token``)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused("bad_token", "no token, or not a token")
    try:
        obj = jws.extract_compact(token.encode("ascii"), registry=REGISTRY)
        header = obj.headers()
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise TokenRefused("bad_token", f"malformed token: {exc}") from None
    if not isinstance(header, dict) or set(header) - ALLOWED_HEADER:
        raise TokenRefused("bad_token", "unexpected token header")
    if header.get("alg") != ALGORITHM:
        raise TokenRefused("bad_token", f"algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRefused("bad_token", "the token names no key")
    key = _current().public.get(kid)
    if key is None:
        raise TokenRefused("unknown_key", "the token's key is unknown or retired")
    try:
        valid = jws.validate_compact(obj, key, registry=REGISTRY)
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenRefused("bad_token", f"token not verifiable: {exc}") from None
    if not valid:
        raise TokenRefused("bad_token", "bad signature")
    try:
        claims = json.loads(obj.payload)
    except ValueError:
        raise TokenRefused("bad_token", "the token's claims are not JSON") from None
    if not isinstance(claims, dict):
        raise TokenRefused("bad_token", "the token's claims are not an object")
    return Verified(kid, claims)


def jwks() -> dict[str, Any]:
    """The public key set, active key first (what verifiers elsewhere need)."""
    snapshot = _current()
    order = sorted(snapshot.infos, key=lambda info: (info.state != ACTIVE, info.created_at))
    return {"keys": [{**snapshot.public[info.kid].as_dict(private=False), "kid": info.kid,
                      "use": "sig", "alg": ALGORITHM} for info in order]}


def list_keys() -> list[KeyInfo]:
    return list(_current().infos)


def active_kid() -> str:
    kid = _ensure_active().active_kid
    assert kid is not None
    return kid


# --- changing the key set (the `coursewright keys` command) ----------------------------


def rotate() -> tuple[str, str | None]:
    """Make a new active key; the old active key keeps verifying. Returns (new, old)."""
    master = load_master_keys()
    with _locked() as data:
        old = None
        for entry in data["keys"]:
            if entry["state"] == ACTIVE:
                entry["state"] = VERIFYING
                old = entry["kid"]
        new = _new_entry(master, ACTIVE)
        data["keys"].append(new)
    forget_cached()
    return new["kid"], old


def retire(kid: str) -> None:
    """Remove a verifying key: every token it signed is refused from now on."""
    with _locked() as data:
        entry = next((e for e in data["keys"] if e["kid"] == kid), None)
        if entry is None:
            raise SigningKeyError(f"there is no signing key {kid!r}")
        if entry["state"] == ACTIVE:
            raise SigningKeyError(f"{kid} is the active signing key; rotate first "
                                  "(`coursewright keys rotate-signing`), then retire it")
        data["keys"].remove(entry)
        data.setdefault("retired", {})[kid] = {"at": datetime.now(UTC).isoformat()}
    forget_cached()


def retired_kids() -> list[str]:
    return sorted(_read(_path()).get("retired", {}))


def rewrap(new_master: MasterKeyProvider) -> int:
    """Re-seal every private key under ``new_master``'s current key (master rotation);
    ``new_master`` must still hold the keys they are sealed with now."""
    path = _path()
    if not path.exists():
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
    forget_cached()
    return count


def rotate_signing_key(*, actor: Actor) -> tuple[str, str | None]:
    """:func:`rotate`, recorded in the audit log (a platform event: no organisation)."""
    from coursewright.audit.actions import record_event

    new, old = rotate()
    with transaction.atomic():
        record_event(org=None, actor=actor, action="signing_key.rotated",
                     object_type="signing_key", object_id=new,
                     before={"active": old}, after={"active": new, "verifying": old})
    return new, old


def retire_signing_key(kid: str, *, actor: Actor) -> None:
    """:func:`retire`, recorded in the audit log."""
    from coursewright.audit.actions import record_event

    retire(kid)
    with transaction.atomic():
        record_event(org=None, actor=actor, action="signing_key.retired",
                     object_type="signing_key", object_id=kid,
                     before={"state": VERIFYING}, after={"state": "retired"})

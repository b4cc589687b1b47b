"""Envelope encryption keys: a master key wraps one data key per organisation.

Design, and what it guarantees:

- **Master keys** come from ``COURSEWRIGHT_MASTER_KEY`` (or ``…_FILE``): one or more lines
  ``<id>:<base64 of 32 bytes>``, the last line being the current key. With nothing
  configured, the embedded default makes one key under ``<VAR_DIR>/keys/`` (mode 0600).
  ``MasterKeyProvider`` is the seam where a cloud KMS or Vault Transit can take over: it
  only wraps and unwraps small data keys and never sees content.
- **Data keys** are random 256-bit AES keys, one (or more, after rotation) per
  organisation, stored only *wrapped* (AES-256-GCM under a master key, bound to the
  organisation's key id). They live in the **keyring**, a file under ``<VAR_DIR>/keys/``
  kept apart from the database and the file storage, so a data backup never contains
  them; the keyring is backed up on its own (``coursewright keys backup``).
- **Destroying** an organisation's keys (crypto-shredding) removes them from the keyring
  and records the key id in the keyring's ``destroyed`` list. A destroyed key id is never
  re-created, so restoring an old data backup cannot bring the data back to life.
- **Rotating the master key** re-wraps every data key under the new master key; no data is
  re-encrypted and old ciphertext stays readable.

Organisations are identified here by ``Organisation.key_id`` (a random UUID), never by
their database id, which a restored backup or a reused sequence could give to another
organisation.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32


class KeyDestroyed(Exception):
    """The organisation's data key was destroyed: its data can never be read again."""


class KeyMissing(Exception):
    """No data key for this key id in the keyring (wrong keyring, or never created)."""


class MasterKeyProvider(Protocol):
    current_id: str

    def wrap(self, data_key: bytes, *, context: str) -> tuple[str, bytes]: ...

    def unwrap(self, master_id: str, wrapped: bytes, *, context: str) -> bytes: ...


class LocalMasterKeys:
    """Master keys held by this process (from the environment, a file, or the default
    file in the state directory)."""

    def __init__(self, keys: dict[str, bytes], current_id: str) -> None:
        if current_id not in keys:
            raise ImproperlyConfigured("the current master key is not among the master keys")
        self._keys = keys
        self.current_id = current_id

    @classmethod
    def parse(cls, text: str, *, source: str) -> LocalMasterKeys:
        keys: dict[str, bytes] = {}
        current = ""
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key_id, sep, encoded = line.partition(":")
            try:
                key = base64.b64decode(encoded, validate=True) if sep else b""
            except ValueError:
                key = b""
            if not key_id or len(key) != KEY_BYTES:
                raise ImproperlyConfigured(
                    f"{source}, line {number}: expected '<id>:<base64 of 32 bytes>'")
            keys[key_id] = key
            current = key_id
        if not keys:
            raise ImproperlyConfigured(f"{source}: no master key found")
        return cls(keys, current)

    def wrap(self, data_key: bytes, *, context: str) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._keys[self.current_id]).encrypt(nonce, data_key, context.encode())
        return self.current_id, nonce + sealed

    def unwrap(self, master_id: str, wrapped: bytes, *, context: str) -> bytes:
        try:
            key = self._keys[master_id]
        except KeyError:
            raise ImproperlyConfigured(
                f"master key {master_id!r} is needed to unwrap a data key but is not "
                "configured; keep old master keys until `coursewright keys rotate-master` "
                "has re-wrapped everything") from None
        return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], context.encode())


def new_master_key_line(key_id: str | None = None) -> str:
    key_id = key_id or datetime.now(UTC).strftime("mk-%Y%m%d%H%M%S")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def keys_dir() -> Path:
    path = Path(getattr(settings, "KEYS_DIR", settings.VAR_DIR / "keys"))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def load_master_keys() -> LocalMasterKeys:
    text = os.environ.get("COURSEWRIGHT_MASTER_KEY")
    if text:
        return LocalMasterKeys.parse(text.replace(",", "\n"), source="COURSEWRIGHT_MASTER_KEY")
    file_name = os.environ.get("COURSEWRIGHT_MASTER_KEY_FILE")
    path = Path(file_name) if file_name else keys_dir() / "master.keys"
    if not path.exists():
        if file_name:
            raise ImproperlyConfigured(f"COURSEWRIGHT_MASTER_KEY_FILE: {path} does not exist")
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(new_master_key_line("mk-1") + "\n")
    return LocalMasterKeys.parse(path.read_text(encoding="utf-8"), source=str(path))


@dataclass(frozen=True)
class DataKey:
    version: int
    key: bytes


class FileKeyring:
    """Wrapped data keys in one JSON file, changed under an exclusive lock and replaced
    atomically (write to a temporary file, fsync, rename)."""

    def __init__(self, path: Path, master: MasterKeyProvider) -> None:
        self.path = path
        self.master = master

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        lock_path = self.path.with_suffix(".lock")
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read()
                yield data
                self._write(data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"format": 1, "keys": {}, "destroyed": {}}
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    @staticmethod
    def _context(key_id: str, version: int) -> str:
        return f"coursewright data key {key_id} v{version}"

    def create(self, key_id: str) -> None:
        with self._locked() as data:
            if key_id in data["destroyed"]:
                raise KeyDestroyed(key_id)
            if key_id in data["keys"]:
                return
            data["keys"][key_id] = [self._wrap_new(key_id, 1)]

    def _wrap_new(self, key_id: str, version: int) -> dict[str, Any]:
        master_id, wrapped = self.master.wrap(secrets.token_bytes(KEY_BYTES),
                                              context=self._context(key_id, version))
        return {"version": version, "master": master_id,
                "wrapped": base64.b64encode(wrapped).decode(),
                "created_at": datetime.now(UTC).isoformat()}

    def rotate_data_key(self, key_id: str) -> int:
        """Add a newer data key: new data uses it, old data stays readable."""
        with self._locked() as data:
            entries = self._entries(data, key_id)
            version = int(max(e["version"] for e in entries)) + 1
            entries.append(self._wrap_new(key_id, version))
            return version

    def get(self, key_id: str, version: int | None = None) -> DataKey:
        data = self._read()
        entries = self._entries(data, key_id)
        entry = (max(entries, key=lambda e: e["version"]) if version is None
                 else next((e for e in entries if e["version"] == version), None))
        if entry is None:
            raise KeyMissing(f"{key_id} v{version}")
        wrapped, context = base64.b64decode(entry["wrapped"]), self._context(key_id,
                                                                              entry["version"])
        try:
            key = self.master.unwrap(entry["master"], wrapped, context=context)
        except ImproperlyConfigured:
            # `keys rotate-master` ran in another process: the keyring now names a master
            # key this process has not loaded yet. Reload once, then give up loudly.
            self.master = load_master_keys()
            key = self.master.unwrap(entry["master"], wrapped, context=context)
        return DataKey(entry["version"], key)

    @staticmethod
    def _entries(data: dict[str, Any], key_id: str) -> list[dict[str, Any]]:
        if key_id in data["destroyed"]:
            raise KeyDestroyed(key_id)
        try:
            entries: list[dict[str, Any]] = data["keys"][key_id]
        except KeyError:
            raise KeyMissing(key_id) from None
        return entries

    def destroy(self, key_id: str, *, reason: str) -> None:
        with self._locked() as data:
            data["keys"].pop(key_id, None)
            data["destroyed"][key_id] = {"at": datetime.now(UTC).isoformat(), "reason": reason}

    def is_destroyed(self, key_id: str) -> bool:
        return key_id in self._read()["destroyed"]

    def rewrap_all(self, new_master: MasterKeyProvider) -> int:
        """Re-wrap every data key under ``new_master``'s current key; returns the count."""
        count = 0
        with self._locked() as data:
            for key_id, entries in data["keys"].items():
                for entry in entries:
                    context = self._context(key_id, entry["version"])
                    plain = self.master.unwrap(entry["master"],
                                               base64.b64decode(entry["wrapped"]),
                                               context=context)
                    master_id, wrapped = new_master.wrap(plain, context=context)
                    entry.update(master=master_id, wrapped=base64.b64encode(wrapped).decode())
                    count += 1
        self.master = new_master
        return count

    def export_bytes(self) -> bytes:
        return self.path.read_bytes() if self.path.exists() else b""


_lock = threading.Lock()
_keyring: FileKeyring | None = None
_cache: dict[tuple[str, int | None], tuple[float, DataKey]] = {}
_cache_stamp: tuple[int, int] | None = None  # the keyring file's (mtime_ns, size) cached for
CACHE_SECONDS = 60.0


def keyring() -> FileKeyring:
    global _keyring
    with _lock:
        if _keyring is None or _keyring.path.parent != keys_dir():
            _keyring = FileKeyring(keys_dir() / "keyring.json", load_master_keys())
            _cache.clear()
        return _keyring


def data_key(key_id: str, version: int | None = None) -> DataKey:
    """The organisation's data key (the newest one when ``version`` is None), cached in
    this process for a minute so a request does not unwrap keys per value. Any change to
    the keyring file (one stat per call) empties the cache, so a key destroyed by another
    process is unusable here from the next read on."""
    global _cache_stamp
    ring = keyring()
    try:
        stat = ring.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        stamp = (0, 0)
    if stamp != _cache_stamp:
        # the keyring changed (a key destroyed, created or re-wrapped, possibly by another
        # process): nothing cached before that may be used again
        _cache.clear()
        _cache_stamp = stamp
    now = time.monotonic()
    cached = _cache.get((key_id, version))
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    key = ring.get(key_id, version)
    _cache[(key_id, version)] = (now, key)
    _cache[(key_id, key.version)] = (now, key)
    return key


def forget_cached(key_id: str | None = None) -> None:
    for cached in list(_cache):
        if key_id is None or cached[0] == key_id:
            _cache.pop(cached, None)

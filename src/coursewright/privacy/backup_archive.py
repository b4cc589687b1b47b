"""The encrypted container of a backup (``.cwbackup``): a tar stream sealed in chunks.

Layout::

    b"CWBACKUP" | format (1 byte) | header length (4 bytes, big-endian) | header (JSON)
    chunk 0 | chunk 1 | ... | final chunk          (each: ciphertext + 16-byte GCM tag)

- Each archive has its own random 256-bit key, wrapped by the master key (the header keeps
  the master key id and the wrapped key, bound to the archive id). Opening an archive
  needs the master key and nothing else; the keyring of data keys is never involved.
- Chunks hold ``chunk_size`` bytes of plaintext, the final one at most that (possibly 0).
  The nonce is a random 4-byte prefix and the 8-byte chunk index. The associated data is
  the SHA-256 of the header, the chunk index and a final-chunk flag, so an altered
  header, a reordered, dropped or repeated chunk, a cut at a chunk boundary or bytes
  appended after the end all fail authentication (the STREAM construction).
- Plaintext is released one authenticated chunk at a time. A reader only knows the
  archive is whole after ``finish()``, which authenticates the final chunk; callers keep
  what they read in a staging area until then.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

from coursewright.privacy.keys import KEY_BYTES, MasterKeyProvider

MAGIC = b"CWBACKUP"
FORMAT = 1
CHUNK_SIZE = 1024 * 1024
TAG_BYTES = 16
NONCE_PREFIX_BYTES = 4
MAX_HEADER_BYTES = 64 * 1024
_FIXED = struct.Struct(">BI")


class BackupError(Exception):
    """A backup or restore could not go ahead; the message is one line for the operator."""


def _context(archive_id: str) -> str:
    return f"coursewright backup archive {archive_id}"


@dataclass(frozen=True)
class ArchiveHeader:
    master_id: str
    wrapped_key: bytes
    archive_id: str
    nonce_prefix: bytes
    chunk_size: int
    created_at: str
    digest: bytes  # SHA-256 of the header bytes, bound into every chunk

    def open_key(self, master: MasterKeyProvider) -> bytes:
        try:
            return master.unwrap(self.master_id, self.wrapped_key,
                                 context=_context(self.archive_id))
        except ImproperlyConfigured:
            raise BackupError(
                f"this backup was encrypted with master key {self.master_id!r}, which is not "
                "configured (COURSEWRIGHT_MASTER_KEY or the master key file)") from None
        except InvalidTag:
            raise BackupError(
                f"wrong master key: the configured key {self.master_id!r} does not open this "
                "backup (or its header was altered)") from None


def _chunk_aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return header_digest + struct.pack(">QB", index, 1 if final else 0)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">Q", index)


class EncryptedWriter:
    """A write-only stream: ``write()`` plaintext, ``close()`` seals the final chunk.
    The header goes out at once; ``raw`` is not closed."""

    def __init__(self, raw: BinaryIO, master: MasterKeyProvider, *,
                 chunk_size: int = CHUNK_SIZE) -> None:
        key = secrets.token_bytes(KEY_BYTES)
        archive_id = uuid.uuid4().hex
        master_id, wrapped = master.wrap(key, context=_context(archive_id))
        self._prefix = secrets.token_bytes(NONCE_PREFIX_BYTES)
        header = json.dumps({
            "format": FORMAT, "cipher": "AES-256-GCM", "chunk_size": chunk_size,
            "archive_id": archive_id, "master_id": master_id,
            "wrapped_key": base64.b64encode(wrapped).decode(),
            "nonce_prefix": base64.b64encode(self._prefix).decode(),
            "created_at": datetime.now(UTC).isoformat(),
        }, sort_keys=True).encode()
        head = MAGIC + _FIXED.pack(FORMAT, len(header)) + header
        raw.write(head)
        self._raw = raw
        self._aead = AESGCM(key)
        self._digest = hashlib.sha256(head).digest()
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        self.master_id = master_id
        self.plaintext = hashlib.sha256()
        self.plaintext_size = 0
        self.written = len(head)

    def write(self, data: bytes, /) -> int:
        if self._closed:
            raise ValueError("write to a closed backup archive")
        self._buffer += data
        self.plaintext.update(data)
        self.plaintext_size += len(data)
        # Keep at least one byte back: only close() knows which chunk is the final one.
        while len(self._buffer) > self._chunk_size:
            self._seal(bytes(self._buffer[:self._chunk_size]), final=False)
            del self._buffer[:self._chunk_size]
        return len(data)

    def _seal(self, chunk: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index), chunk,
                                    _chunk_aad(self._digest, self._index, final))
        self._raw.write(sealed)
        self.written += len(sealed)
        self._index += 1

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._closed = True

    def read(self, size: int, /) -> bytes:
        raise OSError("a backup archive being written cannot be read")

    def tell(self) -> int:
        return self.plaintext_size

    def seek(self, pos: int, /) -> int:
        raise OSError("a backup archive is written as a stream")


def read_header(raw: BinaryIO) -> ArchiveHeader:
    fixed = _read_exactly(raw, len(MAGIC) + _FIXED.size)
    if len(fixed) < len(MAGIC) + _FIXED.size or not fixed.startswith(MAGIC):
        raise BackupError("not a coursewright backup (the file does not start with its header)")
    version, length = _FIXED.unpack(fixed[len(MAGIC):])
    if version != FORMAT:
        raise BackupError(f"backup format {version} is not supported by this version "
                          f"(it reads format {FORMAT})")
    if length > MAX_HEADER_BYTES:
        raise BackupError("the backup header is damaged (impossible length)")
    body = _read_exactly(raw, length)
    try:
        fields: dict[str, Any] = json.loads(body)
        header = ArchiveHeader(
            master_id=str(fields["master_id"]),
            wrapped_key=base64.b64decode(fields["wrapped_key"], validate=True),
            archive_id=str(fields["archive_id"]),
            nonce_prefix=base64.b64decode(fields["nonce_prefix"], validate=True),
            chunk_size=int(fields["chunk_size"]),
            created_at=str(fields["created_at"]),
            digest=hashlib.sha256(fixed + body).digest(),
        )
    except (ValueError, KeyError, TypeError):
        raise BackupError("the backup header is damaged (unreadable)") from None
    if len(header.nonce_prefix) != NONCE_PREFIX_BYTES or not 0 < header.chunk_size <= 1 << 30:
        raise BackupError("the backup header is damaged (bad parameters)")
    return header


def _read_exactly(raw: BinaryIO, size: int) -> bytes:
    parts = []
    while size > 0:
        part = raw.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


class EncryptedReader:
    """A read-only stream of the plaintext. Every byte handed out has been authenticated;
    call ``finish()`` to authenticate the final chunk and the end of the file."""

    def __init__(self, raw: BinaryIO, master: MasterKeyProvider) -> None:
        self.header = read_header(raw)
        self._aead = AESGCM(self.header.open_key(master))
        self._raw = raw
        self._sealed_size = self.header.chunk_size + TAG_BYTES
        self._pending = _read_exactly(raw, self._sealed_size)
        self._buffer = bytearray()
        self._index = 0
        self._done = False
        self.plaintext = hashlib.sha256()
        self.plaintext_size = 0

    def _next_chunk(self) -> None:
        sealed = self._pending
        # A chunk is final exactly when nothing follows it in the file.
        self._pending = (b"" if len(sealed) < self._sealed_size
                         else _read_exactly(self._raw, self._sealed_size))
        final = not self._pending
        nonce = _nonce(self.header.nonce_prefix, self._index)
        try:
            chunk = self._aead.decrypt(nonce, sealed,
                                       _chunk_aad(self.header.digest, self._index, final))
        except InvalidTag:
            raise BackupError(self._damage(sealed, nonce, final)) from None
        self._index += 1
        self._done = final
        self._buffer += chunk
        self.plaintext.update(chunk)
        self.plaintext_size += len(chunk)

    def _damage(self, sealed: bytes, nonce: bytes, final: bool) -> str:
        where = f"chunk {self._index} of the archive"
        if final and len(sealed) == self._sealed_size:
            try:  # does it open as a middle chunk? then the rest was cut off
                self._aead.decrypt(nonce, sealed,
                                   _chunk_aad(self.header.digest, self._index, False))
            except InvalidTag:
                pass
            else:
                return f"the backup is truncated: it ends after {where} without its final chunk"
        if final:
            return f"the backup is corrupt or truncated ({where} fails authentication)"
        return f"the backup is corrupt or was altered ({where} fails authentication)"

    def read(self, size: int = -1, /) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._next_chunk()
        if size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data

    def finish(self) -> None:
        """Read to the end: raises unless the final chunk authenticates and ends the file.
        Any plaintext not yet read (the tar's zero padding) is dropped."""
        while not self._done:
            self._next_chunk()
            self._buffer.clear()
        self._buffer.clear()

    def write(self, data: bytes, /) -> int:
        raise OSError("a backup archive is read-only")

    def tell(self) -> int:
        return self.plaintext_size - len(self._buffer)

    def seek(self, pos: int, /) -> int:
        raise OSError("a backup archive is read as a stream")

    def close(self) -> None:
        self._buffer.clear()

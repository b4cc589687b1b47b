"""Sealing values and files under an organisation's data key (AES-256-GCM).

Every ciphertext is bound, through GCM's associated data, to the organisation's key id
and to *where it lives*: ``table.column`` and the row's ``uid`` for database values,
the storage path for files. A ciphertext copied to another row, column, file or
organisation fails to decrypt instead of showing the wrong data.

Layout: ``b"cw1" | key version (2 bytes, big-endian) | nonce (12) | ciphertext+tag``.
Nonces are random (96 bits); a data key is rotated long before the 2^32 messages where
random nonces would start to risk a collision.
"""

from __future__ import annotations

import secrets
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coursewright.privacy.keys import KeyMissing, data_key, keyring

MAGIC = b"cw1"
HEADER = len(MAGIC) + 2 + 12


class DecryptionFailed(Exception):
    """The value is not ours, was altered, or was moved from where it was sealed."""


def _aad(key_id: str, where: str) -> bytes:
    return f"{key_id}|{where}".encode()


def seal(key_id: str, plaintext: bytes, *, where: str) -> bytes:
    try:
        key = data_key(key_id)
    except KeyMissing:
        keyring().create(key_id)  # refuses (KeyDestroyed) a key id that was ever destroyed
        key = data_key(key_id)
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key.key).encrypt(nonce, plaintext, _aad(key_id, where))
    return MAGIC + struct.pack(">H", key.version) + nonce + sealed


def unseal(key_id: str, blob: bytes, *, where: str) -> bytes:
    if len(blob) < HEADER + 16 or not blob.startswith(MAGIC):
        raise DecryptionFailed(f"not a sealed value ({where})")
    (version,) = struct.unpack(">H", blob[3:5])
    key = data_key(key_id, version)
    try:
        return AESGCM(key.key).decrypt(blob[5:HEADER], blob[HEADER:], _aad(key_id, where))
    except InvalidTag:
        raise DecryptionFailed(f"the value does not belong here ({where})") from None


def is_sealed(blob: bytes) -> bool:
    return blob.startswith(MAGIC) and len(blob) >= HEADER + 16

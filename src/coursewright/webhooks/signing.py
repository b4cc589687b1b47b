"""Signing webhook deliveries, so a receiver can tell they are ours and fresh.

Design note
-----------
- **What is signed.** ``HMAC-SHA256(secret, f"{t}." + body)``, hex, where ``t`` is the
  Unix time of the attempt and ``body`` the exact bytes of the request body. The
  header is ``Coursewright-Signature: t=<t>,v1=<hex>``; a receiver recomputes it over
  the raw body it received (not a re-serialised parse) and compares in constant time.
- **Freshness.** ``t`` is signed with the body, so a receiver that refuses timestamps
  more than ``REPLAY_WINDOW`` seconds (five minutes) from its clock refuses a captured
  request replayed later; within the window, the event id (the payload's ``id``) lets it
  drop a repeat. Every attempt — a retry, a resend — is signed afresh with its own ``t``.
- **The secret** is 256 random bits (``whsec_`` + URL-safe base64), made by us and
  shown once; the whole string, as shown, is the HMAC key. It is stored sealed under the
  organisation's key, because signing needs the secret itself (a hash would not do).
- **Rotation without a gap.** After a rotation the previous secret stays valid for a
  grace period: each request then carries two ``v1=`` signatures (new secret first), so
  a receiver still holding the old secret accepts it, and one holding the new one too.
  A receiver accepts a request when any ``v1`` matches. When the grace period ends the
  old secret is no longer used (and rotating again drops it at once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SIGNATURE_HEADER = "Coursewright-Signature"
EVENT_HEADER = "Coursewright-Event"
DELIVERY_HEADER = "Coursewright-Delivery"
SCHEME = "v1"
REPLAY_WINDOW = 300  # seconds a receiver should accept between t and its clock
PREFIX = "whsec_"


def new_secret() -> str:
    raw = secrets.token_bytes(32)
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex>[,v1=<hex>]``: one signature per secret, in order."""
    parts = [f"t={timestamp}"]
    parts += [f"{SCHEME}={signature(s, timestamp, body)}" for s in signing_secrets]
    return ",".join(parts)

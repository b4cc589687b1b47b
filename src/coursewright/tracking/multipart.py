"""multipart/mixed for statements with attachments (RFC 2046), and signed statements.

Parsing is strict where xAPI is: the first part is the statement(s) as
``application/json``; every other part is one attachment's bytes with
``Content-Transfer-Encoding: binary`` and an ``X-Experience-API-Hash`` header that
equals the SHA-256 of the bytes. Line breaks may be CRLF (as RFC 2046 says) or bare LF
(as some clients send).

A signed statement carries a JWS (compact serialization) as an attachment with the
signature usage type. The LRS checks what xAPI requires: the attachment's content type,
an RS256/RS384/RS512 algorithm, a payload that is a JSON statement equivalent to the
one received (ignoring what the LRS itself adds), and, when the JWS header carries an
X.509 chain (``x5c``), the signature against the first certificate's public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from coursewright.tracking.validation import XapiError

SIGNATURE_ALGORITHMS = {"RS256": "sha256", "RS384": "sha384", "RS512": "sha512"}
_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


@dataclass
class Part:
    headers: dict[str, str]
    body: bytes


def boundary_of(content_type: str) -> str:
    match = _BOUNDARY.search(content_type)
    boundary = (match.group(1) or match.group(2)) if match else ""
    if not boundary or len(boundary) > 200:
        raise XapiError(400, "multipart/mixed needs a boundary parameter in Content-Type")
    return boundary


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in re.split(rb"\r?\n", block):
        if not line.strip():
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise XapiError(400, "a multipart part has a malformed header line")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers


def parse(body: bytes, content_type: str) -> list[Part]:
    boundary = boundary_of(content_type).encode("latin-1")
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)")
    positions = list(delimiter.finditer(body))
    if not positions:
        raise XapiError(400, "the multipart body has no part with the declared boundary")
    parts: list[Part] = []
    for current, following in itertools.pairwise(positions):
        if current.group(1):  # the close delimiter: nothing after it counts
            break
        chunk = body[current.end():following.start()]
        head, sep, content = (chunk.partition(b"\r\n\r\n") if b"\r\n\r\n" in chunk
                              else chunk.partition(b"\n\n"))
        if not sep:
            if chunk.startswith((b"\r\n", b"\n")):  # a part with no headers
                head, content = b"", chunk.split(b"\n", 1)[1]
            else:
                raise XapiError(400, "a multipart part has no blank line after its headers")
        parts.append(Part(_headers(head), content))
    if not positions[-1].group(1):
        raise XapiError(400, "the multipart body does not end with its close delimiter")
    return parts


def statements_and_attachments(body: bytes, content_type: str
                               ) -> tuple[Any, dict[str, tuple[bytes, str]]]:
    """The JSON of the first part, and the attachments by SHA-256."""
    parts = parse(body, content_type)
    first = parts[0]
    if first.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise XapiError(400, "the first part of a multipart/mixed request must be the "
                             "statements as application/json")
    try:
        document = json.loads(first.body, object_pairs_hook=no_duplicate_keys)
    except (ValueError, UnicodeDecodeError) as exc:
        raise XapiError(400, f"the first part is not valid JSON: {exc}") from None
    attachments: dict[str, tuple[bytes, str]] = {}
    for part in parts[1:]:
        declared = part.headers.get("x-experience-api-hash", "").lower()
        if not declared:
            raise XapiError(400, "every attachment part needs an X-Experience-API-Hash "
                                 "header")
        if part.headers.get("content-transfer-encoding", "").lower() != "binary":
            raise XapiError(400, "every attachment part needs Content-Transfer-Encoding: "
                                 "binary")
        if hashlib.sha256(part.body).hexdigest() != declared:
            raise XapiError(400, "an attachment's bytes do not match its "
                                 "X-Experience-API-Hash")
        attachments[declared] = (part.body, part.headers.get("content-type",
                                                             "application/octet-stream"))
    return document, attachments


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the property {key!r} appears twice in one object")
            seen.add(key)
    return result


def build(document: bytes, attachments: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/mixed response body: the JSON document, then (sha2, type, bytes)
    parts. Returns (body, the Content-Type header's value)."""
    boundary = "xapi-" + secrets.token_hex(16)
    chunks = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(), document]
    for sha2, content_type, data in attachments:
        chunks.append(f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n"
                      f"Content-Transfer-Encoding: binary\r\n"
                      f"X-Experience-API-Hash: {sha2}\r\n\r\n".encode())
        chunks.append(data)
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/mixed; boundary={boundary}"


# --- signed statements ----------------------------------------------------------------


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_signature(jws: bytes, statement: dict[str, Any], *,
                     equivalent: Any) -> None:
    """Raise 400 unless ``jws`` is a well-formed signature of ``statement``."""
    try:
        text = jws.decode("ascii").strip()
        header_b64, payload_b64, signature_b64 = text.split(".")
        header = json.loads(_b64(header_b64))
        payload = json.loads(_b64(payload_b64))
        signature = _b64(signature_b64)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise XapiError(400, "the statement's signature is not a JWS in compact "
                             "serialization with a JSON payload") from None
    if not isinstance(header, dict) or header.get("alg") not in SIGNATURE_ALGORITHMS:
        raise XapiError(400, "a statement signature must use RS256, RS384 or RS512")
    if not isinstance(payload, dict) or not equivalent(payload, statement):
        raise XapiError(400, "the signed payload does not match the statement")
    chain = header.get("x5c")
    if chain is None:
        return
    try:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise XapiError(400, "the signing certificate does not hold an RSA key")
        algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                     "sha512": hashes.SHA512()}[SIGNATURE_ALGORITHMS[header["alg"]]]
        key.verify(signature, f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(),
                   algorithm)
    except XapiError:
        raise
    except InvalidSignature:
        raise XapiError(400, "the statement's signature does not verify against the "
                             "certificate in its x5c header") from None
    except (ValueError, TypeError, IndexError, KeyError, binascii.Error):
        raise XapiError(400, "the signature's x5c header is not a certificate "
                             "chain") from None

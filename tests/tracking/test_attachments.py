"""Attachments in multipart/mixed requests and answers, and signed statements
(xAPI 1.0.3 Data 2.4.11 and 2.6, Communication 1.5.2)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.tracking.conftest import Lrs, new_id, statement

pytestmark = pytest.mark.django_db

BOUNDARY = "-------314159265358979323846"
TEXT = b"here is a simple attachment"
SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def described(data: bytes, **overrides: Any) -> dict[str, Any]:
    return {"usageType": "http://example.com/attachment-usage/test",
            "display": {"en-US": "A test attachment"}, "contentType": "text/plain",
            "length": len(data), "sha2": sha(data), **overrides}


def multipart(document: Any, parts: list[tuple[bytes, dict[str, str]]], *,
              newline: str = "\r\n", first_type: str = "application/json") -> bytes:
    nl = newline
    chunks = [f"--{BOUNDARY}{nl}Content-Type: {first_type}{nl}{nl}".encode(),
              json.dumps(document).encode()]
    for data, headers in parts:
        chunks.append(f"{nl}--{BOUNDARY}{nl}".encode())
        chunks.extend(f"{k}: {v}{nl}".encode() for k, v in headers.items())
        chunks.append(nl.encode())
        chunks.append(data)
    chunks.append(f"{nl}--{BOUNDARY}--{nl}".encode())
    return b"".join(chunks)


def part(data: bytes, **overrides: str) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": "text/plain", "Content-Transfer-Encoding": "binary",
               "X-Experience-API-Hash": sha(data)}
    headers.update(overrides)
    return data, {k: v for k, v in headers.items() if v}


def post_multipart(lrs: Lrs, body: bytes, boundary: str = BOUNDARY) -> Any:
    return lrs.post("statements", raw=body,
                    content_type=f"multipart/mixed; boundary={boundary}")


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_an_attachment_is_stored_and_returned_with_attachments_true(lrs: Lrs,
                                                                    newline: str) -> None:
    # given a statement with a text attachment, sent as multipart/mixed
    sent = statement(attachments=[described(TEXT)])
    response = post_multipart(lrs, multipart(sent, [part(TEXT)], newline=newline))
    assert response.status_code == 200, response.content
    statement_id = response.json()[0]
    # when it is read without attachments: plain JSON
    plain = lrs.get("statements", {"statementId": statement_id})
    assert plain["Content-Type"] == "application/json"
    # when it is read with attachments=true: multipart/mixed with the bytes
    response = lrs.get("statements", {"statementId": statement_id, "attachments": True})
    content_type = response["Content-Type"]
    assert content_type.startswith("multipart/mixed; boundary=")
    boundary = content_type.split("boundary=")[1]
    sections = response.content.split(f"--{boundary}".encode())
    assert json.loads(sections[1].split(b"\r\n\r\n", 1)[1])["id"] == statement_id
    assert TEXT in sections[2]
    assert f"X-Experience-API-Hash: {sha(TEXT)}".encode() in sections[2]
    # and a statement list with attachments=true is multipart too
    listed = lrs.get("statements", {"attachments": True})
    assert listed["Content-Type"].startswith("multipart/mixed")


def test_the_attachment_bytes_are_sealed_in_storage(lrs: Lrs, settings: Any) -> None:
    from pathlib import Path

    post_multipart(lrs, multipart(statement(attachments=[described(TEXT)]), [part(TEXT)]))
    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    assert all(TEXT not in p.read_bytes() for p in files)


def test_a_file_url_attachment_needs_no_part(lrs: Lrs) -> None:
    sent = statement(attachments=[described(TEXT, fileUrl="http://over.there.com/file.txt")])
    assert lrs.post("statements", sent).status_code == 200


@pytest.mark.parametrize("case", [
    "no part for an attachment without fileUrl", "hash mismatch", "no hash header",
    "no binary transfer encoding", "first part not json", "part nobody declared",
    "no boundary in content type", "form-data"])
def test_malformed_attachment_requests_are_400(lrs: Lrs, case: str) -> None:
    sent = statement(attachments=[described(TEXT)])
    body = multipart(sent, [part(TEXT)])
    content_type = f"multipart/mixed; boundary={BOUNDARY}"
    if case == "no part for an attachment without fileUrl":
        response = lrs.post("statements", sent)
        assert response.status_code == 400
        return
    if case == "hash mismatch":
        body = multipart(sent, [part(TEXT, **{"X-Experience-API-Hash": sha(b"other")})])
    elif case == "no hash header":
        body = multipart(sent, [part(TEXT, **{"X-Experience-API-Hash": ""})])
    elif case == "no binary transfer encoding":
        body = multipart(sent, [part(TEXT, **{"Content-Transfer-Encoding": ""})])
    elif case == "first part not json":
        body = multipart(sent, [part(TEXT)], first_type="text/plain")
    elif case == "part nobody declared":
        body = multipart(sent, [part(TEXT), part(b"extra")])
    elif case == "no boundary in content type":
        content_type = "multipart/mixed;"
    elif case == "form-data":
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
    response = lrs.post("statements", raw=body, content_type=content_type)
    assert response.status_code == 400, response.content


def test_put_with_an_attachment(lrs: Lrs) -> None:
    statement_id = new_id()
    body = multipart(statement(attachments=[described(TEXT)]), [part(TEXT)])
    response = lrs.put("statements", raw=body, params={"statementId": statement_id},
                       content_type=f"multipart/mixed; boundary={BOUNDARY}")
    assert response.status_code == 204


# --- signed statements ----------------------------------------------------------------


@pytest.fixture(scope="module")
def signer() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coursewright test signer")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(1)
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, certificate


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws(payload: Any, key: rsa.RSAPrivateKey, *, alg: str = "RS256",
        certificate: x509.Certificate | None = None) -> bytes:
    header: dict[str, Any] = {"alg": alg}
    if certificate is not None:
        header["x5c"] = [base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)).decode()]
    signing_input = f"{b64url(json.dumps(header).encode())}." \
                    f"{b64url(json.dumps(payload).encode())}"
    digest = {"RS256": hashes.SHA256(), "HS256": hashes.SHA256()}[alg]
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), digest)
    return f"{signing_input}.{b64url(signature)}".encode()


def signed_request(original: dict[str, Any], signature: bytes, *,
                   content_type: str = "application/octet-stream") -> bytes:
    sent = dict(original, attachments=[described(
        signature, usageType=SIGNATURE, contentType=content_type)])
    return multipart(sent, [part(signature, **{"Content-Type": content_type})])


def test_a_correctly_signed_statement_is_accepted(lrs: Lrs, signer: Any) -> None:
    key, certificate = signer
    original = statement(id=new_id())
    body = signed_request(original, jws(original, key, certificate=certificate))
    response = post_multipart(lrs, body)
    assert response.status_code == 200, response.content
    got = lrs.get("statements", {"statementId": original["id"], "attachments": True})
    assert got.status_code == 200


@pytest.mark.parametrize("case", ["bad content type", "HS256", "payload differs",
                                  "not a JWS", "wrong certificate"])
def test_malformed_signatures_are_400(lrs: Lrs, signer: Any, case: str) -> None:
    key, certificate = signer
    original = statement(id=new_id())
    content_type = "application/octet-stream"
    signature = jws(original, key, certificate=certificate)
    if case == "bad content type":
        content_type = "text/plain; charset=ascii"
    elif case == "HS256":
        signature = jws(original, key, alg="HS256")
    elif case == "payload differs":
        signature = jws({**original, "verb": {"id": "http://x.example/other"}}, key)
    elif case == "not a JWS":
        signature = b"this is not a signature"
    elif case == "wrong certificate":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signature = jws(original, other, certificate=certificate)
    response = post_multipart(lrs, signed_request(original, signature,
                                                  content_type=content_type))
    assert response.status_code == 400, response.content
    assert lrs.get("statements", {"statementId": original["id"]}).status_code == 404

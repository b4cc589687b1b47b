"""The outbound URL guard: only public addresses, checked at connect time (no second DNS
lookup to rebind), TLS checked against the name, redirects re-checked hop by hop."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from coursewright import netguard
from coursewright.netguard import UrlRefused, address_allowed, check_url, send


class Receiver(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes]] = []
    redirect_to = ""

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).seen.append((self.command, self.path, body))
        if self.path.startswith("/redirect") and type(self).redirect_to:
            self.send_response(302)
            self.send_header("Location", type(self).redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = b"x" * 100_000 if self.path == "/big" else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.seen = []
    Receiver.redirect_to = ""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_allowed(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = True


# --- syntax ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "", "   ", "ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)",
    "https://user:pw@example.com/", "https://user@example.com/", "https:///path",
    "https://example.com/#frag", "https://example.com:0/", "https://example.com:99999/",
    "https://exa mple.com/", "https://example.com/\nX-Injected: 1", "//example.com/",
    "https://" + "a" * 2100 + ".com/",
])
def test_bad_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_url(url)
    assert refused.value.status == 422
    assert refused.value.message


def test_good_urls_are_parsed() -> None:
    assert check_url("https://lrs.example.com/xapi/statements?x=1") == netguard.Target(
        "https", "lrs.example.com", 443, "/xapi/statements?x=1")
    assert check_url("HTTP://Example.com.:8080") == netguard.Target(
        "http", "example.com", 8080, "/")
    assert check_url("https://[2001:db8::1]/").host == "2001:db8::1"


@given(st.text(max_size=300))
def test_any_text_is_a_target_or_a_clear_refusal(text: str) -> None:
    try:
        target = check_url(text)
    except UrlRefused as refused:
        message = refused.message
        assert message
    else:
        assert target.scheme in ("http", "https")
        assert target.host
        assert 0 < target.port < 65536


# --- addresses -------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1", "::1", "::",
    "fe80::1", "fc00::1", "fd12:3456::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::7f00:1", "ff02::1",
])
def test_internal_addresses_are_refused(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2001:4860:4860::8888",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address))


def test_the_operator_may_allow_private_targets(private_allowed: None) -> None:
    assert address_allowed(ipaddress.ip_address("127.0.0.1"))


# --- sending ---------------------------------------------------------------------------


def test_loopback_is_refused_before_anything_is_sent(receiver: str) -> None:
    with pytest.raises(UrlRefused, match="not public"):
        send(receiver + "/hook", body=b"{}")
    with pytest.raises(UrlRefused):
        send(receiver.replace("127.0.0.1", "localhost") + "/hook", body=b"{}")
    assert Receiver.seen == []


def test_a_name_resolving_to_any_internal_address_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def lookup(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    with pytest.raises(UrlRefused, match=r"10\.1\.2\.3"):
        send("https://mixed.example/")


def test_no_second_lookup_can_rebind_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # the name answers a public address first and loopback afterwards (DNS rebinding)
    answers = iter(["93.184.215.14", "127.0.0.1", "127.0.0.1"])
    lookups: list[str] = []
    connects: list[tuple[str, int]] = []

    def lookup(host: str, port: int, **_: Any) -> list[Any]:
        address = next(answers)
        lookups.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        connects.append(address)
        raise OSError("no network in tests")

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(socket, "create_connection", connect)
    with pytest.raises(ConnectionError):
        send("http://rebind.example/hook", body=b"{}")
    # one lookup, and the socket went to the vetted address, not to the name
    assert lookups == ["93.184.215.14"]
    assert connects == [("93.184.215.14", 80)]


def test_a_local_receiver_when_the_operator_allows_it(private_allowed: None,
                                                      receiver: str) -> None:
    answer = send(receiver + "/hook?a=1", body=b'{"x": 1}',
                  headers={"Content-Type": "application/json"})
    assert (answer.status, answer.body, answer.address) == (200, b"ok", "127.0.0.1")
    assert Receiver.seen == [("POST", "/hook?a=1", b'{"x": 1}')]
    assert len(send(receiver + "/big", method="GET", max_body=1000).body) == 1000


def test_redirects_are_returned_unless_followed_and_each_hop_is_checked(
        receiver: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # only this one receiver's address is acceptable here: 127.0.0.1
    monkeypatch.setattr(netguard, "address_allowed",
                        lambda a: str(a) == "127.0.0.1")
    Receiver.redirect_to = "http://169.254.169.254/latest/meta-data/"
    answer = send(receiver + "/redirect", body=b"{}")
    assert (answer.status, answer.headers["location"]) == (
        302, "http://169.254.169.254/latest/meta-data/")
    with pytest.raises(UrlRefused, match=r"169\.254\.169\.254"):
        send(receiver + "/redirect", body=b"{}", follow_redirects=True)
    # a redirect to an allowed place is followed; a POST becomes a GET after a 302
    Receiver.seen = []
    Receiver.redirect_to = "/landed"
    followed = send(receiver + "/redirect", body=b"{}", follow_redirects=True)
    assert (followed.status, followed.url) == (200, receiver + "/landed")
    assert [(m, p) for m, p, _ in Receiver.seen] == [("POST", "/redirect"), ("GET", "/landed")]
    # and a loop ends
    Receiver.redirect_to = "/redirect"
    with pytest.raises(UrlRefused, match="redirects"):
        send(receiver + "/redirect", follow_redirects=True)


# --- TLS -------------------------------------------------------------------------------


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_is_verified_against_the_host_name(tmp_path: Path, settings: Any,
                                               private_allowed: None) -> None:
    cert_file, key_file = _certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        # not trusted: refused
        with pytest.raises(ConnectionError):
            send(f"https://localhost:{port}/hook", body=b"{}", timeout=5)
        settings.OUTBOUND_CA_FILE = str(cert_file)
        # trusted, and the name matches the certificate, although the socket was opened
        # to the vetted address
        assert send(f"https://localhost:{port}/hook", body=b"{}", timeout=5).status == 200
        # the same server by address: the certificate does not name it
        with pytest.raises(ConnectionError):
            send(f"https://127.0.0.1:{port}/hook", body=b"{}", timeout=5)
    finally:
        server.shutdown()
        server.server_close()

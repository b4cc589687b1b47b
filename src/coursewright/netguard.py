"""The outbound URL guard: every request the platform makes to an address a customer gave
it (statement forwarding to an external LRS, partner webhooks) goes through ``send``.

Design, and what it guarantees:

- **Only public addresses, checked when connecting.** The host name is resolved once,
  every address it resolves to must be public (``ipaddress``'s ``is_global``, with
  IPv4-mapped and NAT64-embedded IPv4 addresses unwrapped), and the socket connects to
  one of *those vetted addresses* — never to the name again. So DNS rebinding (a name
  that answers a public address to the check and ``127.0.0.1`` to the connect) cannot
  reach an internal address: there is no second lookup. Loopback, private (RFC 1918,
  ULA), link-local (cloud metadata at 169.254.169.254), shared (100.64/10), multicast,
  reserved and unspecified addresses are refused unless the operator allows private
  targets (``COURSEWRIGHT_OUTBOUND_ALLOW_PRIVATE``; the tests do, for their local
  receivers).
- **TLS is verified against the name.** For https the certificate is checked against
  the URL's host name (SNI too), although the socket was opened to an address.
- **Redirects are not followed blindly.** By default a 3xx is returned to the caller as
  it is (forwarders and webhooks treat it as a failed delivery). With
  ``follow_redirects`` each hop's ``Location`` is checked from the start — scheme, host,
  resolution, addresses — at most ``MAX_REDIRECTS`` times.
- **URLs are checked before they are stored.** ``check_url`` (syntax only: http or https,
  a host, no user name or password in the URL, no fragment, a sane port) runs when a
  customer saves a target, so a typo is a clear 422 then, not a silent failure later;
  the address check runs again at every send, because DNS answers change.
- **Bounded.** A timeout per request, and at most ``max_body`` bytes of an answer are
  read.

Only the standard library is used (``http.client`` over a socket this module opens), so
there is no connection pool or proxy setting that could route around the check.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from coursewright.errors import Invalid

MAX_URL = 2000
MAX_REDIRECTS = 3
DEFAULT_TIMEOUT = 10.0
NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(Invalid):
    """The target is not acceptable (syntax, or an address that is not public)."""

    code = "url_refused"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""
    url: str = ""  # the URL that gave this answer (after redirects)
    address: str = ""  # the address that was connected to


def allow_private() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE", False))


def check_url(url: str) -> Target:
    """Syntax check of an outbound URL (no network): http(s), a host, no credentials."""
    if not isinstance(url, str) or not url.strip():
        raise UrlRefused("Give a URL (https://…).")
    url = url.strip()
    if len(url) > MAX_URL:
        raise UrlRefused(f"The URL is longer than {MAX_URL} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UrlRefused("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"The URL is not valid ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UrlRefused("Only http and https URLs can be used.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("Put credentials in the settings meant for them, not in the URL.")
    if parts.fragment:
        raise UrlRefused("The URL may not have a fragment (#…).")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("The URL needs a host name.")
    if port == 0:
        raise UrlRefused("The URL's port is not valid.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80),
                  path=path)


def _unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_allowed(address: IPAddress) -> bool:
    """A public address (or any, when the operator allows private targets)."""
    if allow_private():
        return True
    inner = _unwrap(address)
    return inner.is_global and not inner.is_multicast


def resolve(target: Target) -> list[IPAddress]:
    """Every address the host resolves to, all of them allowed, or UrlRefused."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UrlRefused(f"The host {target.host} could not be resolved.") from exc
        found = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
    if not found:
        raise UrlRefused(f"The host {target.host} has no address.")
    refused = [str(a) for a in found if not address_allowed(a)]
    if refused:
        raise UrlRefused(f"The host {target.host} resolves to an address that is not "
                         f"public ({', '.join(refused)}); such targets are not allowed.")
    return found


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, address: IPAddress, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._address), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, address: IPAddress, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((str(self._address), self.port), self.timeout)
        # the certificate is checked against the URL's host name, not the address
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    cafile = getattr(settings, "OUTBOUND_CA_FILE", "")
    if cafile:
        context.load_verify_locations(cafile)
    return context


def _send_once(target: Target, method: str, body: bytes | None, headers: dict[str, str],
               timeout: float, max_body: int) -> Answer:
    addresses = resolve(target)
    last_error: OSError | None = None
    for address in addresses:
        connection: http.client.HTTPConnection = (
            _PinnedHTTPSConnection(target, address, timeout, _tls_context())
            if target.scheme == "https" else _PinnedHTTPConnection(target, address, timeout))
        try:
            connection.request(method, target.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(max_body)
            return Answer(status=response.status,
                          headers={k.lower(): v for k, v in response.getheaders()},
                          body=data, address=str(address))
        except OSError as exc:  # refused, unreachable, TLS failure, timeout: next address
            last_error = exc
        finally:
            connection.close()
    raise ConnectionError(f"could not reach {target.host}: {last_error}")


def send(url: str, *, method: str = "POST", body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
         follow_redirects: bool = False, max_body: int = 64 * 1024) -> Answer:
    """Send one request to a customer-given URL through the guard.

    Raises UrlRefused (the URL or its addresses are not allowed) or ConnectionError (no
    answer); any HTTP answer, 3xx included, is returned."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        target = check_url(current)
        answer = _send_once(target, method, body, dict(headers or {}), timeout, max_body)
        answer.url = current
        location = answer.headers.get("location")
        if not (follow_redirects and answer.status in (301, 302, 303, 307, 308) and location):
            return answer
        current = urljoin(current, location)
        if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
            method, body = "GET", None
    raise UrlRefused(f"More than {MAX_REDIRECTS} redirects.")

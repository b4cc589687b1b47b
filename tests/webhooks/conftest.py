"""Fixtures for the webhook tests: a partner's receiver on 127.0.0.1 that keeps every
request it gets and answers as the test plans (status, headers, a delay), Acme's
endpoints made through the real actions, and a launched course to report progress on.

Private targets are allowed here (the receiver is on loopback), as an operator of a
closed network would; tests about the outbound guard switch that off themselves."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from coursewright.audit.actor import Actor
from coursewright.webhooks import actions
from coursewright.webhooks.models import Event, WebhookEndpoint
from tests.conftest import People

ALL_EVENTS = list(Event.values)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b"thanks"


@dataclass
class Hit:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Partner:
    """What the receiving end saw; ``plan`` answers the next requests in order (then
    ``usual``)."""

    base: str
    hits: list[Hit] = field(default_factory=list)
    plan: list[Answer] = field(default_factory=list)
    usual: Answer = field(default_factory=Answer)

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/coursewright?tenant=t1"


class _Endpoint(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        partner: Partner = self.server.partner
        size = int(self.headers.get("Content-Length") or 0)
        partner.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()},
                                self.rfile.read(size)))
        answer = partner.plan.pop(0) if partner.plan else partner.usual
        if answer.delay:
            time.sleep(answer.delay)
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:  # the sender gave up waiting (a timeout test)
            pass


def serve_partner() -> Iterator[Partner]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    server.daemon_threads = True
    server.partner = Partner(base=f"http://127.0.0.1:{server.server_address[1]}")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.partner  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def partner() -> Iterator[Partner]:
    yield from serve_partner()


@pytest.fixture(autouse=True)
def _closed_network(settings: Any) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = True


def add_endpoint(people: People, url: str, events: list[str] | None = None,
                 **options: Any) -> tuple[WebhookEndpoint, str]:
    return actions.create_endpoint(people.acme, url=url, events=events or ALL_EVENTS,
                                   actor=Actor.person(people.alice), **options)


def signed_by(secret: str, hit: Hit) -> bool:
    """The request carries a v1 signature of its exact body by ``secret`` (an independent
    check: the README's own example is tested in test_readme_example.py)."""
    fields = [part.split("=", 1) for part in hit.headers["coursewright-signature"].split(",")]
    timestamp = next(v for k, v in fields if k == "t")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + hit.body,
                        hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in fields)

"""Helpers for the LTI tests (no tests here): a stub platform on 127.0.0.1 that serves
its key set, an OAuth2 token endpoint and an AGS line item; id_tokens crafted with
joserfc and its RSA key; a registration for Acme on a license for a deployed course.

The independent platform (``tests/support/lti_platform.py``, lti1p3platform) drives the
browser test; this stub lets the security tests shape every claim and header."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.test import Client
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

from coursewright.audit.actor import Actor
from coursewright.courses.models import Course
from coursewright.delivery.models import License
from coursewright.lti import actions
from coursewright.lti.models import PlatformRegistration
from tests.conftest import People
from tests.delivery.test_licenses_fixtures import deployed_course, issue

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
DEPLOYMENT = "dep-1"
CLIENT_ID = "cw-client-42"


@dataclass
class StubPlatform:
    url: str
    key: RSAKey
    kid: str
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    score_auth: list[str] = field(default_factory=list)
    score_status: int = 200
    jwks_fetches: int = 0

    @property
    def issuer(self) -> str:
        return self.url

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self.key.as_dict(private=False), "kid": self.kid,
                          "alg": "RS256", "use": "sig"}]}

    def id_token(self, *, nonce: str, course: Course | None = None, roles: list[str] | None
                 = None, header: dict[str, Any] | None = None, key: Any = None,
                 alg: str = "RS256", drop: tuple[str, ...] = (), **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "sub": "lms-user-7", "iat": now,
            "exp": now + 300, "nonce": nonce,
            CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "message_type": "LtiResourceLinkRequest", CLAIM + "version": "1.3.0",
            CLAIM + "roles": roles if roles is not None else [LEARNER],
            CLAIM + "resource_link": {"id": "rl-1"},
            CLAIM + "target_link_uri": "https://tool.example/launch",
        }
        if course is not None:
            body[CLAIM + "custom"] = {"course": str(course.uid)}
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        head = {"alg": alg, "kid": self.kid, "typ": "JWT", **(header or {})}
        return jws.serialize_compact(head, json.dumps(body), key or self.key,
                                     algorithms=[alg])


@contextmanager
def stub_platform() -> Iterator[StubPlatform]:
    key = RSAKey.generate_key(2048)
    platform = StubPlatform(url="", key=key, kid="platform-key-1")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _json(self, status: int, data: Any) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/jwks":
                platform.jwks_fetches += 1
                self._json(200, platform.jwks())
            else:
                self._json(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/token":
                form = parse_qs(raw.decode())
                platform.token_requests.append(form)
                self._json(200, {"access_token": "at-" + secrets.token_hex(8),
                                 "token_type": "Bearer", "expires_in": 3600,
                                 "scope": form.get("scope", [""])[0]})
            elif self.path.endswith("/scores"):
                platform.score_auth.append(self.headers.get("Authorization", ""))
                platform.scores.append({"path": self.path,
                                        "type": self.headers.get("Content-Type"),
                                        **json.loads(raw)})
                self._json(platform.score_status, {})
            else:
                self._json(404, {})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    platform.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield platform
    finally:
        server.shutdown()
        server.server_close()


def hs256_with_public_key(platform: StubPlatform, nonce: str, course: Course) -> str:
    """The classic confusion attack: HS256 keyed with the platform's public key."""
    secret = json.dumps(platform.key.as_dict(private=False)).encode()
    return platform.id_token(nonce=nonce, course=course, alg="HS256",
                             key=OctKey.import_key(secret))


@dataclass
class Setup:
    platform: StubPlatform
    registration: PlatformRegistration
    license: License
    course: Course


def register(people: People, platform: StubPlatform, *, client_id: str = CLIENT_ID,
             **license_settings: Any) -> Setup:
    live = deployed_course(people.acme, people.bob)
    license, _ = issue(people, [live.course], **license_settings)
    reg = actions.register_platform(
        people.acme, name="Acme Moodle", issuer=platform.issuer, client_id=client_id,
        deployment_ids=[DEPLOYMENT], jwks_url=f"{platform.url}/jwks",
        auth_url=f"{platform.url}/auth", token_url=f"{platform.url}/token",
        license=license, actor=Actor.person(people.alice))
    return Setup(platform, reg, license, live.course)


def login(client: Client, setup: Setup, **extra: str) -> tuple[str, str]:
    """The state and nonce of a third-party-initiated login (from our redirect)."""
    params = {"iss": setup.platform.issuer, "login_hint": "hint-1",
              "target_link_uri": "https://tool.example/launch", "client_id": CLIENT_ID,
              "lti_deployment_id": DEPLOYMENT, **extra}
    response = client.post(f"/lti/r/{setup.registration.uid}/login", params)
    assert response.status_code == 302, response.content[:500]
    query = parse_qs(urlsplit(response["Location"]).query)
    return query["state"][0], query["nonce"][0]


def launch(client: Client, setup: Setup, id_token: str, state: str) -> Any:
    return client.post(f"/lti/r/{setup.registration.uid}/launch",
                       {"id_token": id_token, "state": state})


def new_uuid() -> str:
    return str(uuid.uuid4())

"""Fixtures for the LRS tests: credentials for Acme and Globex, and a client that speaks
xAPI (Basic auth, the version header) through the real URL routes and middleware."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from coursewright.audit.actor import Actor
from tests.conftest import People

ALL = ["all"]


def statement(**overrides: Any) -> dict[str, Any]:
    """The xAPI specification's simple example statement, with a fresh activity."""
    data: dict[str, Any] = {
        "actor": {"objectType": "Agent", "name": "Project Tin Can API",
                  "mbox": "mailto:user@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/created",
                 "display": {"en-US": "created"}},
        "object": {"id": "http://example.adlnet.gov/xapi/example/simplestatement",
                   "definition": {"name": {"en-US": "simple statement"},
                                  "description": {"en-US": "A simple Experience API "
                                                           "statement."}}},
    }
    data.update(overrides)
    return data


@dataclass
class Lrs:
    """An xAPI client for one credential."""

    key: str
    secret: str
    version: str = "1.0.3"
    client: Client | None = None

    def __post_init__(self) -> None:
        self.client = Client()

    def headers(self, extra: dict[str, str] | None = None, *, auth: bool = True,
                version: bool = True) -> dict[str, str]:
        headers: dict[str, str] = {}
        if auth:
            token = base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if version:
            headers["X-Experience-API-Version"] = self.version
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                body: Any = None, content_type: str = "application/json",
                headers: dict[str, str] | None = None, auth: bool = True,
                version: bool = True, raw: bytes | None = None) -> Any:
        assert self.client is not None
        query = ""
        if params:
            query = "?" + urlencode({k: (json.dumps(v) if isinstance(v, dict) else
                                         str(v).lower() if isinstance(v, bool) else v)
                                     for k, v in params.items()})
        data: Any = raw if raw is not None else (
            json.dumps(body) if body is not None and content_type.startswith(
                "application/json") else body)
        kwargs: dict[str, Any] = {"headers": self.headers(headers, auth=auth,
                                                          version=version)}
        if data is not None:
            kwargs.update(data=data, content_type=content_type)
        return self.client.generic(method, f"/xapi/{path}{query}", **kwargs)

    def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("GET", path, params, **kw)

    def post(self, path: str, body: Any = None, params: dict[str, Any] | None = None,
             **kw: Any) -> Any:
        return self.request("POST", path, params, body=body, **kw)

    def put(self, path: str, body: Any = None, params: dict[str, Any] | None = None,
            **kw: Any) -> Any:
        return self.request("PUT", path, params, body=body, **kw)

    def delete(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("DELETE", path, params, **kw)

    def store(self, *statements: dict[str, Any]) -> list[str]:
        response = self.post("statements", list(statements))
        assert response.status_code == 200, response.content
        ids: list[str] = response.json()
        return ids


@pytest.fixture
def credential_for(people: People) -> Callable[..., Lrs]:
    from coursewright.tracking.credentials import issue_credential

    def make(org: Any = None, scopes: list[str] | None = None, *, license: Any = None,
             version: str = "1.0.3") -> Lrs:
        org = org or people.acme
        owner = people.alice if org.pk == people.acme.pk else people.mallory
        credential, secret = issue_credential(
            org, name="test LMS", scopes=scopes or ALL, license=license,
            actor=Actor.person(owner))
        return Lrs(credential.key, secret, version)

    return make


@pytest.fixture
def lrs(credential_for: Callable[..., Lrs]) -> Lrs:
    """Acme's LRS, a credential with every scope, speaking 1.0.3."""
    return credential_for()


@pytest.fixture
def lrs2(credential_for: Callable[..., Lrs]) -> Lrs:
    """Acme's LRS, speaking 2.0.0."""
    return credential_for(version="2.0.0")


@pytest.fixture
def globex_lrs(credential_for: Callable[..., Lrs], people: People) -> Lrs:
    return credential_for(people.globex)


def new_id() -> str:
    return str(uuid.uuid4())

"""Shared fixtures. The named people sit on the permission boundaries:

Alice owns Acme, Bob authors at Acme, Rita reviews at Acme, Mallory owns Globex and
must see nothing of Acme. Each organisation also has an API key (``acme_key``,
``globex_key``: the secrets).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

PASSWORD = "correct horse battery staple"


def _loopback_only(connect: Any) -> Any:
    def guarded(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:  # a name: only localhost
                loopback = host == "localhost"
            if not loopback:
                raise ConnectionRefusedError(
                    f"tests talk only to 127.0.0.1, not {host} (tests/conftest.py)")
        return connect(sock, address)

    return guarded


@pytest.fixture(autouse=True, scope="session")
def _no_internet() -> Iterator[None]:
    """Tests talk only to 127.0.0.1: any other address a test's code connects to (a
    webhook or forwarding target with a public address, say) is refused at once, as a
    closed port would be, instead of reaching the internet."""
    original, original_ex = socket.socket.connect, socket.socket.connect_ex
    socket.socket.connect = _loopback_only(original)  # type: ignore[method-assign]
    socket.socket.connect_ex = _loopback_only(original_ex)  # type: ignore[method-assign]
    yield
    socket.socket.connect, socket.socket.connect_ex = (  # type: ignore[method-assign]
        original, original_ex)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for a module's browser tests (``tests.support.browser``)."""
    from tests.support.browser import launch_chromium

    # Playwright's sync API runs an asyncio loop in this thread, so Django would refuse
    # the test's own (plain, synchronous) ORM calls and the flush after each test.
    with pytest.MonkeyPatch.context() as patch, launch_chromium() as chromium:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield chromium


@pytest.fixture(autouse=True)
def _live_server_goes_quiet(request: pytest.FixtureRequest) -> Iterator[None]:
    """A live-server test ends only once the server has answered every request its
    pages sent (a report on ``pagehide``, say): emptying the database under a request
    in flight deadlocks on PostgreSQL. Set up after the database fixture, so it is torn
    down before it."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    from tests.support.inflight import wait_until_quiet

    wait_until_quiet()


@pytest.fixture(autouse=True)
def _isolated_storage(settings: Any, tmp_path: Any) -> None:
    """Each test writes files under its own temporary directory and sends no real mail."""
    storage = tmp_path / "storage"
    storage.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": str(storage)}},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # each test has its own keyring; database ids restart when a test's transaction
    # rolls back, so the org -> key id cache must not outlive the test
    settings.KEYS_DIR = tmp_path / "keys"
    from coursewright.privacy.keys import forget_cached
    from coursewright.privacy.orgkeys import key_id_for_org

    key_id_for_org.cache_clear()
    forget_cached()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@dataclass
class People:
    acme: Any
    globex: Any
    alice: Any
    bob: Any
    rita: Any
    mallory: Any
    acme_key: str
    globex_key: str


@pytest.fixture
def people(db: None) -> People:
    from coursewright.accounts.models import User
    from coursewright.audit.actor import Actor
    from coursewright.audit.models import Channel
    from coursewright.orgs import actions

    system = Actor.system(Channel.CLI)
    alice = User.objects.create_user("alice@acme.test", PASSWORD, display_name="Alice")
    bob = User.objects.create_user("bob@acme.test", PASSWORD, display_name="Bob")
    rita = User.objects.create_user("rita@acme.test", PASSWORD, display_name="Rita")
    mallory = User.objects.create_user("mallory@globex.test", PASSWORD, display_name="Mallory")
    acme = actions.create_organisation(name="Acme", region="eu", owner=alice, actor=system)
    globex = actions.create_organisation(name="Globex", region="us", owner=mallory,
                                         actor=system)
    actions.add_member(acme, bob, "author", actor=system)
    actions.add_member(acme, rita, "reviewer", actor=system)
    _, acme_key = actions.create_api_key(acme, name="acme ci", actor=system)
    _, globex_key = actions.create_api_key(globex, name="globex ci", actor=system)
    return People(acme, globex, alice, bob, rita, mallory, acme_key, globex_key)


@pytest.fixture
def acme(people: People) -> Any:
    return people.acme


@pytest.fixture
def globex(people: People) -> Any:
    return people.globex


@pytest.fixture
def alice(people: People) -> Any:
    return people.alice


@pytest.fixture
def bob(people: People) -> Any:
    return people.bob


@pytest.fixture
def rita(people: People) -> Any:
    return people.rita


@pytest.fixture
def mallory(people: People) -> Any:
    return people.mallory


def client_for(user: Any) -> Client:
    """A dashboard client signed in as ``user`` (CSRF checks on, as in a browser)."""
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def key_client(secret: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def acme_api(people: People) -> Client:
    return key_client(people.acme_key)


@pytest.fixture
def globex_api(people: People) -> Client:
    return key_client(people.globex_key)


@pytest.fixture
def run_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run jobs queued "on commit" at once. Tests run inside a transaction that never
    commits, so without this a queued job would never start."""
    from django.db import transaction

    def run_now(func: Any, using: Any = None, robust: bool = False) -> None:
        func()

    monkeypatch.setattr(transaction, "on_commit", run_now)

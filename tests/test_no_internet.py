"""The suite's own guard (tests/conftest.py): code under test cannot reach past loopback."""

from __future__ import annotations

import socket

import pytest


def test_a_public_address_is_refused_at_once() -> None:
    with pytest.raises(ConnectionRefusedError, match=r"tests talk only to 127\.0\.0\.1"):
        socket.create_connection(("93.184.215.14", 443), timeout=5)


def test_loopback_still_connects() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass

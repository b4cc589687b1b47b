"""Knows when the live server is answering a request, so a test can wait for quiet.

A page closed at the end of a browser test may still have a request on its way (a
progress report sent on ``pagehide``, a keep-alive). If the database is emptied while
the server answers it, the two fight for locks: on PostgreSQL the flush's TRUNCATE and
the request's transaction can deadlock, and the next test on that worker fails to set
up. The middleware counts requests being answered; ``wait_until_quiet`` returns once
none has been in flight for a short while (or gives up after a timeout, leaving the
test to fail loudly if the server is truly stuck).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_lock = threading.Lock()
_in_flight = 0
_last_finished = 0.0


class InFlightMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        global _in_flight, _last_finished
        with _lock:
            _in_flight += 1
        try:
            return self.get_response(request)
        finally:
            with _lock:
                _in_flight -= 1
                _last_finished = time.monotonic()


def wait_until_quiet(*, quiet: float = 0.3, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _lock:
            idle = _in_flight == 0 and time.monotonic() - _last_finished >= quiet
        if idle:
            return True
        time.sleep(0.05)
    return False

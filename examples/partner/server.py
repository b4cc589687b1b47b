"""A tiny partner application that embeds coursewright's editor and player.

Run it next to the platform (``make run`` serves it on http://127.0.0.1:8000)::

    COURSEWRIGHT_API_KEY=cw_... python3 examples/partner/server.py

and open http://localhost:8001 (``localhost``, not ``127.0.0.1``: the partner and the
platform are then different sites, as they are in production, and no cookie can help).

What it shows, in a few lines each:

- The API key stays here, on the partner's server (``COURSEWRIGHT_API_KEY``); the
  browser never sees it.
- ``POST /session`` is the partner's own backend route: it exchanges the key for an
  embed token pair for the signed-in user (``/api/v1/embed/token``), or for a one-time
  code (``/api/v1/embed/code``) that goes into the player's address. A real application
  puts this route behind its own sign-in and uses its own opaque user ids; this example
  has three fixed demo users, one per role.
- At start it registers its own origin (``http://localhost:<port>``) in the
  organisation's allow-list (``/api/v1/embed/origins``), so the platform lets it frame
  the pages; ``--no-register`` leaves the list alone.
- ``static/`` is the page: two iframes and the ``postMessage`` glue (``app.js``).

Standard library only. Settings: ``COURSEWRIGHT_URL`` (the platform, default
``http://127.0.0.1:8000``), ``COURSEWRIGHT_API_KEY`` (required), ``PARTNER_PORT``
(default 8001).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/app.css": ("app.css", "text/css; charset=utf-8")}
# The partner's own (opaque) ids for its demo users: never an e-mail address or a name.
USERS = {"author": "demo-author-1", "reviewer": "demo-reviewer-1",
         "learner": "demo-learner-1"}


class Platform:
    """coursewright's API, called with the organisation's API key."""

    def __init__(self, url: str, api_key: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"COURSEWRIGHT_URL must be an http(s) address, got {url!r}")
        self.url = url.rstrip("/")
        self.api_key = api_key

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (http(s) only: checked above)
            f"{self.url}/api/v1/{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.api_key}",
                     "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise PlatformError(exc.code, detail) from None

    def organisation(self) -> tuple[str, list[str]]:
        answer = self.call("GET", "embed/origins")
        return answer["org"], answer["origins"]

    def register_origin(self, origin: str) -> list[str]:
        _, origins = self.organisation()
        if origin in origins:
            return list(origins)
        answer = self.call("PUT", "embed/origins", {"origins": [*origins, origin]})
        return list(answer["origins"])

    def session(self, role: str, course_id: int | None) -> dict[str, Any]:
        """What the page needs to sign ``role``'s demo user in to an embedded page."""
        user = USERS[role]
        if role == "author":
            pair = self.call("POST", "embed/token",
                             {"user": user, "scope": "author", "courses": "*"})
            return {"access_token": pair["access_token"],
                    "refresh_token": pair["refresh_token"]}
        if role == "reviewer":
            listed = self.call("GET", "courses?limit=50")
            ids = [c["id"] for c in listed["items"]]
            if not ids:
                raise PlatformError(409, "there is no course to review yet")
            pair = self.call("POST", "embed/token",
                             {"user": user, "scope": "reviewer", "courses": ids})
            return {"access_token": pair["access_token"],
                    "refresh_token": pair["refresh_token"]}
        if course_id is None:
            raise PlatformError(400, "say which course the learner plays")
        code = self.call("POST", "embed/code",
                         {"user": user, "scope": "learner", "courses": [course_id]})
        return {"code": code["code"]}


class PlatformError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def make_handler(platform: Platform, org: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy",
                             f"default-src 'self'; frame-src {platform.url}; "
                             "object-src 'none'; base-uri 'none'")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def do_GET(self) -> None:  # http.server's names
            path = self.path.split("?", 1)[0]
            if path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
                return
            if path == "/config.json":
                self._json(200, {"platform": platform.url, "org": org})
                return
            if path not in FILES:
                self._send(404, b"not found", "text/plain")
                return
            name, content_type = FILES[path]
            self._send(200, (STATIC / name).read_bytes(), content_type)

        def do_POST(self) -> None:
            if self.path != "/session":
                self._send(404, b"not found", "text/plain")
                return
            try:
                length = min(int(self.headers.get("Content-Length") or 0), 10_000)
                body = json.loads(self.rfile.read(length) or b"{}")
                role = body.get("role")
                course_id = body.get("course_id")
                if role not in USERS or (course_id is not None and not isinstance(course_id, int)):
                    self._json(400, {"error": "role must be author, reviewer or learner"})
                    return
                self._json(200, platform.session(role, course_id))
            except PlatformError as exc:
                self._json(502 if exc.status >= 500 else 400, {"error": str(exc)})
            except ValueError:
                self._json(400, {"error": "send JSON"})

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"partner: {format % args}\n")

    return Handler


class PartnerApp:
    """The partner's server on ``host:port`` (port 0: any free port), in a thread."""

    def __init__(self, platform: Platform, *, host: str = "127.0.0.1", port: int = 8001,
                 quiet: bool = False) -> None:
        self.platform = platform
        self.org, _ = platform.organisation()
        handler = make_handler(platform, self.org)
        if quiet:
            handler.log_message = lambda *args: None  # type: ignore[method-assign]
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def origin(self) -> str:
        """The address to open it at: ``localhost``, another site than ``127.0.0.1``."""
        return f"http://localhost:{self.port}"

    def start(self) -> PartnerApp:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="coursewright's example partner app")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PARTNER_PORT", "8001")))
    parser.add_argument("--no-register", action="store_true",
                        help="do not add this app's origin to the embedding allow-list")
    args = parser.parse_args(argv)
    api_key = os.environ.get("COURSEWRIGHT_API_KEY", "")
    if not api_key:
        parser.error("set COURSEWRIGHT_API_KEY to an API key of your organisation "
                     "(Settings → API keys in the dashboard)")
    platform = Platform(os.environ.get("COURSEWRIGHT_URL", "http://127.0.0.1:8000"), api_key)
    app = PartnerApp(platform, port=args.port)
    if not args.no_register:
        origins = platform.register_origin(app.origin)
        print(f"embedding origins of {app.org}: {', '.join(origins)}")
    print(f"partner app on {app.origin} (organisation {app.org}); Ctrl+C stops it")
    app.start()
    try:
        app.thread.join()
    except KeyboardInterrupt:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Browser test helpers: Debian Chromium via Playwright, a static server, axe-core, SCORM hosts.

* ``launch_chromium()`` — context manager yielding a headless Playwright ``Browser`` on
  ``/usr/bin/chromium`` (``npx playwright install`` does not work on these machines).
  Use it from a module-scoped fixture so one browser serves a whole module.
* ``StaticServer(root, headers=..., mounts=...)`` — a threaded HTTP server on 127.0.0.1
  with a random port (safe under pytest-xdist); ``mounts`` maps URL prefixes to other
  folders (``node_modules_mount()`` serves ``tests/js/node_modules`` at
  ``/node_modules/``); ``headers`` are added to every response (e.g. a CSP).
* ``run_axe(page_or_frame)`` — injects axe-core from ``tests/js/node_modules`` and returns
  the violations (list of dicts). ``serious(violations)`` keeps serious/critical ones.
* ``save_screenshot(page, name)`` — writes ``test-artifacts/<name>.png``.
* ``scorm_host_page(fmt, launch_url, seed=...)`` — HTML of a minimal LMS page that
  creates scorm-again's ``window.API`` (1.2) or ``window.API_1484_11`` (2004), optionally
  seeded with ``loadFromJSON``, and opens the SCO in an iframe ``#sco``. It records
  LMS calls in ``window.lmsLog`` and the last value the SCO set for each element in
  ``window.lmsSet``.

JavaScript dependencies: ``npm ci --prefix tests/js`` (scorm-again, axe-core).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Frame, Page, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "tests" / "js" / "node_modules"
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@contextmanager
def launch_chromium(**launch_options: Any) -> Iterator[Browser]:
    """A headless Chromium (Debian's) driven by Playwright; closed on exit."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, **launch_options
        )
        try:
            yield browser
        finally:
            browser.close()


def require_node_modules(*packages: str) -> Path:
    """``tests/js/node_modules``, failing the test clearly if an npm package is missing."""
    for name in packages:
        if not (NODE_MODULES / name / "package.json").is_file():
            pytest.fail(f"npm package {name!r} missing: run `npm ci --prefix tests/js`")
    return NODE_MODULES


def node_modules_mount() -> dict[str, Path]:
    return {"/node_modules/": NODE_MODULES}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extra_headers: Mapping[str, str] = {}
    mounts: Mapping[str, Path] = {}

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, folder in self.mounts.items():
            if clean.startswith(prefix):
                rest = urllib.parse.unquote(clean[len(prefix):])
                base = Path(folder).resolve()
                target = (base / rest).resolve()
                return str(target) if target.is_relative_to(base) else str(base / "__none__")
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticServer:
    """Serve ``root`` on 127.0.0.1:<random port> from a background thread."""

    def __init__(self, root: Path, *, headers: Mapping[str, str] | None = None,
                 mounts: Mapping[str, Path] | None = None) -> None:
        handler = type("Handler", (_Handler,), {
            "extra_headers": dict(headers or {}),
            "mounts": dict(mounts or {}),
        })
        self._httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
        )
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def run_axe(target: Page | Frame, *, tags: list[str] | None = None,
            include: str | None = None) -> list[dict[str, Any]]:
    """Run axe-core in ``target`` (WCAG 2.0-2.2 A/AA rules) and return its violations."""
    require_node_modules("axe-core")
    if not target.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluate() runs through the DevTools protocol, so a page CSP does not block it.
        source = (NODE_MODULES / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
        target.evaluate(f"(() => {{ {source}\n; return true; }})()")
    options = {"runOnly": {"type": "tag", "values": tags or WCAG_TAGS}}
    result: list[dict[str, Any]] = target.evaluate(
        "async ([include, options]) => (await axe.run(include || document, options)).violations",
        [include, options],
    )
    return result


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [n.get("target") for n in v.get("nodes", [])][:3]
        lines.append(f"{v.get('impact')}: {v.get('id')} — {v.get('help')} at {targets}")
    return "\n".join(lines)


def save_screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG to ``test-artifacts/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    path = ARTIFACTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def scorm_host_page(fmt: Literal["scorm12", "scorm2004"], launch_url: str, *,
                    seed: Mapping[str, Any] | None = None,
                    settings: Mapping[str, Any] | None = None) -> str:
    """A minimal LMS page: scorm-again runtime (+ optional seed) and the SCO in ``#sco``."""
    script, cls, var = {
        "scorm12": ("scorm12.js", "Scorm12API", "API"),
        "scorm2004": ("scorm2004.js", "Scorm2004API", "API_1484_11"),
    }[fmt]
    events = (["LMSInitialize", "LMSCommit", "LMSFinish"] if fmt == "scorm12"
              else ["Initialize", "Commit", "Terminate"])
    set_event = "LMSSetValue.cmi.*" if fmt == "scorm12" else "SetValue.cmi.*"
    config = {"logLevel": 5, "autocommit": False, **(settings or {})}

    def js(value: object) -> str:
        return json.dumps(value).replace("<", "\\u003c")

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test LMS</title>
<script src="/node_modules/scorm-again/dist/{script}"></script></head>
<body><h1>Test LMS</h1>
<iframe id="sco" title="Course" width="1000" height="1600"></iframe>
<script>
window.lmsLog = [];
var api = new {cls}({js(config)});
var seed = {js(seed)};
if (seed) api.loadFromJSON(seed, "");
window.lmsSet = {{}};
{js(events)}.forEach(function (name) {{
  api.on(name, function () {{ window.lmsLog.push(name); }});
}});
api.on({js(set_event)}, function (element, value) {{ window.lmsSet[element] = value; }});
window.{var} = api;
document.getElementById("sco").src = {js(launch_url)};
</script></body></html>
"""


def wait_for_db(check: Any, timeout: float = 30) -> Any:
    """``check()``'s first truthy value, polling while a live server writes. On SQLite
    the live server's writes can lock a table this thread reads (a shared in-memory
    database): that is "not yet"."""
    from django.db import OperationalError

    deadline = time.time() + timeout
    while True:
        try:
            value = check()
        except OperationalError:
            value = None
        if value:
            return value
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)

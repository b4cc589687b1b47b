"""`coursewright serve` as `make run` starts it: granian serving the dashboard and the
huey consumer running jobs, on a fresh embedded-default state directory. A person drives
the main job in Chromium: the author uploads a PDF and submits the generated draft, the
reviewer approves and publishes, and a SCORM 1.2 package downloads."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.support.browser import launch_chromium

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "coursewright.cli", *args], env=env,
                            capture_output=True, text=True, timeout=180, check=True)
    return result.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    state = tmp_path_factory.mktemp("state")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COURSEWRIGHT_") and k != "DATABASE_URL"}
    env.update(COURSEWRIGHT_VAR_DIR=str(state), DJANGO_SETTINGS_MODULE="coursewright.settings")
    _cli(env, "migrate", "--noinput")
    demo = _cli(env, "demo")
    creds = {m[0]: (m[1], m[2]) for m in
             re.findall(r"^\s+(\w+)\s+(\S+@demo\.local)\s+password: (\S+)$", demo, re.M)}
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "coursewright.cli", "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("coursewright serve did not start listening within 60 s")
        yield base, {role: f"{email}\n{password}" for role, (email, password) in creds.items()}
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)


def _sign_in(page: Page, base: str, credentials: str) -> None:
    email, password = credentials.split("\n")
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/o/demo/"))


def test_make_run_server_carries_the_main_job(server: tuple[str, dict[str, str]],
                                              tmp_path: Path) -> None:
    base, creds = server
    with launch_chromium() as browser:
        page = browser.new_context(accept_downloads=True).new_page()
        # the author uploads; the job consumer (not the web process) drafts the course
        _sign_in(page, base, creds["author"])
        page.goto(f"{base}/o/demo/documents/upload/")
        page.set_input_files("input[type=file]", str(FIXTURES / "handbook.pdf"))
        page.get_by_role("button", name=re.compile("upload|generate", re.I)).first.click()
        page.wait_for_url(re.compile(r"/o/demo/courses/\d+/$"), timeout=90_000)
        course_url = page.url
        page.get_by_role("button", name=re.compile("submit", re.I)).first.click()
        page.get_by_role("button", name=re.compile("sign out", re.I)).click()

        # a second person, the reviewer, approves and publishes
        _sign_in(page, base, creds["reviewer"])
        page.goto(course_url)
        page.get_by_role("button", name=re.compile("approve", re.I)).first.click()
        page.get_by_role("button", name=re.compile("publish", re.I)).first.click()
        with page.expect_download() as download:
            page.get_by_role("link", name=re.compile("SCORM 1.2", re.I)).first.click()
        target = tmp_path / "course.zip"
        download.value.save_as(target)
    assert "imsmanifest.xml" in zipfile.ZipFile(target).namelist()

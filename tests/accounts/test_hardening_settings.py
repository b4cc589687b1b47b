"""Production settings are read at import time, so they are checked in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "hasher": settings.PASSWORD_HASHERS[0],
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "session_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "session_samesite": settings.SESSION_COOKIE_SAMESITE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "csrf_httponly": settings.CSRF_COOKIE_HTTPONLY,
    "hsts": settings.SECURE_HSTS_SECONDS,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
}))
"""


def read_settings(tmp_path: Path, **env: str) -> dict[str, object]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("COURSEWRIGHT_")}
    environment.update(DJANGO_SETTINGS_MODULE="coursewright.settings",
                       COURSEWRIGHT_VAR_DIR=str(tmp_path / "var"), **env)
    result = subprocess.run([sys.executable, "-c", PROBE], env=environment,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    values: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


@pytest.mark.slow
def test_https_deployments_get_secure_cookies_and_argon2(tmp_path: Path) -> None:
    values = read_settings(tmp_path, COURSEWRIGHT_HTTPS="true")
    assert values == {
        "hasher": "django.contrib.auth.hashers.Argon2PasswordHasher",
        "session_secure": True, "session_httponly": True, "session_samesite": "Lax",
        "csrf_secure": True, "csrf_httponly": True,
        "hsts": 31536000, "ssl_redirect": True,
    }


@pytest.mark.slow
def test_plain_http_keeps_httponly_but_not_secure(tmp_path: Path) -> None:
    values = read_settings(tmp_path)
    assert values["hasher"] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert values["session_httponly"] is True
    assert values["session_secure"] is False


@pytest.mark.slow
def test_a_malformed_https_flag_stops_start_up(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("COURSEWRIGHT_")}
    environment.update(DJANGO_SETTINGS_MODULE="coursewright.settings",
                       COURSEWRIGHT_VAR_DIR=str(tmp_path / "var"), COURSEWRIGHT_HTTPS="maybe")
    result = subprocess.run([sys.executable, "-c", PROBE], env=environment,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "COURSEWRIGHT_HTTPS must be true or false" in result.stderr

"""Settings need no configuration and fail loudly on bad values (checked in a fresh
interpreter, since settings are read once at import)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

PRINT = ("import django; from django.conf import settings as s; django.setup(); "
         "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], "
         "s.STORAGES['default']['OPTIONS']['location'], s.PASSWORD_HASHERS[0], "
         "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)")


def run_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("COURSEWRIGHT_") and k != "DATABASE_URL"}
    clean.update({"DJANGO_SETTINGS_MODULE": "coursewright.settings",
                  "COURSEWRIGHT_VAR_DIR": str(tmp_path / "state"), **env})
    return subprocess.run([sys.executable, "-c", PRINT], env=clean, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    result = run_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    engine, name, storage, hasher, *_ = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert name == str(tmp_path / "state" / "coursewright.sqlite3")
    assert storage == str(tmp_path / "state" / "storage")
    assert hasher.endswith("Argon2PasswordHasher")
    assert (tmp_path / "state" / "secret_key").stat().st_mode & 0o077 == 0


def test_https_makes_cookies_secure(tmp_path: Path) -> None:
    result = run_settings(tmp_path, COURSEWRIGHT_HTTPS="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["True", "True", "True"]


def test_database_url_switches_to_postgres(tmp_path: Path) -> None:
    result = run_settings(tmp_path, DATABASE_URL="postgres://u@127.0.0.1:5432/x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["django.db.backends.postgresql", "x"]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("COURSEWRIGHT_DEBUG", "maybe", "COURSEWRIGHT_DEBUG must be true or false"),
    ("COURSEWRIGHT_MAX_UPLOAD_MB", "lots", "COURSEWRIGHT_MAX_UPLOAD_MB must be a whole number"),
    ("COURSEWRIGHT_MAX_UPLOAD_MB", "0", "COURSEWRIGHT_MAX_UPLOAD_MB must be at least 1"),
    ("COURSEWRIGHT_SECRET_KEY", "short", "at least 50 characters"),
    ("DATABASE_URL", "mysql://x/y", "DATABASE_URL must be a postgres://"),
])
def test_bad_values_fail_loudly(tmp_path: Path, name: str, value: str, message: str) -> None:
    result = run_settings(tmp_path, **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("COURSEWRIGHT_") and k != "DATABASE_URL"}
    clean.update({
        "DJANGO_SETTINGS_MODULE": "coursewright.settings",
        "COURSEWRIGHT_VAR_DIR": str(tmp_path / "state"),
        "COURSEWRIGHT_HTTPS": "true",
        "COURSEWRIGHT_SECRET_KEY": secrets.token_urlsafe(50),
        "COURSEWRIGHT_ALLOWED_HOSTS": "courses.example.org",
    })
    result = subprocess.run([sys.executable, "-m", "coursewright.cli", "check", "--deploy",
                             "--fail-level", "WARNING"], env=clean, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout

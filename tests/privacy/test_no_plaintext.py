"""Acceptance: marker strings written into every kind of stored content never appear in
plaintext in anything the platform keeps on disk — the SQLite database and its WAL, the
job queue, sessions, the storage directory, backups and (on PostgreSQL) a pg_dump.

The flow (scan_flow.py) covers the offline engine's path and a model provider's: a course
from a brief, a document drafted by the model with prompts kept in the AI ledger (the
organisation opted in), and a learner's question to the tutor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
MARKER = "ZQX-marker-8f3e1c"
SOURCE = f"""# Safety handbook {MARKER}

## Ladders {MARKER}

Always check the ladder feet before climbing. The {MARKER} rule says three points of
contact at all times. Never carry tools in your hands on a ladder.

## Electricity

Isolate the circuit before work. Lock-out tags are issued by the site manager and the
{MARKER} register records every isolation. Test before touch, every time.

## Reporting

Every near miss is reported within 24 hours in the incident log. The safety officer
reviews the log weekly and shares lessons in the {MARKER} bulletin.
"""


def _env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COURSEWRIGHT_") and k != "DATABASE_URL"}
    env.update(COURSEWRIGHT_VAR_DIR=str(state), DJANGO_SETTINGS_MODULE="coursewright.settings",
               PYTHONPATH=os.pathsep.join([str(HERE.parent.parent), env.get("PYTHONPATH", "")]),
               **extra)
    return env


def _run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _hits(root: Path, marker: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and marker in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


def test_no_plaintext_anywhere_on_disk(tmp_path: Path) -> None:
    state = tmp_path / "state"
    source = tmp_path / "handbook.md"
    source.write_text(SOURCE, encoding="utf-8")
    env = _env(state)
    _run(env, "-m", "coursewright.cli", "migrate", "--noinput")
    _run(env, str(HERE / "scan_flow.py"), MARKER, str(source))
    _run(env, "-m", "coursewright.cli", "backup")

    # the marker really went in: the platform reads it back decrypted
    shown = _run(env, "-c", "import django; django.setup(); "
                 "from coursewright.courses.models import CourseVersion; "
                 "print(CourseVersion.objects.order_by('id').first().content['title'])")
    assert MARKER in shown

    files = [p for p in state.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert "coursewright.sqlite3" in names
    assert any(n.endswith(".cwbackup") for n in names)
    assert any("storage" in str(p) for p in files)
    assert _hits(state, MARKER.encode()) == []
    assert _hits(state, MARKER.encode("utf-16-le")) == []


def _postgres_admin() -> object | None:
    import psycopg

    try:
        return psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                               autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None


def test_no_plaintext_in_a_postgresql_dump(tmp_path: Path) -> None:
    import shutil
    import uuid

    admin = _postgres_admin()
    if admin is None or shutil.which("pg_dump") is None:
        pytest.skip("needs the PostgreSQL server at 127.0.0.1:5432 and pg_dump")
    name = f"cw_scan_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    try:
        state = tmp_path / "state"
        source = tmp_path / "handbook.md"
        source.write_text(SOURCE, encoding="utf-8")
        env = _env(state, DATABASE_URL=url)
        _run(env, "-m", "coursewright.cli", "migrate", "--noinput")
        _run(env, str(HERE / "scan_flow.py"), MARKER, str(source))
        _run(env, "-m", "coursewright.cli", "backup")
        dump = tmp_path / "dump.sql"
        subprocess.run(["pg_dump", "--no-owner", "-f", str(dump), url], check=True,
                       timeout=120, capture_output=True)
        assert dump.stat().st_size > 10_000
        assert MARKER.encode() not in dump.read_bytes()
        assert _hits(state, MARKER.encode()) == []
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]

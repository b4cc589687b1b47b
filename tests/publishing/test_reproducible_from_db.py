"""The same approved version, built from the database in separate processes under
different time zones and locales, gives byte-identical packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
pytestmark = pytest.mark.slow


def _cli(state: Path, *args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("COURSEWRIGHT_") and k not in {"DATABASE_URL", "TZ", "LANG"}}
    clean.update(COURSEWRIGHT_VAR_DIR=str(state), DJANGO_SETTINGS_MODULE="coursewright.settings",
                 **env)
    result = subprocess.run([sys.executable, "-m", "coursewright.cli", *args], env=clean,
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("fmt", ["scorm2004", "scorm12", "html"])
def test_builds_in_other_processes_and_time_zones_are_identical(tmp_path: Path,
                                                                fmt: str) -> None:
    state = tmp_path / "state"
    _cli(state, "migrate", "--noinput")
    _cli(state, "demo")
    generated = tmp_path / "generated.zip"
    _cli(state, "generate", str(FIXTURES / "handbook.docx"), "--export", fmt, "-o",
         str(generated), "--approve-as", "reviewer@demo.local")
    builds = []
    for n, (tz, lang) in enumerate([("UTC", "C.UTF-8"), ("Pacific/Auckland", "de_DE.UTF-8"),
                                    ("America/Los_Angeles", "fr_FR.UTF-8")]):
        out = tmp_path / f"build-{n}.zip"
        _cli(state, "package", "1", "--org", "demo", "--format", fmt, "-o", str(out),
             TZ=tz, LANG=lang, PYTHONHASHSEED=str(n * 7919))
        builds.append(out.read_bytes())
    assert builds[0] == builds[1] == builds[2] == generated.read_bytes()


def test_export_refuses_an_unapproved_version(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _cli(state, "migrate", "--noinput")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COURSEWRIGHT_")
             and k != "DATABASE_URL"}
    clean.update(COURSEWRIGHT_VAR_DIR=str(state), DJANGO_SETTINGS_MODULE="coursewright.settings")
    result = subprocess.run([sys.executable, "-m", "coursewright.cli", "package", "1", "--org",
                             "demo", "--format", "scorm12", "-o", str(tmp_path / "x.zip")],
                            env=clean, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "exports need an approved version" in result.stderr
    assert not (tmp_path / "x.zip").exists()

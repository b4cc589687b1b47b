"""The same approved version, built from the database in separate processes under
different time zones and locales, gives byte-identical packages."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
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


# The package command's --format follows publishing.models.ExportFormat; cmi5 and xAPI
# builds are made here through publishing.actions.build_export itself.
BUILD = ("from coursewright.audit.actor import Actor; from coursewright.audit.models import "
         "Channel; from coursewright.courses.models import CourseVersion; from "
         "coursewright.publishing.actions import build_export; import sys; "
         "sys.stdout.buffer.write(b'PKG:' + build_export(CourseVersion.objects.get(course_id=1, "
         "number=1), {fmt!r}, actor=Actor.system(Channel.CLI), cmi5_layout={layout!r}).hex()"
         ".encode())")


@pytest.mark.parametrize(("fmt", "layout"), [("cmi5", "course"), ("cmi5", "module"),
                                             ("xapi", "course")])
def test_cmi5_and_xapi_builds_are_identical_across_processes(tmp_path: Path, fmt: str,
                                                             layout: str) -> None:
    state = tmp_path / "state"
    _cli(state, "migrate", "--noinput")
    _cli(state, "demo")
    generated = tmp_path / "generated.zip"
    _cli(state, "generate", str(FIXTURES / "handbook.docx"), "--export", fmt, "--cmi5-aus",
         layout, "-o", str(generated), "--approve-as", "reviewer@demo.local")
    builds = []
    for n, (tz, lang) in enumerate([("UTC", "C.UTF-8"), ("Pacific/Auckland", "de_DE.UTF-8"),
                                    ("America/Los_Angeles", "fr_FR.UTF-8")]):
        out = _cli(state, "shell", "-c", BUILD.format(fmt=fmt, layout=layout), TZ=tz,
                   LANG=lang, PYTHONHASHSEED=str(n * 7919))
        builds.append(bytes.fromhex(out.rsplit("PKG:", 1)[1].split()[0]))
    assert builds[0] == builds[1] == builds[2] == generated.read_bytes()
    names = set(zipfile.ZipFile(io.BytesIO(builds[0])).namelist())
    assert ("cmi5.xml" in names) == (fmt == "cmi5")
    assert ("tincan.xml" in names) == (fmt == "xapi")


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

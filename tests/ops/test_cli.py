from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from coursewright.accounts.models import User
from coursewright.audit.models import AuditEvent
from coursewright.orgs.models import Membership
from tests.api.test_flow import HANDBOOK


@pytest.mark.django_db
def test_demo_is_idempotent_and_prints_working_passwords() -> None:
    first, second = io.StringIO(), io.StringIO()
    call_command("demo", stdout=first)
    call_command("demo", stdout=second)
    assert first.getvalue() == second.getvalue()
    roles = dict(Membership.objects.filter(org__slug="demo").values_list("user__email", "role"))
    assert roles == {"owner@demo.local": "owner", "author@demo.local": "author",
                     "reviewer@demo.local": "reviewer"}
    for line in first.getvalue().splitlines()[1:]:
        _role, email, _label, password = line.split()
        assert User.objects.get(email=email).check_password(password)


@pytest.mark.django_db
def test_generate_writes_an_approved_package(tmp_path: Path) -> None:
    call_command("demo", stdout=io.StringIO())
    source = tmp_path / "handbook.md"
    source.write_bytes(HANDBOOK)
    out = tmp_path / "course.zip"
    stdout = io.StringIO()
    call_command("generate", str(source), "--export", "scorm12", "-o", str(out),
                 "--approve-as", "reviewer@demo.local", stdout=stdout)
    assert "imsmanifest.xml" in zipfile.ZipFile(out).namelist()
    approval = AuditEvent.objects.get(action="version.approved")
    assert approval.actor_label == "reviewer@demo.local"
    assert approval.channel == "cli"
    submitted = AuditEvent.objects.get(action="version.submitted")
    assert submitted.actor_label == "author@demo.local"


@pytest.mark.django_db
def test_generate_refuses_the_author_as_approver(tmp_path: Path) -> None:
    call_command("demo", stdout=io.StringIO())
    source = tmp_path / "handbook.md"
    source.write_bytes(HANDBOOK)
    with pytest.raises(CommandError, match="Only a reviewer, admin or owner"):
        call_command("generate", str(source), "--export", "scorm12", "-o",
                     str(tmp_path / "x.zip"), "--approve-as", "author@demo.local",
                     stdout=io.StringIO())
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "message"), [
    (["missing.pdf"], "no such file"),
    (["{src}", "--org", "nope"], "no organisation with the slug"),
    (["{src}", "--approve-as", "nobody@x.test"], "is not a member"),
])
def test_generate_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    call_command("demo", stdout=io.StringIO())
    source = tmp_path / "handbook.md"
    source.write_bytes(HANDBOOK)
    argv = [a.format(src=source) for a in args]
    if "--approve-as" not in argv:
        argv += ["--approve-as", "reviewer@demo.local"]
    with pytest.raises(CommandError, match=message):
        call_command("generate", *argv, "--export", "scorm12", "-o", str(tmp_path / "o.zip"))


def test_console_command_fails_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coursewright.cli", "generate", "nothing.pdf", "--export",
         "scorm12", "-o", str(tmp_path / "o.zip"), "--approve-as", "x@y.z"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
        env={**os.environ, "COURSEWRIGHT_VAR_DIR": str(tmp_path / "var"),
             "DJANGO_SETTINGS_MODULE": "coursewright.settings"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["CommandError: no such file: nothing.pdf"]


@pytest.mark.parametrize("verb", ["serve", "demo", "generate", "package"])
def test_every_verb_has_help(verb: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "coursewright.cli", verb, "--help"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            check=False, env={**os.environ,
                                              "COURSEWRIGHT_VAR_DIR": str(tmp_path / "var"),
                                              "DJANGO_SETTINGS_MODULE": "coursewright.settings"})
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout

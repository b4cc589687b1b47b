"""`coursewright generate --provider NAME` drafts with that provider (if the org allows it)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from coursewright.ai.policy import update_policy
from coursewright.audit.actor import Actor
from coursewright.orgs.models import Organisation
from tests.api.test_flow import HANDBOOK
from tests.support.fake_providers import FakeProviders


@pytest.mark.django_db
def test_generate_with_a_named_provider(tmp_path: Path, fake: FakeProviders,
                                        providers_file: Path) -> None:
    call_command("demo", stdout=io.StringIO())
    source = tmp_path / "handbook.md"
    source.write_bytes(HANDBOOK)
    out = tmp_path / "course.zip"
    argv = [str(source), "--export", "scorm2004", "-o", str(out), "--approve-as",
            "reviewer@demo.local", "--provider", "fake-azure"]
    with pytest.raises(CommandError, match="does not allow 'fake-azure'"):
        call_command("generate", *argv, stdout=io.StringIO())
    assert not fake.requests

    demo = Organisation.objects.get(slug="demo")
    update_policy(demo, actor=Actor.system(), providers=["offline", "fake-azure"])
    call_command("generate", *argv, stdout=io.StringIO())
    assert {r.flavour for r in fake.requests} == {"azure"}
    with zipfile.ZipFile(out) as package:
        names = package.namelist()
        assert "imsmanifest.xml" in names
        text = "".join(package.read(n).decode("utf-8", "replace") for n in names
                       if n.endswith((".json", ".js", ".html")))
    assert "fake-azure" in text or "trainedAlgorithmicMedia" in text

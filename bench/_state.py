"""A fresh embedded-default installation for a benchmark: its own state directory under
var/bench/, migrated, with one organisation and its owner."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]


def fresh_installation(name: str) -> tuple[Any, Any]:
    """(organisation, owner) in a new state directory var/bench/<name>."""
    state = ROOT / "var" / "bench" / name
    shutil.rmtree(state, ignore_errors=True)
    os.environ["COURSEWRIGHT_VAR_DIR"] = str(state)
    os.environ["DJANGO_SETTINGS_MODULE"] = "coursewright.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from coursewright.accounts.models import User
    from coursewright.audit.actor import Actor
    from coursewright.orgs.actions import create_organisation

    owner = User.objects.create_user(f"owner@{name}.bench", "x" * 12)
    org = create_organisation(name="Bench", region="eu", owner=owner, actor=Actor.system())
    return org, owner

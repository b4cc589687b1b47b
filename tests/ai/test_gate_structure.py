"""No code path reaches an AI provider without the gate — checked structurally and at
run time.

1. Only ``coursewright.ai.gateway.adapters`` imports a provider SDK or HTTP client: an
   import-linter contract (run here on the real tree, and shown to catch a violation on
   a copy), plus an AST scan of every module.
2. ``adapters.complete`` refuses to run without a clearance the gateway made.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "coursewright"
SDKS = ("openai", "google", "httpx", "httpx2")
LINT = Path(sys.executable).parent / "lint-imports"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_adapters_module_imports_provider_sdks() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "ai" / "gateway" / "adapters.py":
            continue
        if _imports(path) & set(SDKS):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    assert _imports(SRC / "ai" / "gateway" / "adapters.py") >= {"openai", "google"}


def _contract() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"]
                  if "AI gateway" in c["name"]]
    return contract


def _lint(root: Path, package_dir: Path) -> subprocess.CompletedProcess[str]:
    contract = _contract()
    lines = ["[importlinter]", "root_package = coursewright",
             "include_external_packages = True", "", "[importlinter:contract:gate]",
             f"name = {contract['name']}", "type = forbidden",
             "source_modules =\n    coursewright",
             "forbidden_modules =\n" + "".join(f"    {m}\n" for m in contract[
                 "forbidden_modules"]),  # type: ignore[union-attr]
             "allow_indirect_imports = True",
             "ignore_imports =\n" + "".join(f"    {m}\n" for m in contract[
                 "ignore_imports"])]  # type: ignore[union-attr]
    config = root / ".importlinter"
    config.write_text("\n".join(lines), encoding="utf-8")
    return subprocess.run([str(LINT), "--config", str(config), "--no-cache"],
                          cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(package_dir), "PATH": "/usr/bin:/bin"})


@pytest.mark.slow
def test_the_import_contract_holds_and_catches_a_sneaky_import(tmp_path: Path) -> None:
    assert LINT.exists()
    tree = tmp_path / "src"
    shutil.copytree(SRC, tree / "coursewright",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    kept = _lint(tmp_path, tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "KEPT" in kept.stdout

    (tree / "coursewright" / "courses" / "sneaky.py").write_text(
        "from openai import OpenAI\n", encoding="utf-8")
    broken = _lint(tmp_path, tree)
    assert broken.returncode != 0
    assert "coursewright.courses.sneaky -> openai" in broken.stdout


def test_adapters_refuse_a_call_without_the_gateways_clearance() -> None:
    from coursewright.ai.config import ProviderConfig
    from coursewright.ai.gateway import adapters

    cfg = ProviderConfig(name="x", kind="openai", base_url="http://127.0.0.1:9/v1",
                         model="m", regions=("eu",))
    forged = adapters.Clearance("x", object())
    for clearance in (forged, None):
        with pytest.raises(PermissionError):
            adapters.complete(cfg, clearance, api_key="k",  # type: ignore[arg-type]
                              messages=[adapters.Message("user", "hi")], json_schema=None,
                              schema_name="", temperature=0, max_tokens=None, timeout=1)

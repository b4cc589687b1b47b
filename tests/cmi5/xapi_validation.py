"""Validate xAPI statements with an independent validator: the npm package
``@learninglocker/xapi-validation`` (Learning Locker's, conformance-tested), run by node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.browser import require_node_modules

SCRIPT = """
const validate = require(process.argv[1]).default;
const statements = JSON.parse(require("fs").readFileSync(0, "utf8"));
const problems = statements.map((s, i) => validate(s).map(
  (w) => ({ index: i, path: (w.path || []).join("."), message: w.message, data: w.data })));
process.stdout.write(JSON.stringify([].concat(...problems)));
"""


def problems(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every warning the validator has about ``statements`` (empty: all valid)."""
    modules = require_node_modules("@learninglocker/xapi-validation")
    package = Path(modules) / "@learninglocker" / "xapi-validation"
    result = subprocess.run(["node", "-e", SCRIPT, str(package)], input=json.dumps(statements),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found

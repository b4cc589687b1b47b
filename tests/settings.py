"""Test settings: the real settings, with jobs run inline and state in a temp dir."""

import os
import tempfile

os.environ.setdefault("COURSEWRIGHT_JOBS_INLINE", "true")
os.environ.setdefault("COURSEWRIGHT_VAR_DIR", tempfile.mkdtemp(prefix="cw-test-"))
os.environ.setdefault("COURSEWRIGHT_MANIFEST_STATIC", "false")
# high enough for schemathesis; the limit itself is tested with a low override
os.environ.setdefault("COURSEWRIGHT_API_RATE_PER_MINUTE", "1000000")

from coursewright.settings import *  # noqa: F403

# pytest-django empties tables with TRUNCATE between transactional tests; the audit
# log's PostgreSQL triggers refuse that unless the connection says this is a test.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (  # noqa: F405
        "-c coursewright.audit_allow_truncate=on")

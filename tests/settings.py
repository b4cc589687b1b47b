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
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.support.sqlite_retry"  # noqa: F405
    # in memory, as pytest-django does for the stock engine (it keys that on the name)
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}  # noqa: F405
elif DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (  # noqa: F405
        "-c coursewright.audit_allow_truncate=on")

# Counts requests the live server is answering, so browser tests can wait for quiet
# before the database is emptied (tests/support/inflight.py).
MIDDLEWARE = ["tests.support.inflight.InFlightMiddleware", *MIDDLEWARE]  # noqa: F405

"""Test settings: the real settings, with jobs run inline and state in a temp dir."""

import os
import tempfile

os.environ.setdefault("COURSEWRIGHT_JOBS_INLINE", "true")
os.environ.setdefault("COURSEWRIGHT_VAR_DIR", tempfile.mkdtemp(prefix="cw-test-"))
os.environ.setdefault("COURSEWRIGHT_MANIFEST_STATIC", "false")

from coursewright.settings import *  # noqa: F403

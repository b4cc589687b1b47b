from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def throttle_limit(settings: Any) -> int:
    """A small failure limit so the throttling tests stay short."""
    settings.LOGIN_MAX_FAILURES = 3
    return 3

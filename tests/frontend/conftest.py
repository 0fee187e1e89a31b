"""Fixtures shared by the browser tests: Debian's Chromium, installed once per session when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import ensure_chromium


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed by ``ensure-chromium.sh`` (apt) when missing; skip (fail in CI) without it."""
    return ensure_chromium()

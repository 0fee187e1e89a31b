"""Tools the browser tests need: Debian's Chromium (installed on demand) and Node, or a skip.

Without them the tests skip on a developer machine, but fail under ``CI=true``, where they must be there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_INSTALL_TIMEOUT = 420
NPM_CI_TIMEOUT = 300  # seconds for `npm ci` in tests/frontend


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine that lacks the tool; fail in CI, where it must be there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def tail(text: str, lines: int = 60) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def ensure_chromium() -> Path:
    """Debian's Chromium, installed by ``tests/frontend/ensure-chromium.sh`` (apt) when missing."""
    if not CHROMIUM.exists():
        try:
            result = subprocess.run(
                ["sh", str(FRONTEND / "ensure-chromium.sh")],
                capture_output=True,
                text=True,
                timeout=CHROMIUM_INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            unavailable(f"installing chromium took more than {CHROMIUM_INSTALL_TIMEOUT}s")
        if result.returncode != 0 or not CHROMIUM.exists():
            unavailable(f"chromium could not be installed:\n{tail(result.stdout + result.stderr, 20)}")
    return CHROMIUM


def node_executable() -> str:
    """The ``node`` on PATH."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is needed to drive the browser")
    return node

"""Fixtures shared by the browser tests: Debian's Chromium (installed once when missing), Node with the npm packages."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import NPM_CI_TIMEOUT, ensure_chromium, tail, unavailable

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed by ``ensure-chromium.sh`` (apt) when missing; skip (fail in CI) without it."""
    return ensure_chromium()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock, so that two pytest runs in the same tree never run ``npm ci`` at once."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def npm_node() -> str:
    """The ``node`` executable, with ``node_modules`` installed from ``package-lock.json`` (``npm ci`` when stale)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are needed for the browser tests that use npm packages")
    digest = hashlib.sha256((HERE / "package.json").read_bytes() + (HERE / "package-lock.json").read_bytes())
    stamp = HERE / "node_modules" / ".jsonserve-installed"
    with _locked(HERE / ".npm-ci.lock"):
        if not stamp.is_file() or stamp.read_text() != digest.hexdigest():
            command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
            try:
                result = subprocess.run(
                    command, cwd=HERE, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT, check=False
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"npm ci in {HERE} took more than {NPM_CI_TIMEOUT}s")
            if result.returncode != 0:
                pytest.fail(f"npm ci failed ({result.returncode}):\n{tail(result.stdout + result.stderr)}")
            stamp.write_text(digest.hexdigest())
    return node

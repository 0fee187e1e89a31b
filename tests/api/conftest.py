"""Every API test runs once per storage backend: one suite, not copies (the conformance suite).

PostgreSQL tests use the real server (``JSONSERVE_TEST_POSTGRES_URL``, default 127.0.0.1:5432/test).
Without it they skip with the reason, except under ``CI=true``, where they must run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from jsonserve import testing
from jsonserve.storage.changelog import Change
from tests.support.hub import RecordingHub


def postgres_reachable() -> str | None:
    """``None`` when PostgreSQL answers, else why not."""
    url = urlparse(testing.POSTGRES_URL)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 5432), timeout=1):
            return None
    except OSError as error:
        return f"PostgreSQL at {url.hostname}:{url.port} is not reachable ({error.strerror})"


def require_postgres() -> None:
    """Skip (with the reason) when PostgreSQL is unreachable; under ``CI=true`` fail instead."""
    if why := postgres_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; PostgreSQL is required under CI=true")
        pytest.skip(why)


ABOVE_STORAGE = pytest.mark.parametrize("backend", ["memory"], indirect=True)
"""A test of a layer above the storage (HTTP headers, body decoding): on the memory backend only.

The house rule: layers above the storage run on the memory backend, plus one end-to-end test per
backend, which each module that uses this keeps unmarked.
"""


@pytest.fixture(autouse=True, params=testing.BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Serve the test's data from this backend."""
    name = str(request.param)
    if name == "postgres":
        require_postgres()
    previous = testing.DEFAULTS["backend"]
    testing.DEFAULTS["backend"] = name
    try:
        yield name
    finally:
        testing.DEFAULTS["backend"] = previous


@pytest.fixture
def changes(hub: RecordingHub) -> list[Change]:
    """The changes published so far by the test's servers (``client``, ``client_v1``, ``serve(hub=hub)``), in order."""
    return hub.changes

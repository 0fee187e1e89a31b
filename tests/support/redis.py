"""The real Redis the rate-limit tests share counters through (``JSONSERVE_TEST_REDIS_URL``, default :6379/0)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

REDIS_URL = os.environ.get("JSONSERVE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable() -> str | None:
    """``None`` when Redis accepts a connection, else why not."""
    url = urlparse(REDIS_URL)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=1):
            return None
    except OSError as error:
        return f"Redis at {url.hostname}:{url.port} is not reachable ({error.strerror})"


def require_redis() -> str:
    """The Redis URL; skip (with the reason) when Redis is unreachable, and under ``CI=true`` fail instead."""
    if why := redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; Redis is required under CI=true")
        pytest.skip(why)
    return REDIS_URL

"""Fixtures for the web tests."""

from __future__ import annotations

from typing import Any

import pytest

from jsonserve.web import fastpath


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the lane answered itself (rather than handing them to the routes)."""
    paths: list[str] = []
    original = fastpath.FastReads._answer

    async def spy(self: fastpath.FastReads, scope: Any, receive: Any, send: Any) -> bool:
        done = await original(self, scope, receive, send)
        if done:
            paths.append(scope["path"])
        return done

    monkeypatch.setattr(fastpath.FastReads, "_answer", spy)
    return paths

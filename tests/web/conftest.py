"""Fixtures for the web tests."""

from __future__ import annotations

from typing import Any

import pytest

from jsonserve.web import fastpath


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the lane answered itself (rather than handing them to the routes)."""
    paths: list[str] = []
    original = fastpath.LaneReads.prepare

    async def spy(self: fastpath.LaneReads, scope: Any) -> Any:
        answer = await original(self, scope)
        if answer is not None:
            paths.append(scope["path"])
        return answer

    monkeypatch.setattr(fastpath.LaneReads, "prepare", spy)
    return paths

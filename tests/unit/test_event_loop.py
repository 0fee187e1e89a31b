"""uvloop is optional: the server runs on asyncio's own loop when uvloop cannot be imported."""

from __future__ import annotations

import asyncio
import sys

import pytest

from jsonserve.server.loop import loop_factory, run_coroutine


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop")
    assert run_coroutine(_loop_module()).startswith("uvloop")


def test_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # ``import uvloop`` raises ImportError
    assert loop_factory() is asyncio.new_event_loop
    assert run_coroutine(_loop_module()).startswith("asyncio")

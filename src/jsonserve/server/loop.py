"""The event loop: uvloop's when it is installed, else asyncio's own (uvicorn's ``loop="auto"``).

uvloop is optional: ``uvicorn[standard]`` installs it where it builds (not on Windows), and it only
makes the server faster.

Example:
    >>> run_coroutine(asyncio.sleep(0, result=42))
    42
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """``uvloop.new_event_loop`` when uvloop is importable, else ``asyncio.new_event_loop``.

    Example:
        >>> loop_factory().__module__ in ("uvloop", "asyncio.events")
        True
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on a new loop of :func:`loop_factory` (``asyncio.run``'s shape)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)

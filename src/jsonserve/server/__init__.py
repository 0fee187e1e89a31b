"""The server: the only package that imports uvicorn (lifecycle, worker processes, the hardened protocol).

``run(settings)`` serves until SIGINT/SIGTERM and returns the exit code; ``one_shot(settings, url)``
answers one GET in-process; both raise :class:`CannotStart` when the data cannot be opened.

Example:
    >>> code = run(Settings(source="db.json"), on_ready=lambda kinds: print(*kinds))  # doctest: +SKIP
    posts comments profile
"""

from jsonserve.server.lifecycle import CannotStart, OnReady, open_service
from jsonserve.server.loop import run_coroutine
from jsonserve.server.main import run
from jsonserve.server.oneshot import Reply, one_shot

__all__ = ["CannotStart", "OnReady", "Reply", "one_shot", "open_service", "run", "run_coroutine"]

"""The server: the only package that imports uvicorn (lifecycle, worker processes, the hardened protocol).

``run(settings)`` serves until SIGINT/SIGTERM and returns the exit code; ``one_shot(settings, url)``
answers one GET in-process; both raise :class:`CannotStart` when the data cannot be opened (and
``run`` when the address cannot be bound). ``serve_http(app, settings)`` serves an app on the
running loop (a :class:`LoopThread`'s: the testing helpers' server in a thread).

Example:
    >>> show = lambda ready: print(ready.url, *ready.kinds)
    >>> code = run(Settings(source="db.json", port=0), on_ready=show)  # doctest: +SKIP
    http://127.0.0.1:41033 posts comments profile
"""

from jsonserve.server.lifecycle import CannotStart, OnReady, Ready, open_service
from jsonserve.server.logs import configure_logging
from jsonserve.server.loop import run_coroutine
from jsonserve.server.main import run
from jsonserve.server.oneshot import Reply, one_shot
from jsonserve.server.thread import HttpServer, LoopThread, serve_http

__all__ = [
    "CannotStart", "HttpServer", "LoopThread", "OnReady", "Ready", "Reply", "configure_logging", "one_shot",
    "open_service", "run", "run_coroutine", "serve_http",
]  # fmt: skip

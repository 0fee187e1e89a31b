"""``run(settings)``: the one entry of the server (uvicorn's ``uvicorn.run`` shape).

Example:
    >>> raise SystemExit(run(Settings(source="db.json", port=3001)))  # doctest: +SKIP
"""

from __future__ import annotations

from jsonserve.config import Settings
from jsonserve.server.lifecycle import OnReady, serve
from jsonserve.server.loop import run_coroutine
from jsonserve.server.workers import serve_workers


def run(settings: Settings, on_ready: OnReady | None = None) -> int:
    """Serve ``settings`` until SIGINT or SIGTERM, then close the storage (flushing writes); the exit code.

    One process, or ``settings.workers`` uvicorn worker processes (SQL sources only). ``on_ready(ready)``
    (a :class:`~jsonserve.server.lifecycle.Ready`: the resources and the port bound) is called once
    the port is bound and the data open, just before serving: a banner printed there never precedes
    a port in use or an error opening the data, which raise :class:`~jsonserve.server.lifecycle.CannotStart`.
    """
    if settings.tls_self_signed and settings.tls_cert is None:
        from jsonserve.server.tls import self_signed  # cryptography: ~40 ms, for HTTPS only

        with self_signed() as (cert, key):  # removed when the server stops
            return run(settings.replace(tls_cert=cert, tls_key=key), on_ready)
    if settings.workers > 1:
        return serve_workers(settings, on_ready)
    return run_coroutine(serve(settings, on_ready))

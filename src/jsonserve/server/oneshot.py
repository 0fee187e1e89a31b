"""``jsonserve --get URL``: answer one GET in-process (no socket) and return the reply.

Example:
    >>> one_shot(Settings(), "/posts/1").status  # doctest: +SKIP
    200
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from jsonserve.config import Settings
from jsonserve.server.lifecycle import open_service
from jsonserve.server.loop import run_coroutine
from jsonserve.web.app import create_app


@dataclass(frozen=True)
class Reply:
    """The answer to a one-shot GET: ``200``, ``"OK"`` and the body as text."""

    status: int
    reason: str
    text: str


def one_shot(settings: Settings, url: str) -> Reply:
    """GET ``url`` (``/posts/1``, ``posts?q=x`` or an absolute URL) from the app ``settings`` describe.

    Raises :class:`~jsonserve.server.lifecycle.CannotStart` when the data cannot be opened.
    """
    return run_coroutine(_get(settings, url if url.startswith("/") or "://" in url else "/" + url))


async def _get(settings: Settings, url: str) -> Reply:
    from jsonserve.web.inprocess import open_client  # httpx: only --get needs it (~40 ms of a server's start)

    async with open_service(settings) as service:
        app = create_app(settings, service, manage_storage=False)
        async with open_client(app, f"http://{settings.host}:{settings.port}") as client:
            with _quiet("httpx"):
                response = await client.get(url)
    return Reply(response.status_code, response.reason_phrase, response.text)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a logger's INFO lines meanwhile: httpx logs every request, and this one never left the process."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)

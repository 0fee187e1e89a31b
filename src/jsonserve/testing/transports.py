"""httpx transports that answer in-process, on the test server's own event loop (no socket).

The app always runs on the :class:`~jsonserve.server.LoopThread` that opened its storage, whichever
thread or event loop (asyncio, or trio through anyio) the caller is on: each request is handed to
that loop through ``httpx.ASGITransport`` and its answer, read whole there, handed back. The
request's read timeout (httpx's ``timeout=``, 5 seconds by default) is honoured: past it the request
is cancelled and ``httpx.ReadTimeout`` raised, as over a socket.

Example:
    >>> client = httpx.Client(transport=ThreadTransport(app, thread), base_url="http://testserver")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import anyio
import httpx
from starlette.types import ASGIApp

from jsonserve.server import LoopThread

__all__ = ["AsyncThreadTransport", "ThreadTransport"]

CLIENT_ADDRESS = ("127.0.0.1", 50000)  # what the app sees as the peer (login throttling keys on it)


class _Forwarding:
    def __init__(self, app: ASGIApp, thread: LoopThread) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        self._thread = thread

    def _submit(self, request: httpx.Request) -> concurrent.futures.Future[tuple[httpx.Response, bytes]]:
        return self._thread.submit(self._answer(request))

    async def _answer(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        response = await self._asgi.handle_async_request(request)
        return response, b"".join([part async for part in response.aiter_raw()])  # still encoded (gzip)


def _timeout(request: httpx.Request) -> float | None:
    timeouts = request.extensions.get("timeout", {})
    read = timeouts.get("read")
    return float(read) if read is not None else None


def _rebuilt(request: httpx.Request, response: httpx.Response, raw: bytes) -> httpx.Response:
    # The caller's client decodes the raw body (Content-Encoding) itself, as it would off a socket.
    return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(raw), request=request)


class ThreadTransport(_Forwarding, httpx.BaseTransport):
    """A sync transport for ``httpx.Client``: each request waits for the app on the server's loop."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the app and wait for its whole answer."""
        request.read()  # a streamed body is read here, in the caller's thread
        future = self._submit(request)
        try:
            response, body = future.result(_timeout(request))
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout("the test server took longer than the read timeout", request=request) from None
        return _rebuilt(request, response, body)


class AsyncThreadTransport(_Forwarding, httpx.AsyncBaseTransport):
    """An async transport for ``httpx.AsyncClient``, usable from any event loop (asyncio or trio)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the app and await its whole answer."""
        await request.aread()  # a streamed body is read here, on the caller's loop
        future = self._submit(request)
        try:
            with anyio.fail_after(_timeout(request)):
                response, body = await _wait(future)
        except TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout("the test server took longer than the read timeout", request=request) from None
        return _rebuilt(request, response, body)


async def _wait(future: concurrent.futures.Future[tuple[httpx.Response, bytes]]) -> tuple[httpx.Response, bytes]:
    """Await a future of another thread: cheaply on asyncio, through a worker thread elsewhere (trio)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return await anyio.to_thread.run_sync(future.result, abandon_on_cancel=True)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.cancel()
        raise

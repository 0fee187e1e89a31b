"""uvicorn's httptools protocol, hardened: problem+json errors, read deadlines, a connection limit.

uvicorn writes a plain-text ``400 Invalid HTTP request received.`` for a request line or headers
llhttp rejects (malformed, or longer than 64 KiB) and a plain-text ``503`` beyond
``limit_concurrency``; every other error of ours is RFC 9457 problem+json, so these are too.

uvicorn also waits forever for a client to finish a request (its keep-alive timeout only starts
after a response), so slowloris clients (one header byte every few seconds, or connections that
send nothing) hold a connection, and a file descriptor, for as long as they like. Two deadlines,
each a clock (the loop time it started, or ``None`` when moot) watched by at most one
``loop.call_later`` handle per connection:

* **Headers** (``--header-timeout``, default 10 s): the clock starts when the server starts waiting
  for a request, that is when the connection opens or, on a keep-alive connection, when the previous
  response completed. A connection that has not completed the request's headers by then is closed.
  If the client had sent part of a request it first gets ``408 Request Timeout`` (problem+json,
  ``code: "request_timeout"``); one that sent nothing is closed silently, as nginx does: there is no
  request to answer, and nothing to read the answer. (An idle keep-alive connection is closed by
  uvicorn's 5 s keep-alive timeout first, unless the header deadline is shorter.)
* **Body** (``--body-timeout``, default 30 s): from the end of the headers to the end of the body.
  Beyond it the client gets a 408 if its response has not started, and the connection is closed
  either way (the application sees a disconnect, so a half-received write stores nothing).

The clock only counts time the server is waiting for the client: while the server itself is not
reading (uvicorn paused reading because the application has not yet consumed 64 KiB of body, or a
pipelined request waits its turn, or a ``100-continue`` is not yet sent), a deadline that expires
starts over. ``0`` turns a deadline off (handy for typing requests by hand with ``nc``).

The handles are lazy: starting or stopping a clock only sets an attribute, and a handle that fires
early (its clock restarted since) arms itself again for the time left. Creating and cancelling two
handles per request cost some 7 % of a GET by id's time on uvloop.

**Connection limit** (``--max-connections N``, per process): a request arriving while more than N
connections are open gets ``503 Service Unavailable`` as problem+json with ``Retry-After: 1`` and
``Connection: close``; service resumes as soon as connections close. Connections are still accepted
beyond N (to answer them), so the header deadline is what bounds how long the extra ones live. The
test is uvicorn's ``limit_concurrency`` test, made here (uvicorn is given no limit) so that the
answer is ours without overriding a private method.

uvicorn has no public API for any of this: the class below relies on names of uvicorn's
``HttpToolsProtocol`` and ``RequestResponseCycle`` that are not documented (listed beside the
version pin in pyproject.toml, and checked by ``tests/unit/test_uvicorn_internals.py``).

Example:
    >>> uvicorn.Config(app, http=protocol_factory(10, 30, 1000))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import functools
import logging
from asyncio import TimerHandle
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from jsonserve.config import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS
from jsonserve.web.errors import PROBLEM_TYPE, problem_body

# ASGI's types, spelled as Starlette spells them (only ``web`` and ``testing`` import Starlette).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNPARSABLE = (
    "the request could not be parsed as HTTP/1.1: it is malformed, or its request line and headers "
    "exceed 64 KiB (send long filters in fewer or shorter parameters)"
)
SLOW_HEADERS = "the request's headers did not arrive within {:g} s; the connection is closed"
SLOW_BODY = "the request's body did not arrive within {:g} s of its headers; the connection is closed"
OVER_LIMIT = "the server has too many open connections; retry in a moment"
OVER_LIMIT_BODY = problem_body(503, OVER_LIMIT, "too_many_connections")
LOGGER = logging.getLogger("uvicorn.error")  # the protocol's own logger (``self.logger``)


def protocol_factory(
    header_timeout: float, body_timeout: float, max_connections: int = DEFAULT_MAX_CONNECTIONS
) -> type[ProblemHttpToolsProtocol]:
    """What to pass as ``uvicorn.Config(http=...)``: :class:`ProblemHttpToolsProtocol` with these limits.

    uvicorn builds one protocol per connection with fixed arguments; a ``functools.partial`` binds
    ours, and pickles by reference for the worker processes of ``--workers``. uvicorn only ever calls
    it, so it stands in for the class. (Give uvicorn no ``limit_concurrency``: its own test would
    answer first, in plain text.)

    Example:
        >>> uvicorn.Config(app, http=protocol_factory(10, 30, 1000))  # doctest: +SKIP
    """
    bound = functools.partial(
        ProblemHttpToolsProtocol,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
    )
    return cast("type[ProblemHttpToolsProtocol]", bound)


def limit_concurrency(max_connections: int) -> int | None:
    """The limit for ``--max-connections``, counted as uvicorn counts ``limit_concurrency`` (``0``: none).

    The test (uvicorn's, made by the protocol) answers 503 when ``open connections >= limit``,
    counting the asking connection itself, so ``N + 1`` lets exactly N connections be served.

    Example:
        >>> limit_concurrency(1000), limit_concurrency(0)
        (1001, None)
    """
    return max_connections + 1 if max_connections > 0 else None


def status_line(status: int) -> bytes:
    """The status line uvicorn writes for ``status``, e.g. ``HTTP/1.1 408 Request Timeout``."""
    return f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode("ascii")


async def over_limit(scope: Scope, receive: Receive, send: Send) -> None:
    """The 503 of uvicorn beyond ``limit_concurrency``, as problem+json with ``Retry-After``."""
    # uvicorn's warning, logged as the 503 goes out: a WebSocket upgrade (never refused) logs none, as in uvicorn
    LOGGER.warning("Exceeded concurrency limit.")
    headers = [
        (b"content-type", PROBLEM_TYPE.encode()),
        (b"content-length", str(len(OVER_LIMIT_BODY)).encode("ascii")),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": OVER_LIMIT_BODY, "more_body": False})


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with problem+json 400/503, header and body read deadlines, a connection limit."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.limit = limit_concurrency(max_connections)
        self.served_app = self.app  # uvicorn's ``self.app``, swapped per request for ``over_limit``
        self._header_timer: TimerHandle | None = None
        self._body_timer: TimerHandle | None = None
        self._header_started: float | None = None  # loop time the header clock started; None: stopped
        self._body_started: float | None = None
        self._in_headers = False  # between on_message_begin and on_headers_complete

    # -- connection ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline of the first request."""
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel the deadlines (no timer outlives its connection)."""
        self._cancel_deadlines()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        """Hand the connection over, without our timers."""
        self._cancel_deadlines()  # the connection now belongs to the WebSocket protocol
        super().handle_websocket_upgrade()

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A request starts: its header deadline runs (already, unless it is pipelined)."""
        super().on_message_begin()
        self._in_headers = True
        if self._header_started is None:  # a pipelined request begun while another is answered
            self._start_header_clock()

    def on_headers_complete(self) -> None:
        """Headers in: stop their deadline, start the body's; beyond the connection limit, answer 503."""
        self._in_headers = False
        self._header_started = None
        # uvicorn's on_headers_complete reads ``self.app`` for the request it starts (or queues behind
        # a pipelined one); this is the test uvicorn makes there for ``limit_concurrency``.
        self.app = over_limit if self._beyond_limit() else self.served_app
        super().on_headers_complete()
        # A WebSocket upgrade has no body to wait for: on_message_complete (which follows at once)
        # or handle_websocket_upgrade cancels this deadline.
        self._start_body_clock()

    def on_message_complete(self) -> None:
        """Body in: stop its deadline."""
        self._body_started = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Answered: on a connection kept alive, the next request's header deadline starts."""
        idle = not self.pipeline  # otherwise the next request (headers complete) starts now
        super().on_response_complete()
        if idle and self._header_started is None and not self.transport.is_closing():
            self._start_header_clock()

    def _beyond_limit(self) -> bool:
        return self.limit is not None and (len(self.connections) >= self.limit or len(self.tasks) >= self.limit)

    # -- deadlines -----------------------------------------------------------------------------

    def _start_header_clock(self) -> None:
        self._header_started = self.loop.time()
        if self._header_timer is None and self.header_timeout > 0:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_deadline)

    def _start_body_clock(self) -> None:
        self._body_started = self.loop.time()
        if self._body_timer is None and self.body_timeout > 0:
            self._body_timer = self.loop.call_later(self.body_timeout, self._body_deadline)

    def _time_left(self, started: float, timeout: float) -> float:
        return started + timeout - self.loop.time()

    def _header_deadline(self) -> None:
        self._header_timer = None
        started = self._header_started
        if started is None or self.transport.is_closing():
            return
        left = self._time_left(started, self.header_timeout)
        if left > 0:  # the clock restarted since this handle was armed
            self._header_timer = self.loop.call_later(left, self._header_deadline)
            return
        if self.flow.read_paused:  # the server is not reading: not the client's delay
            self._start_header_clock()
            return
        answered = self.cycle is None or self.cycle.response_complete
        if self._in_headers and answered:
            self.logger.info("%s - request headers too slow: 408", self._peer())
            self._send_problem(408, SLOW_HEADERS.format(self.header_timeout), "request_timeout")
        else:  # nothing sent (or a partial request pipelined behind one in progress): close
            self.transport.close()

    def _body_deadline(self) -> None:
        self._body_timer = None
        cycle, started = self.cycle, self._body_started
        if started is None or self.transport.is_closing() or cycle is None:
            return
        left = self._time_left(started, self.body_timeout)
        if left > 0:  # the clock restarted since this handle was armed
            self._body_timer = self.loop.call_later(left, self._body_deadline)
            return
        if self.flow.read_paused or cycle.waiting_for_100_continue:  # the server holds the body up
            self._start_body_clock()
            return
        if cycle.response_started:
            self.transport.close()
            return
        self.logger.info("%s - request body too slow: 408", self._peer())
        self._send_problem(408, SLOW_BODY.format(self.body_timeout), "request_timeout")
        cycle.disconnected = True  # the application's next receive() is a disconnect; its send() a no-op
        cycle.message_event.set()

    def _cancel_deadlines(self) -> None:
        self._header_started = self._body_started = None
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    # -- responses written by the protocol itself ----------------------------------------------

    def send_400_response(self, msg: str) -> None:
        """Answer 400 with a problem body, then close the connection (as uvicorn does)."""
        self._send_problem(400, UNPARSABLE, "bad_request")

    def _send_problem(self, status: int, detail: str, code: str) -> None:
        """Write a problem+json response with ``Connection: close``, and close."""
        body = problem_body(status, detail, code)
        content = [status_line(status)]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"

"""The request log: what the code under test sent, and the status it got back.

:class:`Recorder` wraps the whole app (outside CORS and every policy), so it sees each HTTP request
as it arrived, whichever door it came through (the socket, ``client``, ``async_client``), injected
failures and preflights included. It reads the request's body before the app does and hands the
app the same bytes, so that the log holds the body even when the app answered without reading it.
A request is logged when its response starts (before the client can read it), into the log that
was current when it arrived: a slow request of one test never lands in the next test's log.

Headers are kept as sent, ``Authorization`` and cookies included: the log is the test's own.

Example:
    >>> RecordedRequest("POST", "/posts", {}, {}, b'{"title": "b"}', 201).json
    {'title': 'b'}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsonserve._types import JSONValue

__all__ = ["RecordedRequest", "Recorder", "describe"]

SHOWN_BODY = 200  # characters of a body shown in a failed test's report


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server received, and the status it answered.

    ``query`` holds one value per name (the last, when a name repeats; ``query_string`` has them
    all); ``headers`` has lower-case names (repeated headers joined with ``", "``); ``status`` is
    ``None`` when the client went away before an answer started.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int | None
    query_string: str = ""

    @property
    def json(self) -> JSONValue | None:
        """The body parsed as JSON; ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            value: JSONValue = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None
        return value

    def __str__(self) -> str:
        """One line: ``POST /posts?x=1 -> 201 {"title": "b"}``."""
        target = f"{self.path}?{self.query_string}" if self.query_string else self.path
        body = self.body.decode("utf-8", "replace")
        shown = body if len(body) <= SHOWN_BODY else body[:SHOWN_BODY] + f"... ({len(self.body)} bytes)"
        return f"{self.method} {target} -> {self.status if self.status is not None else 'no answer'}" + (
            f"  {shown}" if shown else ""
        )


def describe(requests: Iterable[RecordedRequest], limit: int = 50) -> str:
    """The log as text, one request a line, the last ``limit`` only (what a failed test's report shows)."""
    lines = [str(request) for request in requests]
    skipped = len(lines) - limit
    shown = lines[-limit:] if skipped > 0 else lines
    return "\n".join(([f"... {skipped} earlier requests"] if skipped > 0 else []) + shown)


@dataclass
class Recorder:
    """Pure ASGI middleware logging every HTTP request into :attr:`log` (replace the list to start a new log)."""

    app: ASGIApp
    log: list[RecordedRequest] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass an HTTP request on with its body read, logging it when its answer starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log = self.log
        messages, replay = await _read_body(receive)
        body = b"".join(message.get("body", b"") for message in messages)
        started = False

        async def record(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                log.append(_entry(scope, body, message["status"]))
            await send(message)

        try:
            await self.app(scope, replay, record)
        finally:
            if not started:
                log.append(_entry(scope, body, None))


async def _read_body(receive: Receive) -> tuple[list[Message], Receive]:
    """Every message up to the end of the body, and a ``receive`` that gives them again, then goes on."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return messages, replay


def _entry(scope: Scope, body: bytes, status: int | None) -> RecordedRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    query_string = scope.get("query_string", b"").decode("latin-1")
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    return RecordedRequest(scope["method"], scope["path"], query, headers, body, status, query_string)

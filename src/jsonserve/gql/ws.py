"""The ``graphql-transport-ws`` protocol (the ``graphql-ws`` npm package's, and Python ``gql``'s), transport-free.

One :class:`Connection` per WebSocket: the transport (``web/graphql.py``) feeds it the client's
messages (:meth:`Connection.receive`), sends what its :attr:`~Connection.outbox` holds, and closes
the socket with :attr:`~Connection.close_code` once :attr:`~Connection.done` is set.

* ``connection_init`` (its ``payload`` may carry ``Authorization: Bearer <token>`` or ``token``)
  -> ``connection_ack``; a refused token closes with 4401 (4403 for a forbidden one), a second
  init with 4429, no init within ``init_timeout`` seconds with 4408;
* ``ping`` -> ``pong``; ``subscribe`` before the ack closes with 4401, with an id already running
  with 4409, a malformed message (not JSON, unknown type, no id, no query) with 4400;
* ``subscribe`` runs a query or mutation (``next`` then ``complete``) or a subscription (``next``
  per change); an invalid operation, or a subscription refused (a rule, a ``since`` too old:
  ``resync_required`` with the ``seq`` to resume from), is an ``error`` for that id;
* ``complete`` from the client stops that operation.

A subscription is a realtime subscription: every connection holds a realtime
:class:`~jsonserve.realtime.Session`, whose :meth:`~jsonserve.realtime.Session.follow` does the
ordering, the resume after ``since``, the rules at delivery, the redaction and the bound on what
waits for a slow client (its queue full: the connection closes with 1013, and writers never wait).
Its frames are routed here to each subscription's source stream, which graphql-core maps through the
operation's selection (:meth:`jsonserve.gql.GraphQL.subscribe`).

Why by hand: the maintained Python servers of this protocol (ariadne's and strawberry's
``GraphQLTransportWSHandler``) are parts of those frameworks' own ASGI apps and schema objects, and
the ``graphql-ws`` package on PyPI speaks the older Apollo protocol; the protocol itself is seven
message types, and everything that needs care (order, resume, rules, bounds) is realtime's, reused.

Example:
    >>> connection = Connection(engine, realtime_context, ANONYMOUS)  # doctest: +SKIP
    >>> connection.start()  # doctest: +SKIP
    >>> await connection.receive('{"type": "connection_init"}')  # doctest: +SKIP
    >>> await connection.outbox.get()  # doctest: +SKIP
    {'type': 'connection_ack'}
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from graphql import OperationType

from jsonserve._types import JSONValue
from jsonserve.auth.principal import Principal
from jsonserve.errors import JsonServeError, PermissionDenied, ResyncRequired, Unauthorized
from jsonserve.gql.engine import GraphQL, Outcome, Prepared
from jsonserve.gql.errors import coded
from jsonserve.query.model import Node
from jsonserve.realtime.filters import ChangeFilter, check_since
from jsonserve.realtime.frames import Frame
from jsonserve.realtime.session import Context, Outbox, Session

log = logging.getLogger("jsonserve.gql")

PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 10.0  # seconds to send connection_init (graphql-ws's default is 3)
BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, INIT_TIMED_OUT = 4400, 4401, 4403, 4408
DUPLICATE_ID, TOO_MANY_INITS = 4409, 4429
ENDED = {
    "overflow": (1013, "too slow: the send queue is full, resume with since"),
    "shutdown": (1001, "stopping"),
    "signed_out": (UNAUTHORIZED, "Unauthorized: the token is no longer valid (signed out or expired)"),
}

Count = Callable[[bool], Awaitable[bool]]
"""Count one operation against the rate limits (``True``: a mutation); ``False`` when refused."""


class ProtocolError(Exception):
    """A message that breaks the protocol: the connection closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Source:
    """One subscription's changes, as graphql-core reads them: realtime's frames, then an error or the end."""

    def __init__(self, limit: int) -> None:
        self._queue: asyncio.Queue[Frame | JsonServeError | None] = asyncio.Queue(limit)
        self.task: asyncio.Task[None] | None = None

    async def put(self, item: Frame | JsonServeError) -> None:
        await self._queue.put(item)

    def __aiter__(self) -> _Source:
        return self

    async def __anext__(self) -> Frame:
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, JsonServeError):
            raise item
        return item


class Connection:
    """One ``graphql-transport-ws`` connection of ``principal`` (the upgrade request's caller)."""

    def __init__(
        self,
        engine: GraphQL,
        realtime: Context,
        principal: Principal,
        *,
        token: str | None = None,
        count: Count | None = None,
        init_timeout: float | None = None,
    ) -> None:
        self.engine = engine
        self.session = Session(realtime, principal, token)
        self.outbox = Outbox(realtime.limits.send_queue)
        """The messages to send, in order."""
        self.done = asyncio.Event()
        """Set once the connection has ended; :attr:`close_code` then says how to close (``None``: it is closed)."""
        self.close_code: int | None = None
        self.close_reason = ""
        self._count = count
        self._init_timeout = INIT_TIMEOUT if init_timeout is None else init_timeout
        self._initialised = False
        self._acknowledged = False
        self._operations: dict[str, asyncio.Task[None]] = {}
        self._sources: dict[str, _Source] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Route the realtime session's frames, and start the clock for ``connection_init``."""
        self._tasks = [
            asyncio.create_task(self._route(), name="jsonserve-graphql-ws-route"),
            asyncio.create_task(self._deadline(), name="jsonserve-graphql-ws-init"),
        ]

    async def receive(self, text: str | bytes) -> None:
        """Handle one client message (a protocol error ends the connection with its close code)."""
        try:
            await self._dispatch(self._parse(text))
        except ProtocolError as error:
            self.close(error.code, error.reason)

    def close(self, code: int, reason: str) -> None:
        """End the connection, to be closed with ``code`` (the first reason given wins)."""
        if self.close_code is None and not self.done.is_set():
            self.close_code, self.close_reason = code, reason
        self.end()

    def end(self) -> None:
        """Stop every operation and the session; nothing more is sent."""
        if self.done.is_set():
            return
        self.done.set()
        self.session.end()
        for task in [*self._operations.values(), *self._tasks]:
            task.cancel()
        for source in self._sources.values():
            if source.task is not None:
                source.task.cancel()
        self._operations.clear()
        self.outbox.close(discard=True)

    # -- messages ------------------------------------------------------------------------------

    def _parse(self, text: str | bytes) -> dict[str, Any]:
        limit = self.session.context.limits.message_bytes
        if len(text) > limit:
            raise ProtocolError(BAD_REQUEST, f"a message has at most {limit} bytes")
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ProtocolError(BAD_REQUEST, "a message is one JSON object") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError(BAD_REQUEST, "a message is a JSON object with a `type`")
        return message

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
        elif kind == "ping":
            await self.outbox.put({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            self._subscribe(message)
        elif kind == "complete":
            self._stop(_operation_id(message))
        else:
            raise ProtocolError(BAD_REQUEST, f"unknown message type {kind!r}")

    async def _init(self, payload: object) -> None:
        if self._initialised:
            raise ProtocolError(TOO_MANY_INITS, "Too many initialisation requests")
        self._initialised = True
        if payload is not None and not isinstance(payload, dict):
            raise ProtocolError(BAD_REQUEST, "the connection_init payload must be an object")
        token = _token(payload or {})
        authenticate = self.session.context.authenticate
        if token and authenticate is not None:  # without --auth a token is ignored, as REST ignores it
            try:
                self.session.signed_in(token, await authenticate(token))
            except Unauthorized as error:
                raise ProtocolError(UNAUTHORIZED, error.detail) from None
            except PermissionDenied as error:
                raise ProtocolError(FORBIDDEN, error.detail) from None
        self._acknowledged = True
        await self.outbox.put({"type": "connection_ack"})

    def _subscribe(self, message: dict[str, Any]) -> None:
        if not self._acknowledged:
            raise ProtocolError(UNAUTHORIZED, "Unauthorized: send connection_init first")
        operation = _operation_id(message)
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise ProtocolError(BAD_REQUEST, "a subscribe message carries a payload with the `query`")
        if operation in self._operations:
            raise ProtocolError(DUPLICATE_ID, f"Subscriber for {operation} already exists")
        task = asyncio.create_task(self._operate(operation, payload), name=f"jsonserve-graphql-{operation}")
        self._operations[operation] = task

    def _stop(self, operation: str) -> None:
        task = self._operations.pop(operation, None)
        if task is not None:
            task.cancel()
        self._drop(operation)

    def _drop(self, operation: str) -> None:
        source = self._sources.pop(operation, None)
        if source is not None and source.task is not None:
            source.task.cancel()
        self.session.cancel(operation)

    # -- operations ----------------------------------------------------------------------------

    async def _operate(self, operation: str, payload: dict[str, Any]) -> None:
        try:
            prepared = await self.engine.prepare(payload)
            if isinstance(prepared, Outcome):
                await self._error(operation, prepared.body["errors"])
            elif self._count is not None and not await self._count(prepared.kind is OperationType.MUTATION):
                await self._error(operation, [coded("too many operations: slow down", "too_many_requests")])
            elif prepared.kind is OperationType.SUBSCRIPTION:
                await self._subscription(operation, prepared)
            else:
                outcome = await self.engine.execute(prepared, principal=self.session.principal)
                await self._next(operation, outcome.body)
                await self.outbox.put({"type": "complete", "id": operation})
        except Exception:  # a bug: say so on this operation, keep the connection
            log.exception("graphql-transport-ws operation %s failed", operation)
            await self._error(
                operation, [coded("the server failed to run this operation; it has been logged", "internal_error")]
            )
        finally:
            if self._operations.get(operation) is asyncio.current_task():
                del self._operations[operation]

    async def _subscription(self, operation: str, prepared: Prepared) -> None:
        async def follow(collection: str, where: Node | None, since: object) -> _Source:
            return self._follow(operation, collection, where, since)

        context = self.engine.context(self.session.principal, follow)
        try:
            stream = await self.engine.subscribe(prepared, context)
            if isinstance(stream, dict):
                await self._error(operation, stream["errors"])
                return
            try:
                async for body in stream:
                    await self._next(operation, body)
            except JsonServeError as error:  # resync_required (a since too old, a reload), a limit
                await self._error(operation, [_coded(error)])
                return
            await self.outbox.put({"type": "complete", "id": operation})
        finally:
            self._drop(operation)

    def _follow(self, operation: str, collection: str, where: Node | None, since: object) -> _Source:
        """The source of one subscription: checked as a ``/realtime`` subscribe is, then the session follows it."""
        start = check_since(since)
        self.session.context.gate.check_subscribe(self.session.principal, collection, where)
        source = _Source(self.session.context.limits.send_queue)
        self._sources[operation] = source
        wanted = ChangeFilter(collection, None, where)
        source.task = asyncio.create_task(self._start(operation, source, wanted, start))
        return source

    async def _start(self, operation: str, source: _Source, wanted: ChangeFilter, since: int | None) -> None:
        try:
            await self.session.follow(operation, wanted, since)
        except JsonServeError as error:  # too many subscriptions on the connection
            await source.put(error)

    async def _route(self) -> None:
        """Hand each change frame of the session to its subscription's source (waiting for room: bounded)."""
        async for frame in self.session.frames():
            source = self._sources.get(str(frame.get("sub")))
            kind = frame.get("type")
            if source is None or kind == "subscribed":
                continue
            if kind == "change":
                await source.put(frame)
            else:  # resync_required, or a reset (a reload under --watch): re-read, then resume from seq
                seq = frame.get("seq")
                await source.put(ResyncRequired(_RESYNC[str(kind)], seq if isinstance(seq, int) else 0))
        ended = ENDED.get(str(self.session.ended))
        if ended is not None:
            self.close(*ended)

    async def _deadline(self) -> None:
        await asyncio.sleep(self._init_timeout)
        if not self._initialised:
            self.close(INIT_TIMED_OUT, "Connection initialisation timeout")

    async def _next(self, operation: str, body: dict[str, Any]) -> None:
        await self.outbox.put({"type": "next", "id": operation, "payload": body})

    async def _error(self, operation: str, errors: list[Any]) -> None:
        await self.outbox.put({"type": "error", "id": operation, "payload": errors})


_RESYNC = {
    "resync_required": "the change log no longer holds the changes after `since`: re-read, then subscribe from seq",
    "reset": "the collection was reloaded: re-read it, then subscribe from seq",
}


def _coded(error: JsonServeError) -> dict[str, Any]:
    body = coded(error.detail, error.code)
    if isinstance(error, ResyncRequired):
        body["extensions"]["seq"] = error.latest
    return body


def _operation_id(message: dict[str, Any]) -> str:
    operation = message.get("id")
    if not isinstance(operation, str) or not operation:
        raise ProtocolError(BAD_REQUEST, f"a {message['type']} message carries its operation's `id` (a string)")
    return operation


def _token(payload: dict[str, JSONValue]) -> str | None:
    """The access token of a ``connection_init`` payload: ``token``, or ``Authorization: Bearer ...``."""
    token = payload.get("token")
    if isinstance(token, str) and token:
        return token
    header = next((value for key, value in payload.items() if key.lower() == "authorization"), None)
    if isinstance(header, str) and header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    return None


async def messages(connection: Connection) -> AsyncIterator[Frame]:
    """What to send, in order, until the connection ends."""
    while (message := await connection.outbox.get()) is not None:
        yield message

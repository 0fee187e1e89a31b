"""One realtime connection, whatever carries it: its subscriptions, their resume hand-over, its send queue.

A transport (the WebSocket and SSE endpoints in ``web``) feeds a :class:`Session` the client's
messages (:meth:`Session.receive`), or calls the pieces directly (:meth:`Session.prepare`,
:meth:`Session.follow`, :meth:`Session.listen`), and sends what :meth:`Session.frames` yields until it
ends; :attr:`Session.ended` then says why (``overflow``: close with 1013, ``invalid``: 1008,
``shutdown``: the server stops).

Writers never wait for a connection: a live change is queued without waiting, and a connection whose
queue is full is ended (``overflow``). What the session sends on its own account (answers, replays)
waits for room instead, so that a long replay only goes as fast as the client reads.

Example:
    >>> session = Session(context, principal)  # doctest: +SKIP
    >>> await session.receive('{"type": "subscribe", "id": "s1", "collection": "posts"}')  # doctest: +SKIP
    >>> await anext(aiter(session.frames()))  # doctest: +SKIP
    {'type': 'subscribed', 'id': 's1', 'seq': 41}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import orjson

from jsonserve._types import JSONValue
from jsonserve.auth.principal import ANONYMOUS, Principal
from jsonserve.errors import (
    BadRequest,
    Conflict,
    InvalidMessage,
    JsonServeError,
    NotFound,
    ResyncRequired,
    TooManyRequests,
    TooManySubscriptions,
    Unauthorized,
)
from jsonserve.realtime.feed import ChangeFeed, retained
from jsonserve.realtime.filters import ChangeFilter, Wanted, change_filter, check_channel, check_since, check_sub_id
from jsonserve.realtime.frames import (
    Frame,
    SubId,
    change_frame,
    error_frame,
    message_frame,
    message_payload,
    resync_frame,
)
from jsonserve.realtime.gate import Gate
from jsonserve.realtime.hub import Hub, Subscription
from jsonserve.realtime.limits import Limits, RateLimit
from jsonserve.schema.kind import Kind
from jsonserve.storage.changelog import Change, ChangeLog

log = logging.getLogger("jsonserve.realtime")

EndReason = Literal["closed", "overflow", "invalid", "shutdown", "signed_out"]
Authenticate = Callable[[str], Awaitable[Principal]]


@dataclass(frozen=True)
class Context:
    """What every session of one server shares: the feed, the hub, the change log, the catalogue, the rules."""

    feed: ChangeFeed
    hub: Hub
    changelog: Callable[[], ChangeLog]
    kinds: Callable[[], Mapping[str, Kind]]
    gate: Gate
    limits: Limits = field(default_factory=Limits)
    authenticate: Authenticate | None = None  # ``--auth``: the token -> the caller
    clock: Callable[[], float] = time.time
    sessions: set[Session] = field(default_factory=set)  # the open ones

    def end_all(self) -> None:
        """End every open session (``shutdown``): the server stops, its streams must not hold it up."""
        for session in list(self.sessions):
            session.end("shutdown")


class Outbox:
    """A bounded queue of frames: :meth:`push` never waits (``False`` when full), :meth:`put` waits for room."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: deque[Frame] = deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._idle = False  # the consumer waits for a frame: it holds none it has not sent
        self.closed = False
        self.direct: Callable[[Frame], bool] | None = None
        """A transport's way to send a frame at once, without its task (``False``: it cannot now)."""

    def push(self, frame: Frame) -> bool:
        """Queue ``frame`` now (or send it at once), or ``False`` when the queue is full.

        With :attr:`direct` set, a frame that would be the only one queued while the consumer waits is
        handed to it at once: nothing can overtake it then, and fan-out to many connections costs no
        task switch per frame. When ``direct`` cannot take it (flow control), it is queued.
        """
        if self.closed:
            return True
        if self._idle and not self._items and self.direct is not None and self.direct(frame):
            return True
        if len(self._items) >= self._limit:
            return False
        self._items.append(frame)
        self._readable.set()
        return True

    async def put(self, frame: Frame) -> None:
        """Queue ``frame`` once there is room (dropped when the outbox closes meanwhile)."""
        while not self.closed and len(self._items) >= self._limit:
            self._writable.clear()
            await self._writable.wait()
        if not self.closed:
            self._items.append(frame)
            self._readable.set()

    async def get(self) -> Frame | None:
        """The next frame; ``None`` once closed and empty."""
        while not self._items:
            if self.closed:
                return None
            await self._wait()
        frame = self._items.popleft()
        self._writable.set()
        return frame

    async def drain(self, most: int) -> list[Frame]:
        """The queued frames (at least one, at most ``most``), waiting for one; ``[]`` once closed and empty."""
        while not self._items:
            if self.closed:
                return []
            await self._wait()
        items = self._items
        if len(items) <= most:
            taken = list(items)
            items.clear()
        else:
            taken = [items.popleft() for _ in range(most)]
        self._writable.set()
        return taken

    async def _wait(self) -> None:
        self._readable.clear()
        self._idle = True
        try:
            await self._readable.wait()
        finally:
            self._idle = False

    def close(self, *, discard: bool = False) -> None:
        """No more frames (``discard``: drop the queued ones too)."""
        self.closed = True
        if discard:
            self._items.clear()
        self._readable.set()
        self._writable.set()


class _ChangeStream:
    """One change subscription: the feed's sink, holding live changes back while the replay runs."""

    def __init__(self, session: Session, sub: SubId, wanted: Wanted, floor: int) -> None:
        self.session = session
        self.sub = sub
        self.wanted = wanted
        self.floor = floor  # changes up to this seq were replayed or seen by the client already
        self.live = False
        self.held: list[Change] = []
        self._detach: Callable[[], None] | None = None

    def attach(self, feed: ChangeFeed) -> int:
        cursor, self._detach = feed.attach(self)
        return cursor

    def deliver(self, change: Change) -> None:
        if change.seq <= self.floor or not self.wanted.accepts(change):
            return
        if self.live:
            self.session.push_change(self.sub, change)
        elif len(self.held) < self.session.context.limits.send_queue:
            self.held.append(change)
        else:
            self.session.end("overflow")

    def end(self) -> None:
        self.session.end("shutdown")

    def cancel(self) -> None:
        if self._detach is not None:
            self._detach()


class _ChannelStream:
    """One channel subscription: the hub's listener and the task that relays what it hears."""

    def __init__(self, listener: Subscription[bytes], task: asyncio.Task[None]) -> None:
        self.listener = listener
        self.task = task

    def cancel(self) -> None:
        self.listener.close()
        self.task.cancel()


class Session:
    """One client connection (a WebSocket, or an SSE request)."""

    def __init__(self, context: Context, principal: Principal = ANONYMOUS, token: str | None = None) -> None:
        self.context = context
        self.principal = principal
        self.token: str | None = None
        """The access token the principal was verified from (re-verified every ``limits.recheck`` s)."""
        self._rechecking: asyncio.Task[None] | None = None
        self.outbox = Outbox(context.limits.send_queue)
        self.ended: EndReason | None = None
        self.done = asyncio.Event()
        """Set once the session has ended."""
        self._subs: dict[SubId, _ChangeStream | _ChannelStream] = {}
        self._publishes = RateLimit(context.limits.publish_rate)
        self._invalid = 0
        context.sessions.add(self)
        if token is not None and not principal.is_anonymous:
            self.signed_in(token, principal)

    # -- what a transport calls ----------------------------------------------------------------

    async def frames(self) -> AsyncIterator[Frame]:
        """The frames to send, in order, until the session ends."""
        while (frame := await self.outbox.get()) is not None:
            yield frame

    async def batches(self, most: int) -> AsyncIterator[list[Frame]]:
        """The frames to send, in order, as many as are queued at a time (up to ``most``), until the session ends.

        A transport that can write several messages at once (the WebSocket writer) wakes once per
        batch rather than once per frame.
        """
        while batch := await self.outbox.drain(most):
            yield batch

    async def receive(self, text: str | bytes) -> None:
        """Handle one client message; a bad one is answered with an ``error`` frame (the session goes on).

        After ``invalid_in_a_row`` invalid messages in a row the session ends (``invalid``).
        """
        sub: JSONValue = None
        try:
            message = self._parse(text)
            sub = _echo_id(message)
            await self._dispatch(message)
            self._invalid = 0
        except InvalidMessage as error:
            self._invalid += 1
            await self.send(error_frame(sub, error))
            if self._invalid >= self.context.limits.invalid_in_a_row:
                self.end("invalid")
        except JsonServeError as error:
            self._invalid = 0
            await self.send(error_frame(sub, error))

    def end(self, reason: EndReason = "closed") -> None:
        """Stop every subscription; :meth:`frames` ends (at once, unless the client just went away)."""
        if self.ended is not None:
            return
        self.ended = reason
        self.context.sessions.discard(self)
        subs, self._subs = self._subs, {}
        for stream in subs.values():
            stream.cancel()
        self.outbox.close(discard=reason not in ("closed", "signed_out"))  # signed out: its error frame goes out
        self.done.set()

    def signed_in(self, token: str, principal: Principal) -> None:
        """Act as ``principal`` from now on, and verify ``token`` again every ``limits.recheck`` seconds.

        A logout, a password change, a deleted user or the token's expiry then ends the session
        (``signed_out``) within that time, as the next REST request would be refused: a connection
        must not keep reading as a user who signed out. A client keeps its connection past its
        token's expiry by sending an ``auth`` message with a fresh token before then.
        """
        self.principal, self.token = principal, token
        if self._rechecking is None and self.context.authenticate is not None and self.context.limits.recheck > 0:
            self._rechecking = asyncio.create_task(self._recheck_every(), name="jsonserve-realtime-recheck")

    async def recheck(self) -> None:
        """Verify the token again; a refused one ends the session (``signed_out``) after an ``error`` frame."""
        authenticate = self.context.authenticate
        if self.token is None or authenticate is None or self.ended is not None:
            return
        try:
            self.principal = await authenticate(self.token)  # roles too may have changed
        except Unauthorized as error:
            detail = f"{error.detail}: this connection is closed; sign in again, then resume with since"
            self.outbox.push(error_frame(None, type(error)(detail)))  # its code: invalid_token, unauthorized
            self.end("signed_out")
        except JsonServeError as error:  # the store cannot answer now: keep the identity, check next time
            log.warning("could not verify a realtime connection's token again: %s", error.detail)
        except Exception:  # a bug, or a store closed under a server that stops: logged, never the task's end
            log.exception("could not verify a realtime connection's token again")

    async def _recheck_every(self) -> None:
        """:meth:`recheck` every ``limits.recheck`` seconds until the session ends (it ends with it)."""
        while self.ended is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.context.limits.recheck):
                    await self.done.wait()
            await self.recheck()

    async def sign_in(self, token: str) -> None:
        """Authenticate with an access token (``?token=`` on the upgrade): an ``error`` frame when refused."""
        try:
            await self._auth({"type": "auth", "token": token})
        except JsonServeError as error:
            await self.send(error_frame(None, error))

    async def send(self, frame: Frame) -> None:
        """Queue a frame of the session's own (waits for room)."""
        await self.outbox.put(frame)

    def push_change(self, sub: SubId, change: Change) -> None:
        """Queue a live change, if the caller may see it, without waiting; a full queue ends the session."""
        visible = self.context.gate.visible(self.principal, change)
        if visible is not None and not self.outbox.push(change_frame(sub, visible)):
            self.end("overflow")

    # -- subscriptions -------------------------------------------------------------------------

    def prepare(self, collection: object, record: object = None, where: object = None) -> ChangeFilter:
        """Check a change subscription: the REST errors for a bad collection, ``where`` or rule."""
        wanted = change_filter(self.context.kinds(), collection, record, where)
        self.context.gate.check_subscribe(self.principal, wanted.collection, wanted.where)
        return wanted

    async def follow(self, sub: SubId, wanted: Wanted, since: int | None, *, live_after_resync: bool = False) -> None:
        """Subscribe ``sub`` to the changes ``wanted``: first those retained after ``since``, then live ones.

        When ``since`` is too old (or ahead of the store) a ``resync_required`` frame is sent instead of
        the replay; the subscription is dropped then, unless ``live_after_resync`` (SSE, where the
        client cannot subscribe again on the same stream) keeps it going from the current ``seq``.
        """
        self._check_new(sub)
        stream = _ChangeStream(self, sub, wanted, since or 0)
        self._subs[sub] = stream
        cursor = stream.attach(self.context.feed)  # before reading the log: nothing falls in between
        try:
            await self._replay(sub, stream, since, cursor)
        except ResyncRequired as error:
            if not live_after_resync:
                self._drop(sub, stream)
                await self.send(resync_frame(sub, error.latest))
                return
            stream.floor = cursor
            await self.send(resync_frame(sub, cursor))
        except BaseException:
            self._drop(sub, stream)
            raise
        await self.send({"type": "subscribed", "id": sub, "seq": max(cursor, since or 0)})
        while stream.held:  # what arrived meanwhile, then live (no wait between the last check and live)
            held, stream.held = stream.held, []
            for change in held:
                await self._send_change(sub, stream, change)
        stream.live = True

    def cancel(self, sub: SubId) -> bool:
        """Stop subscription ``sub`` without a word to the client; ``False`` when it is not live."""
        stream = self._subs.pop(sub, None)
        if stream is not None:
            stream.cancel()
        return stream is not None

    async def listen(self, sub: SubId, channel: object) -> None:
        """Subscribe ``sub`` to what is published on ``channel`` from now on."""
        self._check_new(sub)
        name = check_channel(channel)
        self.context.gate.check_channel(self.principal, name, "subscribe")
        listener = await self.context.hub.listen(name)
        task = asyncio.create_task(self._relay(sub, listener), name=f"jsonserve-channel-{name}")
        self._subs[sub] = _ChannelStream(listener, task)
        await self.send({"type": "subscribed", "id": sub, "seq": self.context.feed.cursor})

    async def _replay(self, sub: SubId, stream: _ChangeStream, since: int | None, cursor: int) -> None:
        if since is not None:
            async for change in retained(self.context.changelog(), since, cursor):
                await self._send_change(sub, stream, change)

    def _drop(self, sub: SubId, stream: _ChangeStream) -> None:
        if self._subs.get(sub) is stream:
            del self._subs[sub]
        stream.cancel()

    async def _send_change(self, sub: SubId, stream: _ChangeStream, change: Change) -> None:
        if not stream.wanted.accepts(change):
            return
        visible = self.context.gate.visible(self.principal, change)
        if visible is not None:
            await self.send(change_frame(sub, visible))

    async def _relay(self, sub: SubId, listener: Subscription[bytes]) -> None:
        async for payload in listener:
            if not self.outbox.push(message_frame(sub, payload)):
                self.end("overflow")
                return
        if listener.overflowed:
            self.end("overflow")

    def _check_new(self, sub: SubId) -> None:
        if sub in self._subs:
            raise Conflict(f"the subscription id {sub!r} is live already: unsubscribe it or choose another")
        if len(self._subs) >= self.context.limits.subscriptions:
            raise TooManySubscriptions(f"a connection holds at most {self.context.limits.subscriptions} subscriptions")

    # -- messages ------------------------------------------------------------------------------

    def _parse(self, text: str | bytes) -> dict[str, JSONValue]:
        limit = self.context.limits.message_bytes
        size = len(text) if isinstance(text, bytes) or len(text) * 4 <= limit else len(text.encode("utf-8", "replace"))
        if size > limit:
            raise InvalidMessage(f"a message has at most {limit} bytes")
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise InvalidMessage("a message is one JSON object") from None
        if not isinstance(message, dict):
            raise InvalidMessage("a message is one JSON object")
        return message

    async def _dispatch(self, message: dict[str, JSONValue]) -> None:
        handlers = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "publish": self._publish,
            "auth": self._auth,
            "ping": self._ping,
        }
        kind = message.get("type")
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise InvalidMessage(f"unknown message type {kind!r}; send one of {', '.join(handlers)}")
        await handler(message)

    async def _subscribe(self, message: dict[str, JSONValue]) -> None:
        sub = check_sub_id(message.get("id"))
        if ("collection" in message) == ("channel" in message):
            raise InvalidMessage("a subscribe names either a `collection` or a `channel`")
        if "channel" in message:
            if any(key in message for key in ("record", "where", "since")):
                raise InvalidMessage("a channel subscription takes no `record`, `where` or `since`")
            await self.listen(sub, message["channel"])
            return
        self._check_new(sub)
        wanted = self.prepare(message["collection"], message.get("record"), message.get("where"))
        await self.follow(sub, wanted, check_since(message.get("since")))

    async def _unsubscribe(self, message: dict[str, JSONValue]) -> None:
        sub = check_sub_id(message.get("id"))
        stream = self._subs.pop(sub, None)
        if stream is None:
            raise NotFound(f"no live subscription {sub!r}")
        stream.cancel()
        await self.send({"type": "unsubscribed", "id": sub})

    async def _publish(self, message: dict[str, JSONValue]) -> None:
        if "data" not in message:
            raise InvalidMessage("a publish carries `data` (any JSON value)")
        channel = check_channel(message.get("channel"))
        self.context.gate.check_channel(self.principal, channel, "publish")
        if not self._publishes.allow():
            raise TooManyRequests(f"at most {self._publishes.rate} publishes per second on one connection", 1)
        await publish(self.context, self.principal, channel, message["data"])

    async def _auth(self, message: dict[str, JSONValue]) -> None:
        token = message.get("token")
        if not isinstance(token, str) or not token:
            raise InvalidMessage("an auth message carries the `token` (an access token)")
        if self.context.authenticate is None:
            raise BadRequest("this server runs without --auth: there is nobody to sign in as")
        self.signed_in(token, await self.context.authenticate(token))
        await self.send({"type": "authenticated", "user": sender(self.principal)})

    async def _ping(self, _message: dict[str, JSONValue]) -> None:
        await self.send({"type": "pong"})


async def publish(context: Context, principal: Principal, channel: object, data: JSONValue) -> None:
    """Send ``data`` to every subscriber of ``channel`` (checked: its name, the channel rule)."""
    name = check_channel(channel)
    context.gate.check_channel(principal, name, "publish")
    await context.hub.send(name, message_payload(name, data, sender(principal), context.clock()))


def sender(principal: Principal) -> JSONValue:
    """The ``from`` of a message: the user's id (a number when it is one, as ``userId: 1``), or ``None``."""
    user = principal.id
    if user is not None and user.isdecimal() and user == str(int(user)):
        return int(user)
    return user


def _echo_id(message: dict[str, JSONValue]) -> JSONValue:
    sub = message.get("id")
    return sub if isinstance(sub, str | int) and not isinstance(sub, bool) else None

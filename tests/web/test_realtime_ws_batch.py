"""Fan-out's fast path: frames encoded once per change, and several WebSocket messages per socket write.

The contract (one JSON object per text message, each change once and in ``seq`` order) must hold
through both: checked with real clients over a real socket. ``server/websocket.py`` relies on names
inside uvicorn's WebSocket protocol; the protocol test below fails if they change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
import websockets

from jsonserve.auth.principal import ANONYMOUS
from jsonserve.realtime.frames import EncodedFrame, change_frame, frame_text
from jsonserve.realtime.gate import Gate
from jsonserve.realtime.session import Outbox
from jsonserve.server.lifecycle import listen
from jsonserve.server.websocket import BatchingWebSocketProtocol
from jsonserve.service.redact import Redaction
from jsonserve.storage.changelog import Change
from jsonserve.web.websocket import SEND_MANY
from tests.support.live import live_server, ws_client

pytestmark = pytest.mark.anyio


class _Everyone:
    def __call__(self, principal: object, collection: str) -> None:
        return None

    def channel(self, principal: object, channel: str, action: str) -> None:
        return None


def test_a_change_frame_carries_the_json_the_dict_would_give_for_every_subscriber() -> None:
    change = Change("posts", "updated", 7, {"id": 7, "title": "héllo \u2028"}, {"id": 7, "title": "a"}, 42, 1.5)
    for sub in ("s1", 3, 'quote"d', "ünï"):
        frame = change_frame(sub, change)
        assert isinstance(frame, EncodedFrame)
        assert frame_text(frame) == orjson.dumps(dict(frame)).decode()
        assert orjson.loads(frame_text(frame)) == {
            "type": "change",
            "sub": sub,
            "seq": 42,
            "op": "update",
            "collection": "posts",
            "id": 7,
            "record": {"id": 7, "title": "héllo \u2028"},
            "previous": {"id": 7, "title": "a"},
            "at": "1970-01-01T00:00:01.500Z",
        }
    other = Change("posts", "deleted", 8, None, {"id": 8}, 43, 2.0)  # the next change is not served stale
    assert orjson.loads(frame_text(change_frame("s1", other)))["seq"] == 43
    assert frame_text({"type": "pong"}) == '{"type":"pong"}'


def test_the_redacted_copy_of_a_change_is_shared_and_never_served_for_another_change() -> None:
    gate = Gate(_Everyone(), Redaction({"users": frozenset({"password"})}), _Everyone())
    first = Change("users", "created", 1, {"id": 1, "password": "x"}, None, 1, 0.0)
    second = Change("users", "created", 2, {"id": 2, "password": "y"}, None, 2, 0.0)
    seen = gate.visible(ANONYMOUS, first)
    assert seen is not None and seen.record == {"id": 1}
    assert gate.visible(ANONYMOUS, first) is seen
    again = gate.visible(ANONYMOUS, second)
    assert again is not None and again.record == {"id": 2}


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[str]:
    with listen("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, ws=BatchingWebSocketProtocol, log_config=None, lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.005)
        try:
            yield f"ws://127.0.0.1:{port}/"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


async def test_the_protocol_offers_send_many_and_sends_one_text_message_per_item() -> None:
    offered: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        offered.append(SEND_MANY in scope["extensions"])
        await send({"type": "websocket.send", SEND_MANY: ['{"n":1}', '{"n":2}', "ü" * 70_000]})
        await send({"type": "websocket.send", "text": "plain"})
        await send({"type": "websocket.close", "code": 1000})

    async with _serve(app) as url, websockets.connect(url, max_size=None) as ws:
        got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(4)]
    assert offered == [True]
    assert got == ['{"n":1}', '{"n":2}', "ü" * 70_000, "plain"]


async def test_a_burst_of_writes_reaches_every_subscriber_once_in_order(db: dict[str, Any]) -> None:
    async with live_server(db) as live, contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(ws_client(live)) for _ in range(5)]
        starts = [(await client.subscribe("s", collection="posts"))["seq"] for client in clients]
        # 200 at once through a pool of 100: the default 5 s pool wait ran out on a busy machine (CI run).
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as http:
            answers = await asyncio.gather(*(http.post("/posts", json={"title": f"p{i}"}) for i in range(200)))
        assert {answer.status_code for answer in answers} == {201}
        for client, start in zip(clients, starts, strict=True):
            frames = await client.changes(200, timeout=20)
            assert [frame["seq"] for frame in frames] == list(range(start + 1, start + 201))
            assert sorted(frame["record"]["title"] for frame in frames) == sorted(f"p{i}" for i in range(200))
            assert await client.silent()


async def test_the_outbox_hands_a_frame_to_direct_only_while_its_consumer_waits_on_an_empty_queue() -> None:
    outbox = Outbox(limit=3)
    sent: list[Any] = []
    open_ = [True]

    def direct(frame: Any) -> bool:
        if open_[0]:
            sent.append(frame)
        return open_[0]

    outbox.direct = direct
    assert outbox.push({"n": 1})  # nobody waits yet: queued
    assert sent == []
    consumer = asyncio.create_task(outbox.drain(10))
    assert await consumer == [{"n": 1}]
    waiting = asyncio.create_task(outbox.drain(10))
    await asyncio.sleep(0)  # the consumer now waits on an empty queue
    assert outbox.push({"n": 2})
    assert sent == [{"n": 2}]  # sent at once, not queued
    open_[0] = False  # flow control holds writes back: queued, in order, for the consumer
    assert outbox.push({"n": 3})
    assert outbox.push({"n": 4})  # the queue is not empty: never direct, even once open again
    open_[0] = True
    assert outbox.push({"n": 5})
    assert sent == [{"n": 2}]
    assert await waiting == [{"n": 3}, {"n": 4}, {"n": 5}]
    assert outbox.push({"n": 6}) and outbox.push({"n": 7}) and outbox.push({"n": 8})
    assert not outbox.push({"n": 9})  # full: the session ends with 1013

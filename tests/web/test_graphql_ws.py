"""The ``graphql-transport-ws`` protocol at ``/graphql``, message by message, over a real socket (memory backend).

A raw WebSocket client (the ``websockets`` library) so that every message and close code can be
seen: the handshake, ping/pong, queries and mutations on the socket, a subscription stopped by the
client, and each protocol error's close code. Delivery on every backend is tests/api's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from jsonserve.gql import ws
from tests.support.live import Live, live_server

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {"posts": [{"id": 1, "title": "one", "views": 5}]}


@contextlib.asynccontextmanager
async def connect(live: Live, *, subprotocol: bool = True) -> AsyncIterator[ClientConnection]:
    url = live.url.replace("http://", "ws://", 1) + "/graphql"
    protocols = [ws.PROTOCOL] if subprotocol else None
    async with websockets.connect(url, subprotocols=protocols) as connection:  # type: ignore[arg-type]
        yield connection


async def send(connection: ClientConnection, **message: Any) -> None:
    await connection.send(orjson.dumps(message).decode())


async def recv(connection: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(connection.recv(), 5))
    return message


async def closed(connection: ClientConnection) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            await asyncio.wait_for(connection.recv(), 5)
    frame = caught.value.rcvd
    return (None, "") if frame is None else (frame.code, frame.reason)


async def ready(connection: ClientConnection, **payload: Any) -> None:
    await send(connection, type="connection_init", **({"payload": payload} if payload else {}))
    assert await recv(connection) == {"type": "connection_ack"}


async def test_queries_mutations_and_subscriptions_share_one_socket() -> None:
    async with live_server(DATA, backend="memory") as live, connect(live) as connection:
        assert connection.subprotocol == ws.PROTOCOL
        await ready(connection)
        await send(connection, type="ping")
        assert await recv(connection) == {"type": "pong"}
        await send(connection, type="subscribe", id="q", payload={"query": "{ posts { id title } postsCount }"})
        assert await recv(connection) == {
            "type": "next", "id": "q", "payload": {"data": {"posts": [{"id": "1", "title": "one"}], "postsCount": 1}},
        }  # fmt: skip
        assert await recv(connection) == {"type": "complete", "id": "q"}
        start = await live.service.storage.changes.latest()
        query = "subscription($s: Int) { postChanged(since: $s) { op seq record { title } } }"
        await send(connection, type="subscribe", id="s", payload={"query": query, "variables": {"s": start}})
        mutation = 'mutation { createPost(data: {title: "two"}) { id } }'
        await send(connection, type="subscribe", id="m", payload={"query": mutation})
        received = [await recv(connection) for _ in range(3)]  # the mutation's answer and the change, any order
        change = {"op": "CREATE", "seq": start + 1, "record": {"title": "two"}}
        assert {"type": "next", "id": "s", "payload": {"data": {"postChanged": change}}} in received
        assert {"type": "next", "id": "m", "payload": {"data": {"createPost": {"id": "2"}}}} in received
        assert {"type": "complete", "id": "m"} in received
        await send(connection, type="subscribe", id="bad", payload={"query": "{ nothing }"})
        error = await recv(connection)
        assert (error["type"], error["id"], error["payload"][0]["extensions"]["code"]) == (
            "error", "bad", "invalid_query",
        )  # fmt: skip
        await send(connection, type="complete", id="s")  # the client stops the subscription: nothing more
        async with httpx.AsyncClient(base_url=live.url) as http:
            await http.post("/posts", json={"title": "three"})
        await send(connection, type="ping")
        assert await recv(connection) == {"type": "pong"}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(connection.recv(), 0.2)


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        pytest.param(["not json"], 4400, id="not JSON"),
        pytest.param([{"type": "connection_init"}, {"type": "shout"}], 4400, id="unknown type"),
        pytest.param(
            [{"type": "connection_init"}, {"type": "subscribe", "payload": {"query": "{ x }"}}], 4400, id="no id"
        ),
        pytest.param([{"type": "connection_init"}, {"type": "subscribe", "id": "1"}], 4400, id="no query"),
        pytest.param([{"type": "subscribe", "id": "1", "payload": {"query": "{ postsCount }"}}], 4401, id="before ack"),
        pytest.param([{"type": "connection_init"}, {"type": "connection_init"}], 4429, id="two inits"),
    ],
)
async def test_a_message_that_breaks_the_protocol_closes_with_its_code(messages: list[Any], code: int) -> None:
    async with live_server(DATA, backend="memory") as live, connect(live) as connection:
        for message in messages:
            await connection.send(message if isinstance(message, str) else orjson.dumps(message).decode())
        assert (await closed(connection))[0] == code


async def test_an_id_already_running_closes_with_4409() -> None:
    query = "subscription { postChanged { op } }"
    async with live_server(DATA, backend="memory") as live, connect(live) as connection:
        await ready(connection)
        await send(connection, type="subscribe", id="x", payload={"query": query})
        await send(connection, type="subscribe", id="x", payload={"query": query})
        assert await closed(connection) == (4409, "Subscriber for x already exists")


async def test_no_subprotocol_or_no_init_in_time_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws, "INIT_TIMEOUT", 0.1)
    async with live_server(DATA, backend="memory") as live:
        async with connect(live, subprotocol=False) as connection:
            assert (await closed(connection))[0] == 4406
        async with connect(live) as connection:
            assert await closed(connection) == (4408, "Connection initialisation timeout")


async def test_a_refused_token_in_connection_init_closes_with_4401() -> None:
    async with live_server({"users": [], "notes": []}, backend="memory", auth=True) as live:
        async with connect(live) as connection:
            await send(connection, type="connection_init", payload={"Authorization": "Bearer not-a-token"})
            code, reason = await closed(connection)
        async with connect(live) as connection:  # without a token: anonymous, and the rules decide
            await ready(connection)
    assert code == 4401 and reason

"""The ``graphql-transport-ws`` protocol at ``/graphql``, message by message, over a real socket (memory backend).

A raw WebSocket client (the ``websockets`` library) so that every message and close code can be
seen: the handshake, ping/pong, queries and mutations on the socket, a subscription stopped by the
client, and each protocol error's close code. Delivery on every backend is tests/api's.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from jsonserve.gql import ws
from jsonserve.realtime import limits as realtime_limits
from tests.support.live import Live, live_server

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {"posts": [{"id": 1, "title": "one", "views": 5}]}


@contextlib.asynccontextmanager
async def connect(live: Live, *, subprotocol: bool = True, slow: bool = False) -> AsyncIterator[ClientConnection]:
    """A client of ``/graphql``; ``slow``: one with a tiny receive buffer that reads nothing unless asked."""
    url = live.url.replace("http://", "ws://", 1) + "/graphql"
    protocols = [ws.PROTOCOL] if subprotocol else None
    options: dict[str, Any] = {}
    if slow:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: caps the TCP window
        sock.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
        options.update(sock=sock, max_queue=1)
    async with websockets.connect(url, subprotocols=protocols, **options) as connection:  # type: ignore[arg-type]
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


async def test_operations_beyond_the_rate_limit_are_refused_and_the_socket_stays() -> None:
    async with live_server(DATA, backend="memory", rate_limit="3/minute") as live, connect(live) as connection:
        await ready(connection)
        codes = []
        for n in range(5):
            await send(connection, type="subscribe", id=f"q{n}", payload={"query": "{ postsCount }"})
            answer = await recv(connection)
            if answer["type"] == "next":
                assert await recv(connection) == {"type": "complete", "id": f"q{n}"}
                codes.append("ok")
            else:
                assert answer["type"] == "error", answer
                codes.append(answer["payload"][0]["extensions"]["code"])
        # The upgrade was the client's first request of the three; each operation counts as one more.
        assert codes == ["ok", "ok", "too_many_requests", "too_many_requests", "too_many_requests"], codes
        await send(connection, type="ping")
        assert await recv(connection) == {"type": "pong"}


async def test_a_subscriber_that_cannot_keep_up_is_closed_with_1013() -> None:
    async with (
        live_server(DATA, backend="memory", realtime_send_queue=10) as live,
        connect(live, slow=True) as slow,
        connect(live) as fast,
    ):
        for connection in (slow, fast):
            await ready(connection)
            await send(
                connection,
                type="subscribe",
                id="s",
                payload={"query": "subscription { postChanged { seq record { title } } }"},
            )
        await asyncio.sleep(0.2)  # both subscriptions are followed

        async def read_fast() -> list[int]:
            return [(await recv(fast))["payload"]["data"]["postChanged"]["seq"] for _ in range(200)]

        reading = asyncio.create_task(read_fast())
        for n in range(200):  # 200 x 100 KB, incompressible: more than a 4 KB TCP window's buffers hold
            await live.service.create("posts", {"title": secrets.token_hex(50_000), "n": n})
            await asyncio.sleep(0.001)
        seen = await reading
        assert seen == sorted(seen) and len(set(seen)) == 200, "the fast subscriber got every change, in order"
        with pytest.raises(ConnectionClosed) as caught:
            while True:
                await asyncio.wait_for(slow.recv(), 10)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1013, caught.value.rcvd


async def test_a_subscription_the_rules_refuse_is_an_error_on_that_operation(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps({"secrets": {"read": "admin", "write": "admin"}}))
    data: dict[str, Any] = {"users": [], "secrets": [{"id": 1, "value": "42"}], "posts": []}
    async with live_server(data, backend="memory", auth=True, rules_file=rules) as live, connect(live) as connection:
        await ready(connection)  # no token: anonymous, as GET /secrets without one (401)
        await send(connection, type="subscribe", id="s", payload={"query": "subscription { secretChanged { op } }"})
        refused = await recv(connection)
        assert refused["type"] == "error" and refused["id"] == "s", refused
        assert refused["payload"][0]["extensions"]["code"] == "unauthorized", refused
        await send(connection, type="ping")
        assert await recv(connection) == {"type": "pong"}, "the connection stays after a refused subscription"


async def test_a_connection_whose_token_is_revoked_is_closed_with_4401(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime_limits, "DEFAULT_RECHECK", 0.2)
    data: dict[str, Any] = {"users": [], "posts": []}
    async with live_server(data, backend="memory", auth=True) as live, httpx.AsyncClient(base_url=live.url) as http:
        body = {"email": "ada@example.com", "password": "ada-password"}
        token = (await http.post("/register", json=body)).json()["accessToken"]
        async with connect(live) as connection:
            await ready(connection, Authorization=f"Bearer {token}")
            await asyncio.sleep(0.5)  # rechecks pass while the token is good
            await send(connection, type="ping")
            assert await recv(connection) == {"type": "pong"}
            logout = await http.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
            assert logout.status_code == 204
            code, reason = await closed(connection)
    assert code == 4401 and "no longer valid" in reason, (code, reason)

"""Realtime across processes and instances, on real sockets with real clients (``websockets``, httpx).

* two ``jsonserve postgresql://…`` instances: a write over REST on A reaches a subscriber on B, in
  ``seq`` order, once; a channel message published on A reaches a subscriber on B (PostgreSQL NOTIFY);
* ``--workers 2`` on SQLite and on PostgreSQL: subscribers are opened until both workers hold some
  (which worker holds a connection is read from ``/proc``), writes go over fresh connections (so both
  workers write): every subscriber receives every change, in order, once. On PostgreSQL a channel
  message crosses the workers; on SQLite without ``--redis`` the server warns that channels stay per
  worker;
* two SQLite instances (each its own file) with ``--redis``: a channel message crosses through Redis;
* ``--redis`` naming a Redis that does not answer: the server refuses to start, in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.reliability.helpers import start
from tests.support.redis import require_redis
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

POSTGRES_PREFIX = "jsonserve_rtx"
WRITES = 10


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/realtime"


@contextlib.contextmanager
def running(args: list[str], folder: Path) -> Iterator[Server]:
    """A server (with ``--workers``, its supervisor) stopped by SIGTERM, and any worker left by SIGKILL."""
    server = start([*args, "--no-static"], folder)
    try:
        yield server
    finally:
        workers = children(server.process.pid)
        server.stop()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (uvicorn's workers)."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def holder(client_port: int, server_port: int, workers: list[int]) -> int | None:
    """The worker whose socket is the server end of the client connection from ``client_port``."""
    wanted = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            inode = fields[9]
    if inode is None:
        return None
    return next((pid for pid in workers if inode in socket_inodes(pid)), None)


async def subscribe(server: Server, *, channel: str | None = None) -> ClientConnection:
    """A WebSocket subscribed to ``posts`` (and ``channel``), once the server said so."""
    ws = await connect(ws_url(server))
    await ws.send(json.dumps({"type": "subscribe", "id": "posts", "collection": "posts"}))
    if channel:
        await ws.send(json.dumps({"type": "subscribe", "id": "chat", "channel": channel}))
    for _ in range(2 if channel else 1):
        assert (await frame(ws))["type"] == "subscribed"
    return ws


async def frame(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        return dict(json.loads(await ws.recv()))


async def changes(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` frames."""
    return [await frame(ws) for _ in range(count)]


async def no_more(connections: list[ClientConnection]) -> None:
    """Nothing else arrives on any of ``connections`` for half a second (no duplicate, nothing extra)."""

    async def quiet(ws: ClientConnection) -> None:
        with contextlib.suppress(TimeoutError):
            extra = await frame(ws, timeout=0.5)
            raise AssertionError(f"an extra frame: {extra}")

    await asyncio.gather(*(quiet(ws) for ws in connections))


def write_posts(server: Server, count: int, tag: str) -> list[Any]:
    """``count`` POSTs, each over a fresh connection (with ``--workers`` they spread); the created ids."""
    ids = []
    for n in range(count):
        with httpx.Client(base_url=server.url, timeout=10) as http:
            response = http.post("/posts", json={"title": f"{tag}-{n}"})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


def assert_in_order(received: list[dict[str, Any]], ids: list[Any]) -> None:
    assert [item["type"] for item in received] == ["change"] * len(ids)
    assert [item["id"] for item in received] == ids
    seqs = [item["seq"] for item in received]
    assert seqs == sorted(set(seqs)), seqs


async def publish_and_receive(sender: ClientConnection, receivers: list[ClientConnection], data: Any) -> None:
    await sender.send(json.dumps({"type": "publish", "channel": "chat:lobby", "data": data}))
    for ws in receivers:
        got = await frame(ws)
        assert (got["type"], got["channel"], got["data"]) == ("message", "chat:lobby", data)


# -- two instances on one PostgreSQL -----------------------------------------------------------------------


def test_two_instances_on_one_postgresql(postgres_database: str, tmp_path: Path) -> None:
    with running([postgres_database], tmp_path) as a, running([postgres_database], tmp_path) as b:

        async def scenario() -> None:
            on_b = await subscribe(b, channel="chat:lobby")
            on_a = await subscribe(a, channel="chat:lobby")
            try:
                ids = await asyncio.to_thread(write_posts, a, WRITES, "a")
                assert_in_order(await changes(on_b, WRITES), ids)
                assert_in_order(await changes(on_a, WRITES), ids)
                await no_more([on_a, on_b])
                await publish_and_receive(on_a, [on_b, on_a], {"text": "from A"})
                await publish_and_receive(on_b, [on_a, on_b], {"text": "x" * 10_000})  # over NOTIFY's 8000 bytes
            finally:
                await on_a.close()
                await on_b.close()

        asyncio.run(scenario())


# -- --workers 2 -------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def on_both_workers(server: Server, channel: str | None) -> AsyncIterator[dict[int, list[ClientConnection]]]:
    """Subscribers opened until two workers hold at least two each; by worker pid.

    (The supervisor has other children too, e.g. multiprocessing's resource tracker: they hold none.)
    """
    held: dict[int, list[ClientConnection]] = {}
    opened: list[ClientConnection] = []
    try:
        while sum(len(connections) >= 2 for connections in held.values()) < 2:
            assert len(opened) < 60, (
                f"60 connections and still not two workers with two: { {k: len(v) for k, v in held.items()} }"
            )
            ws = await subscribe(server, channel=channel)
            opened.append(ws)
            pid = holder(ws.local_address[1], server.port, children(server.process.pid))
            assert pid is not None, "no worker holds the connection"
            held.setdefault(pid, []).append(ws)
        yield held
    finally:
        for ws in opened:
            await ws.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_workers_deliver_every_change_to_every_subscriber(kind: str, postgres_database: str, tmp_path: Path) -> None:
    source = postgres_database if kind == "postgres" else "app.db"
    with running([source, "--workers", "2"], tmp_path) as server:

        async def scenario() -> None:
            channel = "chat:lobby" if kind == "postgres" else None
            async with on_both_workers(server, channel) as held:
                ids = await asyncio.to_thread(write_posts, server, WRITES, kind)
                everyone = [ws for connections in held.values() for ws in connections]
                for received in await asyncio.gather(*(changes(ws, WRITES) for ws in everyone)):
                    assert_in_order(received, ids)
                await no_more(everyone)
                if channel:  # PostgreSQL carries channel messages between the workers too
                    first, second = held.values()
                    await publish_and_receive(first[0], everyone, {"text": "across workers"})
                    await publish_and_receive(second[0], everyone, {"text": "and back"})

        asyncio.run(scenario())
        if kind == "sqlite":
            assert "realtime channels stay per worker on SQLite" in server.output()
    assert "Traceback" not in server.output(), server.output()[-3000:]


# -- Redis -------------------------------------------------------------------------------------------------


def test_redis_carries_channel_messages_between_instances(tmp_path: Path) -> None:
    url = require_redis()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running(["app.db", "--redis", url], tmp_path / "a") as a,
        running(["app.db", "--redis", url], tmp_path / "b") as b,
    ):

        async def scenario() -> None:
            on_a = await subscribe(a, channel="chat:lobby")
            on_b = await subscribe(b, channel="chat:lobby")
            try:
                await publish_and_receive(on_a, [on_b, on_a], {"text": "through Redis"})
                with httpx.Client(base_url=b.url, timeout=10) as http:
                    assert http.post("/realtime/channels/chat:lobby", json={"n": 2}).status_code == 202
                for ws in (on_a, on_b):
                    assert (await frame(ws))["data"] == {"n": 2}
            finally:
                await on_a.close()
                await on_b.close()

        asyncio.run(scenario())

"""Realtime under load: 8 writers x 250 writes while 20 WebSocket subscribers listen, on every backend.

Every subscriber sees all 2,000 changes, each once, in ascending ``seq`` order (the feed puts the
writers' publishes back in order), on each storage backend: memory, the JSON file (group commit),
SQLite (group commit) and PostgreSQL (whose concurrent transactions may commit out of ``seq`` order).
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from jsonserve import testing
from tests.api.conftest import require_postgres
from tests.support.live import Client, live_server, ws_client

pytestmark = pytest.mark.anyio

WRITERS, WRITES, SUBSCRIBERS = 8, 250, 20


async def collect(client: Client, count: int) -> list[int]:
    seqs: list[int] = []
    while len(seqs) < count:
        frame = await client.recv(timeout=30)
        assert frame["type"] == "change", frame
        seqs.append(frame["seq"])
    return seqs


@pytest.mark.parametrize("backend", testing.BACKENDS)
async def test_every_subscriber_sees_every_write_once_in_order(backend: str) -> None:
    if backend == "postgres":
        require_postgres()
    async with live_server({"posts": []}, backend=backend) as live, contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(ws_client(live)) for _ in range(SUBSCRIBERS)]
        start = [(await client.subscribe("s", collection="posts"))["seq"] for client in clients]
        readers = [asyncio.create_task(collect(client, WRITERS * WRITES)) for client in clients]

        async def writer(number: int) -> None:
            for n in range(WRITES):
                await live.service.create("posts", {"writer": number, "n": n})

        await asyncio.gather(*(writer(number) for number in range(WRITERS)))
        seen = await asyncio.gather(*readers)
    expected = list(range(start[0] + 1, start[0] + WRITERS * WRITES + 1))
    assert all(first == start[0] for first in start)
    assert all(seqs == expected for seqs in seen)  # all of them, once each, ascending

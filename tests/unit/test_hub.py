"""The hub: changes fanned out in-process with bounded queues, channel messages through a backend."""

from __future__ import annotations

import asyncio

import pytest

from jsonserve.realtime.backend import MemoryHubBackend
from jsonserve.realtime.hub import Hub
from jsonserve.storage.changelog import Change

pytestmark = pytest.mark.anyio


def change(seq: int, collection: str = "posts") -> Change:
    return Change(collection, "created", seq, {"id": seq}, None, seq, 0.0)


async def drain(subscription: object, count: int) -> list[object]:
    received = []
    async for item in subscription:  # type: ignore[attr-defined]
        received.append(item)
        if len(received) == count:
            break
    return received


async def test_changes_reach_each_subscriber_its_predicate_accepts() -> None:
    hub = Hub()
    everything = hub.subscribe()
    comments = hub.subscribe(lambda c: c.collection == "comments")
    for item in (change(1), change(2, "comments"), change(3)):
        hub.publish(item)
    assert [c.seq for c in await drain(everything, 3)] == [1, 2, 3]  # type: ignore[attr-defined]
    assert [c.seq for c in await drain(comments, 1)] == [2]  # type: ignore[attr-defined]
    assert hub.published == 3


async def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for() -> None:
    hub = Hub(queue_limit=2)
    slow, other = hub.subscribe(), hub.subscribe()
    for seq in (1, 2, 3):
        hub.publish(change(seq))  # never blocks, however full a queue is
    assert slow.overflowed and other.overflowed
    # Closed: its iteration ends after what is still queued (the oldest made room for the end).
    assert [c.seq for c in await asyncio.wait_for(drain(slow, 10), 1)] == [2]  # type: ignore[attr-defined]
    hub.publish(change(4))
    assert hub.published == 4


async def test_closed_subscription_receives_nothing_more() -> None:
    hub = Hub()
    subscription = hub.subscribe()
    subscription.close()
    hub.publish(change(1))
    assert await drain(subscription, 1) == []


async def test_channel_messages_reach_only_their_channels_listeners() -> None:
    async with Hub() as hub:
        lobby, lobby_too, news = (
            await hub.listen("chat:lobby"),
            await hub.listen("chat:lobby"),
            await hub.listen("news"),
        )
        await hub.send("chat:lobby", b"hello")
        await hub.send("nobody-listens", b"lost")
        await hub.send("news", b"extra")
        assert await asyncio.wait_for(drain(lobby, 1), 1) == [b"hello"]
        assert await asyncio.wait_for(drain(lobby_too, 1), 1) == [b"hello"]
        assert await asyncio.wait_for(drain(news, 1), 1) == [b"extra"]


async def test_stopping_the_hub_ends_every_listener() -> None:
    hub = Hub()
    await hub.start()
    listener = await hub.listen("c")
    waiting = asyncio.create_task(drain(listener, 1))
    await asyncio.sleep(0)
    await hub.stop()
    assert await asyncio.wait_for(waiting, 1) == []
    await hub.stop()  # idempotent


async def test_memory_backend_delivers_subscribed_channels_in_order_until_stopped() -> None:
    backend = MemoryHubBackend()
    await backend.start()
    await backend.subscribe(["a", "b"])
    await backend.publish("a", b"1")
    await backend.publish("c", b"not subscribed")
    await backend.publish("b", b"2")
    await backend.unsubscribe(["b"])
    await backend.publish("b", b"after unsubscribe")
    await backend.stop()
    assert [event async for event in backend.events()] == [("a", b"1"), ("b", b"2")]

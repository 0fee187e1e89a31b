"""``RingChangeLog``: the in-memory change log of the file backends (order, limit, retention, floor)."""

from __future__ import annotations

import pytest

from jsonserve.errors import ResyncRequired
from jsonserve.storage.changelog import Change, Retention, RingChangeLog

pytestmark = pytest.mark.anyio


class Clock:
    """Time that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def change(seq: int, at: float = 1000.0) -> Change:
    return Change("posts", "created", seq, {"id": seq}, None, seq, at, f"user-{seq}")


def seqs(changes: list[Change]) -> list[int]:
    return [c.seq for c in changes]


def test_since_gives_the_changes_after_a_seq_oldest_first() -> None:
    log = RingChangeLog()
    log.add([change(1), change(2)])
    log.add([change(3)])
    assert seqs(log.retained(0)) == [1, 2, 3]
    assert seqs(log.retained(1)) == [2, 3]
    assert log.retained(3) == []
    assert log.retained(2) == [change(3)]  # the values themselves: record, previous and actor kept


def test_limit_keeps_the_oldest_of_what_follows() -> None:
    log = RingChangeLog()
    log.add([change(n) for n in range(1, 11)])
    assert seqs(log.retained(0, limit=3)) == [1, 2, 3]
    assert seqs(log.retained(8, limit=3)) == [9, 10]


async def test_the_async_interface_is_the_same_as_the_sync_one() -> None:
    log = RingChangeLog(floor=4)
    assert await log.latest() == 4
    await log.append([change(5), change(6)])
    assert await log.latest() == 6
    assert seqs(await log.since(4)) == [5, 6]
    assert seqs(await log.since(4, limit=1)) == [5]
    with pytest.raises(ResyncRequired):
        await log.since(3)


def test_old_changes_beyond_the_count_are_dropped_and_raise_the_floor() -> None:
    clock = Clock()
    log = RingChangeLog(Retention(changes=3, seconds=60, ceiling=100), clock=clock)
    log.add([change(n, at=clock.now) for n in range(1, 6)])
    assert seqs(log.retained(0)) == [1, 2, 3, 4, 5]  # young: all kept, however many
    clock.now += 61
    log.add([change(6, at=clock.now)])
    assert log.floor == 3
    assert seqs(log.retained(3)) == [4, 5, 6]  # the newest 3 survive their age
    with pytest.raises(ResyncRequired) as raised:
        log.retained(2)
    assert raised.value.latest == 6
    assert raised.value.code == "resync_required"


def test_changes_younger_than_the_age_are_kept_beyond_the_count() -> None:
    clock = Clock()
    log = RingChangeLog(Retention(changes=2, seconds=60, ceiling=100), clock=clock)
    log.add([change(1, at=clock.now), change(2, at=clock.now)])
    clock.now += 30
    log.add([change(3, at=clock.now), change(4, at=clock.now)])
    clock.now += 31  # 1 and 2 are now 61 s old, 3 and 4 only 31 s
    log.add([change(5, at=clock.now)])
    assert log.floor == 2
    assert seqs(log.retained(2)) == [3, 4, 5]


def test_the_ceiling_bounds_the_ring_whatever_the_age() -> None:
    clock = Clock()
    log = RingChangeLog(Retention(changes=2, seconds=3600, ceiling=4), clock=clock)
    log.add([change(n, at=clock.now) for n in range(1, 8)])
    assert log.floor == 3
    assert seqs(log.retained(3)) == [4, 5, 6, 7]


def test_the_floor_is_the_oldest_seq_a_reader_may_resume_from() -> None:
    log = RingChangeLog(floor=10)  # a JSON file reopened at seq 10: what came before is not retained
    assert log.newest() == 10
    assert log.retained(10) == []
    with pytest.raises(ResyncRequired, match="seq 25 is ahead") as ahead:  # the store restarted from scratch
        log.retained(25)
    assert ahead.value.latest == 10
    with pytest.raises(ResyncRequired, match="seq 9 are no longer retained") as raised:
        log.retained(9)
    assert raised.value.latest == 10
    log.add([change(11)])
    assert seqs(log.retained(10)) == [11]
    assert log.newest() == 11

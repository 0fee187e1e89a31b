"""SQLite's WAL checkpoints run beside the group commit, not inside its commits (``sql/checkpoint.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jsonserve.errors import StorageUnavailable
from jsonserve.storage.sql.checkpoint import Checkpointer
from jsonserve.storage.sql.sqlite import SqliteStorage

pytestmark = pytest.mark.anyio

T = TypeVar("T")
DATA = {"posts": [{"id": 1, "title": "first"}]}


async def test_commits_leave_the_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    store = SqliteStorage(str(path), seed=DATA)
    await store.open()
    assert store.checkpointer is not None
    store.checkpointer.every = 0.0  # after every batch that finds none running
    try:
        for n in range(20):
            await store.create("posts", {"title": f"post {n}"})
        with store.group_engine.connect() as connection:
            autocheckpoint = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    finally:
        await store.aclose()
    assert autocheckpoint == 0
    assert store.checkpointer.checkpoints >= 1
    with sqlite3.connect(path) as check:  # every write is there, whatever the checkpoints copied
        assert check.execute("SELECT count(*) FROM jsonserve_records WHERE collection = 'posts'").fetchone() == (21,)


async def test_the_last_commits_of_a_burst_are_checkpointed_too(tmp_path: Path) -> None:
    """A commit within ``every`` of the last checkpoint's start gets one later, not at the next write."""
    path = tmp_path / "app.db"
    store = SqliteStorage(str(path), seed=DATA)
    await store.open()
    assert store.checkpointer is not None
    alone = tmp_path / "alone.db"

    def copied() -> Any:
        """The posts the database file alone holds, without its log: what the checkpoints copied."""
        shutil.copyfile(path, alone)
        with contextlib.closing(sqlite3.connect(alone)) as check:
            return check.execute("SELECT count(*) FROM jsonserve_records WHERE collection = 'posts'").fetchone()

    try:
        for n in range(10):  # the first starts a checkpoint at once; the others fall within a second of it
            await store.create("posts", {"title": f"post {n}"})
        count = await eventually(copied, (11,))
    finally:
        await store.aclose()
    assert count == (11,)
    assert store.checkpointer.checkpoints == 2  # the first commit's and one trailing, not one per commit


async def eventually(probe: Callable[[], T], wanted: T, timeout: float = 5.0) -> T:
    """``probe()`` once it gives ``wanted``, or what it gives at the deadline."""
    deadline = time.monotonic() + timeout
    while (found := probe()) != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return found


async def test_a_failed_checkpoint_is_reported_and_later_ones_still_run(tmp_path: Path) -> None:
    errors: list[sqlite3.Error] = []
    checkpointer = Checkpointer(tmp_path, every=0.0, failed=errors.append)  # a folder: SQLite cannot open it
    checkpointer.after_commit()
    await eventually(lambda: len(errors), 1)
    checkpointer.after_commit()
    await eventually(lambda: len(errors), 2)
    await checkpointer.close()
    assert len(errors) == 2
    assert all(getattr(error, "sqlite_errorname", "") == "SQLITE_CANTOPEN" for error in errors)


async def test_an_io_error_in_a_checkpoint_refuses_writes_until_restart(tmp_path: Path) -> None:
    """As after a commit's I/O error (the real fsync failure: tests/reliability/test_io_faults.py)."""
    store = SqliteStorage(str(tmp_path / "app.db"), seed=DATA)
    await store.open()
    try:
        busy = sqlite3.OperationalError("database is locked")
        busy.sqlite_errorcode, busy.sqlite_errorname = 5, "SQLITE_BUSY"
        store._checkpoint_failed(busy)
        assert (await store.create("posts", {"title": "after a busy checkpoint"})).id == 2
        fsync = sqlite3.OperationalError("disk I/O error")
        fsync.sqlite_errorcode, fsync.sqlite_errorname = 1034, "SQLITE_IOERR_FSYNC"
        store._checkpoint_failed(fsync)
        with pytest.raises(StorageUnavailable, match=r"refused until restart.*SQLITE_IOERR_FSYNC.*WAL checkpoint"):
            await store.create("posts", {"title": "after a failed fsync"})
        assert await store.dump() == {"posts": [DATA["posts"][0], {"title": "after a busy checkpoint", "id": 2}]}
    finally:
        await store.aclose()

"""SQLite's WAL checkpoints run beside the group commit, not inside its commits (``sql/checkpoint.py``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jsonserve.storage.sql.sqlite import SqliteStorage

pytestmark = pytest.mark.anyio

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

"""A ``jsonfile`` store closed cleanly leaves the user's file alone in its folder (issue 13, point 12).

The journal is retired only when the last rewrite of the file holds every write; its numbers (the
change ``seq``, which only grows, and the id high-water marks, so that a deleted maximum id is never
handed out again) move into the file's ``user.jsonserve`` attribute and come back at the next open.
Where the attribute cannot be written, or the last rewrite failed, the journal stays.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from jsonserve.errors import StorageLocked
from jsonserve.storage.base import Dependent
from jsonserve.storage.file import atomic
from jsonserve.storage.file.document import read_document
from jsonserve.storage.file.journal import lock_for, read_journal
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.file.meta import ATTRIBUTE, Meta, read_meta

pytestmark = pytest.mark.anyio


def no_dependents(_collection: str) -> list[Dependent]:
    return []


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "db.json"
    path.write_text(json.dumps({"posts": [{"id": 1, "title": "one"}]}))
    return path


async def write_some(path: Path) -> JsonFileStorage:
    """Open, create posts 2 and 3, delete 3 (the maximum), and return the open store (seq 3)."""
    storage = JsonFileStorage(path)
    await storage.open()
    for title in ("two", "three"):
        await storage.create("posts", {"title": title})
    await storage.delete("posts", "3", no_dependents)
    return storage


def folder(path: Path) -> list[str]:
    return sorted(entry.name for entry in path.parent.iterdir())


async def test_a_clean_close_leaves_only_the_file_and_keeps_its_numbers(data: Path) -> None:
    storage = await write_some(data)
    assert folder(data) == [".db.json.journal", ".db.json.lock", "db.json"]
    await storage.aclose()
    assert folder(data) == ["db.json"]
    assert json.loads(data.read_text()) == {"posts": [{"id": 1, "title": "one"}, {"title": "two", "id": 2}]}
    assert read_meta(data) == Meta(3, {"posts": 3})

    again = JsonFileStorage(data)
    await again.open()
    try:
        assert again.seq == 3, "seq only grows, across restarts too"
        created = await again.create("posts", {"title": "four"})
        assert created.id == 4, "the deleted maximum (3) is not handed out again"
        assert created.seq == 4
    finally:
        await again.aclose()
    assert folder(data) == ["db.json"]
    assert read_meta(data) == Meta(4, {"posts": 4})


async def test_a_store_opened_and_closed_without_writes_leaves_only_the_file(data: Path) -> None:
    before = data.read_bytes()
    storage = JsonFileStorage(data)
    await storage.open()
    await storage.aclose()
    assert folder(data) == ["db.json"]
    assert data.read_bytes() == before


async def test_without_extended_attributes_the_journal_keeps_the_numbers(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*args: object) -> None:
        raise OSError(errno.ENOTSUP, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", unsupported)
    storage = await write_some(data)
    await storage.aclose()
    assert folder(data) == [".db.json.journal", "db.json"], "the lock file goes; the journal keeps the numbers"
    journal = read_journal(data.with_name(".db.json.journal"))
    assert (journal.seq, journal.high, journal.commits) == (3, {"posts": 3}, [])
    again = JsonFileStorage(data)
    await again.open()
    try:
        assert (await again.create("posts", {"title": "four"})).id == 4
    finally:
        await again.aclose()


async def test_when_the_last_rewrite_fails_the_journal_stays_and_is_replayed(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = await write_some(data)
    original = atomic.atomic_write

    def full_disk(path: Path, *args: object, **kwargs: object) -> object:
        if path == data:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("jsonserve.storage.file.jsonfile.atomic_write", full_disk)
    await storage.create("posts", {"title": "unsaved"})
    await storage.aclose()
    assert ".db.json.journal" in folder(data)
    assert "unsaved" not in data.read_text()
    monkeypatch.undo()

    again = JsonFileStorage(data)
    await again.open()  # replays the journal into the file
    try:
        posts: Any = (await again.dump())["posts"]
        assert [post["title"] for post in posts] == ["one", "two", "unsaved"]
    finally:
        await again.aclose()
    assert folder(data) == ["db.json"]
    assert "unsaved" in data.read_text()


async def test_a_journal_and_an_attribute_together_take_the_larger_numbers(data: Path) -> None:
    """A crash between writing the attribute and removing the journal leaves both (they agree); any mix is safe."""
    os.setxattr(data, ATTRIBUTE, b'{"version": 1, "seq": 10, "high": {"posts": 2, "gone": 7}}')
    data.with_name(".db.json.journal").write_bytes(b'{"meta": {"version": 1, "seq": 4, "high": {"posts": 9}}}\n')
    storage = JsonFileStorage(data)
    await storage.open()
    try:
        assert storage.seq == 10
        assert (await storage.create("posts", {"title": "next"})).id == 10
    finally:
        await storage.aclose()


async def test_a_damaged_attribute_is_ignored(data: Path, caplog: pytest.LogCaptureFixture) -> None:
    os.setxattr(data, ATTRIBUTE, b"{not json")
    storage = JsonFileStorage(data)
    await storage.open()
    try:
        assert storage.seq == 0
        assert (await storage.create("posts", {"title": "two"})).id == 2
    finally:
        await storage.aclose()
    assert "damaged" in caplog.text
    assert read_meta(data) == Meta(1, {"posts": 2})


async def test_a_store_that_failed_to_open_leaves_its_journal_alone(data: Path) -> None:
    journal = data.with_name(".db.json.journal")
    journal.write_bytes(b'{"meta": {"version": 1, "seq": 4, "high": {}}}\n{garbage}\n{"seq": 5, "ops": []}\n')
    storage = JsonFileStorage(data)
    with pytest.raises(Exception, match="damaged at line 2"):
        await storage.open()
    await storage.aclose()
    assert journal.exists()
    assert folder(data) == [".db.json.journal", "db.json"]


async def test_an_open_cancelled_while_loading_keeps_the_lock_until_the_load_ends(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C while a large file loads cancels the open, not its thread; the lock is held until the thread ends.

    Released earlier, a second server could start and then have its journal replaced by the first
    one's thread. The journal the thread created is removed again: the folder is as it was.
    """
    started, release, ended = threading.Event(), threading.Event(), threading.Event()

    def slow_read(path: Path) -> Any:
        started.set()
        release.wait(10)
        try:
            return read_document(path)
        finally:
            ended.set()

    monkeypatch.setattr("jsonserve.storage.file.jsonfile.read_document", slow_read)
    storage = JsonFileStorage(data)
    opening = asyncio.ensure_future(storage.open())
    await asyncio.to_thread(started.wait, 10)
    opening.cancel()
    await asyncio.sleep(0.05)
    assert not opening.done(), "the open must wait for its loading thread"
    with pytest.raises(StorageLocked):
        lock_for(data).acquire()  # still held
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await opening
    assert ended.is_set()
    assert folder(data) == ["db.json"]
    second = lock_for(data)
    second.acquire()
    second.release()

"""The binary snapshot of a large JSON file (issue 19, point 4): used when it matches, never when stale.

``storage/file/snapshot.py`` keeps a ``marshal`` copy of a large file's document in the user's cache
folder, keyed by the file's path, device, inode, size, mtime and ctime. These tests shrink the size
threshold and the settling time so that a small file qualifies, and point the cache at a temporary
folder. A snapshot whose content differs from the file's (but whose key matches) shows which one a
store read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from jsonserve.storage.file import snapshot
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.file.meta import Meta, write_meta

pytestmark = pytest.mark.anyio
DOCUMENT = {"posts": [{"id": 1, "title": "from the file"}], "profile": {"name": "x"}}


@pytest.fixture(autouse=True)
def small_and_settled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Snapshots for any file, no settling wait, and a cache folder of the test's own."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(snapshot, "MIN_SIZE", 1)
    monkeypatch.setattr(snapshot, "SETTLE", 0.0)
    return cache


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "db.json"
    path.write_text(json.dumps(DOCUMENT))
    return path


def planted(path: Path, document: dict[str, Any]) -> Path:
    """A snapshot of ``document`` keyed to ``path`` as it is now (as if ``path`` held ``document``)."""
    target = snapshot.snapshot_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(snapshot.encode(path, path.stat(), document))
    target.chmod(0o600)
    return target


async def titles(path: Path) -> list[str]:
    storage = JsonFileStorage(path)
    await storage.open()
    try:
        document: Any = storage.document()
        return [record["title"] for record in document["posts"]]
    finally:
        await storage.aclose()


def test_write_makes_a_snapshot_that_loads_as_the_document(data: Path) -> None:
    assert snapshot.load(data) is None
    assert snapshot.write(data)
    assert snapshot.load(data) == DOCUMENT
    assert snapshot.snapshot_path(data).parent == Path(os.environ["XDG_CACHE_HOME"]) / "jsonserve" / "snapshots"
    assert sorted(p.name for p in data.parent.iterdir()) == ["cache", "db.json"], "nothing beside the user's file"


def test_a_small_file_gets_no_snapshot(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "MIN_SIZE", data.stat().st_size + 1)
    assert not snapshot.write(data)
    assert not snapshot.snapshot_path(data).exists()
    assert snapshot.refresh_later(data) is None


async def test_a_matching_snapshot_is_what_a_store_loads(data: Path) -> None:
    planted(data, {"posts": [{"id": 1, "title": "from the snapshot"}]})
    assert await titles(data) == ["from the snapshot"]


def rewrite_keeping_mtime(path: Path) -> None:
    """What ``cp -p`` or ``rsync -t`` do: new content, the old modification time (ctime still moves)."""
    mtime = path.stat().st_mtime_ns
    path.write_text(path.read_text().replace("file", "copy"))
    os.utime(path, ns=(mtime, mtime))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda path: path.write_text(path.read_text().replace("file", "edit")), id="same-size-edit"),
        pytest.param(lambda path: path.write_text(json.dumps({"posts": [{"id": 1, "title": "new"}]})), id="rewritten"),
        pytest.param(lambda path: os.utime(path, ns=(1, path.stat().st_mtime_ns)), id="touched-atime-only-kept"),
        pytest.param(lambda path: os.chmod(path, 0o644), id="chmod-changes-ctime"),
        pytest.param(lambda path: rewrite_keeping_mtime(path), id="mtime-set-back"),
    ],
)
async def test_a_snapshot_of_an_earlier_version_is_never_used(data: Path, change: Any) -> None:
    planted(data, {"posts": [{"id": 1, "title": "from the snapshot"}]})
    time.sleep(0.01)  # a later timestamp tick
    before = data.stat()
    change(data)
    after = data.stat()
    kept = (before.st_ino, before.st_mtime_ns, before.st_ctime_ns) == (
        after.st_ino,
        after.st_mtime_ns,
        after.st_ctime_ns,
    )
    expected = "from the snapshot" if kept else json.loads(data.read_text())["posts"][0]["title"]
    assert await titles(data) == [expected]
    assert kept == (snapshot.load(data) is not None)


async def test_a_copy_of_the_file_elsewhere_does_not_use_its_snapshot(data: Path, tmp_path: Path) -> None:
    planted(data, {"posts": [{"id": 1, "title": "from the snapshot"}]})
    other = tmp_path / "other.json"
    other.write_bytes(data.read_bytes())
    snapshot.snapshot_path(other).write_bytes(snapshot.snapshot_path(data).read_bytes())  # another file's
    snapshot.snapshot_path(other).chmod(0o600)
    assert await titles(other) == ["from the file"]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[: len(raw) // 2], id="truncated"),
        pytest.param(lambda raw: raw[:-3], id="short-by-three"),
        pytest.param(lambda raw: b"garbage" * 100, id="garbage"),
        pytest.param(lambda raw: b"", id="empty"),
        pytest.param(lambda raw: snapshot.MAGIC + b"\xff" * 64, id="bad-header"),
        pytest.param(lambda raw: raw.replace(b"from the snapshot", b"from\x00the\xffsnap"), id="bad-body"),
        pytest.param(lambda raw: raw.replace(snapshot.MAGIC, b"jsonserve-snapshot\x02"), id="other-format"),
    ],
)
async def test_a_damaged_or_foreign_snapshot_is_ignored(data: Path, damage: Any) -> None:
    target = planted(data, {"posts": [{"id": 1, "title": "from the snapshot"}]})
    target.write_bytes(damage(target.read_bytes()))
    assert snapshot.load(data) is None
    assert await titles(data) == ["from the file"]


async def test_a_snapshot_others_could_have_written_is_ignored(data: Path) -> None:
    target = planted(data, {"posts": [{"id": 1, "title": "from the snapshot"}]})
    target.chmod(0o666)
    assert snapshot.load(data) is None
    assert await titles(data) == ["from the file"]


async def test_writes_go_to_the_file_and_the_next_start_reads_them(data: Path) -> None:
    """A write changes the file, so the snapshot of the earlier version stops matching: nothing is lost."""
    assert snapshot.write(data)
    storage = JsonFileStorage(data)
    await storage.open()
    await storage.update("posts", "1", lambda record: {**record, "title": "written"})
    await storage.aclose()
    assert json.loads(data.read_text())["posts"][0]["title"] == "written"
    assert snapshot.load(data) is None
    assert await titles(data) == ["written"]


async def test_a_start_that_parsed_the_file_snapshots_it_in_another_process(data: Path) -> None:
    storage = JsonFileStorage(data)
    await storage.open()
    await storage.aclose()
    deadline = time.monotonic() + 60
    while snapshot.load(data) is None:
        assert time.monotonic() < deadline, "no snapshot was made"
        time.sleep(0.05)
    assert snapshot.load(data) == DOCUMENT


def test_the_snapshot_process_runs_on_its_own(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m jsonserve.storage.file.snapshot PATH``: the real thresholds (this file is too small)."""
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(data.parent / "cache"))
    subprocess.run([sys.executable, "-m", "jsonserve.storage.file.snapshot", str(data)], check=True, timeout=60)
    assert not snapshot.snapshot_path(data).exists()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity and SCHED_IDLE are Linux's")
def test_the_snapshot_process_keeps_off_the_servers_cpus() -> None:
    """A server pinned to one CPU (``taskset``) passes that on: the snapshot process moves to the others, idle class.

    With a single CPU there is nowhere to move: it stays, at idle class.
    """
    allowed = os.sched_getaffinity(0)
    pinned = min(allowed)
    code = (
        "import os\nfrom jsonserve.storage.file import snapshot\n"
        f"os.sched_setaffinity(0, {{{pinned}}})\nsnapshot._step_aside()\n"
        "print(sorted(os.sched_getaffinity(0)), os.sched_getscheduler(0) == os.SCHED_IDLE)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60).stdout
    assert out.split("] ")[0] + "]" == str(sorted(allowed - {pinned} or {pinned}))
    assert out.strip().endswith("True")


def test_keeping_the_same_attribute_does_not_change_the_file(data: Path) -> None:
    """A clean close writes the numbers' attribute; the same numbers again leave ctime (and the snapshot) be."""
    if not write_meta(data, Meta(3, {"posts": 1})):
        pytest.skip("no extended attributes here")
    before = data.stat().st_ctime_ns
    time.sleep(0.01)
    assert write_meta(data, Meta(3, {"posts": 1}))
    assert data.stat().st_ctime_ns == before


def test_a_stale_snapshot_is_not_read_past_its_header(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header is checked before the body is read: a stale snapshot of a large file costs no big read."""
    target = planted(data, {"posts": [{"id": n, "title": "x" * 100} for n in range(5_000)]})  # ~0.5 MB body
    data.write_text(json.dumps(DOCUMENT) + " ")  # the file changed: its snapshot is stale
    read: list[int] = []
    opened = Path.open

    class Counted:
        def __init__(self, file: Any) -> None:
            self.file = file

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def fileno(self) -> int:
            return int(self.file.fileno())

        def read(self, size: int = -1) -> bytes:
            chunk: bytes = self.file.read(size)
            read.append(len(chunk))
            return chunk

    def spied(self: Path, *args: Any, **kwargs: Any) -> Any:
        file = opened(self, *args, **kwargs)
        return Counted(file) if self == target else file

    monkeypatch.setattr(Path, "open", spied)
    assert snapshot.load(data) is None
    assert 0 < sum(read) < 1_000, read  # the header only, not the 0.5 MB behind it

r"""The append-only journal beside a JSON data file, and the lock that keeps one server per file.

Layout (``.db.json.journal``, one JSON object per line)::

    {"meta": {"version": 1, "seq": 120, "high": {"posts": 101}}}     # what the data file holds
    {"seq": 121, "ops": [["put", "posts", {...}]]}                    # one line per committed write
    {"seq": 123, "ops": [["del", "posts", 7], ["put", "comments", {...}]]}

A line is one atomic commit: at start a torn last line (a crash mid-append, never acknowledged) is
dropped. Lines whose seq is not above the meta seq are already in the data file and are skipped.

Example:
    >>> encode_line(3, [("put", "posts", {"id": 1})])
    b'{"seq":3,"ops":[["put","posts",{"id":1}]]}\\n'
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from jsonserve._types import JSONValue
from jsonserve.errors import StorageCorrupt, StorageLocked
from jsonserve.storage.file.atomic import atomic_write, fsync_dir

Op = tuple[str, str, JSONValue]
VERSION = 1


@dataclass
class Replay:
    """What a journal holds: the compacted seq, id high-water marks, and the commits after it."""

    seq: int = 0
    high: dict[str, int] = field(default_factory=dict)
    commits: list[tuple[int, list[Op]]] = field(default_factory=list)
    torn: bool = False


def journal_path(data: Path) -> Path:
    """The journal beside a data file: ``.db.json.journal`` for ``db.json``."""
    return data.with_name(f".{data.name}.journal")


def lock_for(data: Path) -> FileLock:
    """The lock of a data file (``.db.json.lock``), not yet taken."""
    return FileLock(data.with_name(f".{data.name}.lock"), data)


def encode_line(seq: int, ops: Iterable[Op]) -> bytes:
    """One journal line for a commit whose last change has ``seq``."""
    return orjson.dumps({"seq": seq, "ops": [list(op) for op in ops]}) + b"\n"


def encode_meta(seq: int, high: dict[str, int]) -> bytes:
    """The first line of a fresh journal."""
    return orjson.dumps({"meta": {"version": VERSION, "seq": seq, "high": high}}) + b"\n"


def read_journal(path: Path) -> Replay:
    """Parse a journal; a missing file is an empty journal, a torn last line is dropped."""
    replay = Replay()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return replay
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for index, line in enumerate(lines):
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            if index == len(lines) - 1:
                replay.torn = True
                break
            raise StorageCorrupt(f"{path} is damaged at line {index + 1}; move it aside to start") from None
        _add_entry(replay, entry, path)
    return replay


def _add_entry(replay: Replay, entry: dict[str, object], path: Path) -> None:
    if "meta" in entry:
        meta = entry["meta"]
        if not isinstance(meta, dict) or meta.get("version") != VERSION:
            raise StorageCorrupt(f"{path} was written by an unknown version of jsonserve")
        replay.seq, replay.high = int(meta["seq"]), dict(meta.get("high", {}))
    elif isinstance(seq := entry.get("seq"), int) and isinstance(ops := entry.get("ops"), list):
        if seq > replay.seq:
            replay.commits.append((seq, [(op[0], op[1], op[2]) for op in ops]))
    else:
        raise StorageCorrupt(f"{path} holds a line jsonserve does not understand")


class Journal:
    """The open journal file: appends with fsync, swapped atomically at compaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.on_sync: Callable[[float], None] | None = None  # told each fsync's duration in seconds (/metrics)

    @property
    def is_open(self) -> bool:
        """Whether the journal file is open for appending."""
        return self._fd is not None

    def open(self) -> None:
        """Open (creating if needed) for appending; a no-op when already open."""
        if self._fd is not None:
            return
        existed = self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if not existed:
            fsync_dir(self.path.parent)

    def append(self, data: bytes) -> None:
        """Append and make durable (the 2xx waits for this).

        If the write or the sync fails, the journal is cut back to where the batch began (best
        effort), so that writes answered with an error do not come back at the next start.
        """
        if self._fd is None:
            raise OSError("the journal is not open")
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            began = time.perf_counter()
            os.fdatasync(self._fd)
            if self.on_sync is not None:
                self.on_sync(time.perf_counter() - began)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)
                os.fdatasync(self._fd)
            raise

    def replace(self, seq: int, high: dict[str, int], tail: Iterable[bytes]) -> None:
        """Start a new journal that says the data file holds everything up to ``seq``, plus ``tail``."""
        atomic_write(self.path, encode_meta(seq, high) + b"".join(tail))
        self.close()
        self.open()

    def close(self) -> None:
        """Close the file descriptor."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class FileLock:
    """An exclusive ``flock`` on ``.<name>.lock``: a second server on the same file refuses to start.

    The lock file exists only while the lock is held: :meth:`release` removes it, so that a clean
    shutdown leaves the user's file alone. Removing a lock file is racy in general: another process
    may have opened it just before, and would then lock a file no longer in the folder while a third
    creates and locks a new one. Two rules close that race: the holder removes the file *before*
    unlocking it, and whoever takes the lock checks that the path still names the file it locked
    (same device and inode), starting over when it does not.
    """

    ATTEMPTS = 100  # starts over this often at most (each one means a holder released just then)

    def __init__(self, path: Path, data_path: Path) -> None:
        self.path = path
        self.data_path = data_path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StorageLocked` at once."""
        for _ in range(self.ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise self._locked(holder) from None
            if self._names(fd):
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                self._fd = fd
                return
            os.close(fd)  # its holder removed it as we opened it: lock the file now in the folder
        raise self._locked("another process")

    def release(self) -> None:
        """Remove the lock file, then release the lock (in that order: see the class)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _names(self, fd: int) -> bool:
        """Whether the lock file's path still names the open file ``fd``."""
        try:
            named = self.path.stat()
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def _locked(self, holder: str) -> StorageLocked:
        return StorageLocked(
            f"{self.data_path} is already being served by another jsonserve (pid {holder}); "
            "stop it first, or serve a copy of the file"
        )

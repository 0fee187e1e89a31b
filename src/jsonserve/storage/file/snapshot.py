"""A binary snapshot of a large JSON data file, so that the next start skips parsing it.

What it is: the file's document as :mod:`marshal` data (Python's own format for its constants:
dicts, lists, strings, numbers, ``None``), which loads about twice as fast as ``orjson`` parses the
JSON text it came from (``docs/storage.md`` has the figures). The JSON file stays the source of truth:
a snapshot is only ever a cache of one exact version of it, never written to by a write, never read
when it could be stale.

Where: ``$XDG_CACHE_HOME/jsonserve/snapshots`` (``~/.cache/jsonserve/snapshots``), one file per data
file (named by a hash of its absolute path), so the user's folder holds nothing new. Only files of
at least :data:`MIN_SIZE` get one: below it, parsing takes a few milliseconds.

When it is used: its header holds the data file's identity when it was read -- device, inode, size,
modification time and change time (``st_ctime``: every write to the file changes it, and no tool can
set it back, unlike the modification time ``touch -d``, ``cp -p`` or ``rsync -t`` set). Any
difference, a snapshot of another Python (``marshal`` versions differ), a truncated or foreign file:
the snapshot is ignored and the file parsed. To close the "racy" window of a file changed twice in
one timestamp tick (git's racy-clean problem), a snapshot is only taken of a file unchanged for
:data:`SETTLE` seconds.

How it is made: after a start that parsed a large file, a separate low-priority process
(``python -m jsonserve.storage.file.snapshot PATH``) reads the file again, checks it did not change
while it read it, and writes the snapshot atomically (temp + rename). The server neither waits for
it nor shares its interpreter lock with it.

Example:
    >>> load(Path("db.json")) is None  # no snapshot yet, or a stale one  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import marshal
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("jsonserve.storage")

MAGIC = b"jsonserve-snapshot\x01"
MIN_SIZE = 8 * 1024 * 1024  # bytes: smaller files parse in a few tens of milliseconds
SETTLE = 3.0  # seconds a file must be unchanged before it is snapshotted (coarse clocks, racy writes)
_LENGTH = struct.Struct("<Q")
MAX_HEADER = 65_536  # bytes: a header names a path and a few numbers


def cache_dir() -> Path:
    """Where snapshots live: ``$XDG_CACHE_HOME/jsonserve/snapshots``, else ``~/.cache/jsonserve/snapshots``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jsonserve" / "snapshots"


def snapshot_path(path: Path) -> Path:
    """The snapshot file of the data file ``path`` (by a hash of its absolute path)."""
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return cache_dir() / f"{name}.snap"


def identity(path: Path, stat: os.stat_result) -> tuple[Any, ...]:
    """What a snapshot must match: the format, this Python's ``marshal``, and the file's path and identity."""
    version = (sys.implementation.cache_tag, marshal.version)
    return (MAGIC.decode(), version, str(path.resolve()), stat.st_dev, stat.st_ino, stat.st_size,
            stat.st_mtime_ns, stat.st_ctime_ns)  # fmt: skip


def load(path: Path) -> Any | None:
    """The document of ``path`` from its snapshot, or ``None`` (no snapshot, a stale or unreadable one).

    The header is read and checked first: a stale snapshot of a large file is not read whole.
    """
    try:
        stat = path.stat()
        if stat.st_size < MIN_SIZE:
            return None
        with snapshot_path(path).open("rb") as file:
            if not _ours(os.fstat(file.fileno())):
                return None
            header, size = _header(file)
            if header != identity(path, stat):
                return None
            body = file.read()
        if len(body) != size:
            raise ValueError("truncated")
        return marshal.loads(body)  # noqa: S302  # a file only this user can have written (_ours)
    except OSError:
        return None
    except (ValueError, EOFError, TypeError, struct.error):  # truncated, foreign or corrupt: parse the file
        log.info("ignored the unreadable snapshot %s", snapshot_path(path))
        return None


def _ours(stat: os.stat_result) -> bool:
    """Written by this user, and by no one else: ``marshal`` data is trusted like the user's own files."""
    return stat.st_uid == os.getuid() and not stat.st_mode & 0o022


def _header(file: BinaryIO) -> tuple[Any, int]:
    """The identity a snapshot file's header holds, and the size of the body that follows it."""
    if file.read(len(MAGIC)) != MAGIC:
        raise ValueError("not a snapshot")
    (length,) = _LENGTH.unpack(file.read(_LENGTH.size))
    if length > MAX_HEADER:
        raise ValueError("not a snapshot")
    header = marshal.loads(file.read(length))  # noqa: S302  # see load()
    if not isinstance(header, tuple) or len(header) != 9 or not isinstance(header[-1], int):
        raise ValueError("not a snapshot")
    return header[:-1], header[-1]


def encode(path: Path, stat: os.stat_result, document: Any) -> bytes:
    """A snapshot of ``document``, the content of ``path`` while it had ``stat``."""
    body = marshal.dumps(document)
    header = marshal.dumps((*identity(path, stat), len(body)))
    return MAGIC + _LENGTH.pack(len(header)) + header + body


def write(path: Path, tries: int = 20) -> bool:
    """Snapshot ``path`` once it is large and settled; ``False`` if it is small or kept changing.

    Waits until the file is :data:`SETTLE` seconds old, reads and parses it, and writes the snapshot
    only if the file's identity is the same after reading as before (else it waits and tries again).
    """
    for _ in range(tries):
        before = path.stat()
        if before.st_size < MIN_SIZE:
            return False
        wait = max(before.st_mtime_ns, before.st_ctime_ns) / 1e9 + SETTLE - time.time()
        if wait > 0:
            time.sleep(wait)
            continue  # look again: it may have changed meanwhile
        document = _parse(path)
        if identity(path, path.stat()) == identity(path, before) and isinstance(document, dict):
            _store(path, before, document)
            return True
    return False


def _parse(path: Path) -> Any:
    import orjson  # only here: the snapshot process imports nothing else of note

    return orjson.loads(path.read_bytes())


def _store(path: Path, stat: os.stat_result, document: Any) -> None:
    target = snapshot_path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(encode(path, stat, document))
        temp.replace(target)  # readers see the old snapshot or the new one, never a part
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def refresh_later(path: Path) -> subprocess.Popen[bytes] | None:
    """Start the low-priority process that snapshots ``path`` (large files only), and a thread that reaps it."""
    try:
        if path.stat().st_size < MIN_SIZE:
            return None
        argv = [sys.executable, "-m", "jsonserve.storage.file.snapshot", str(path), str(MIN_SIZE), str(SETTLE)]
        process = subprocess.Popen(  # noqa: S603  # our own interpreter and module, a path we serve
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    except OSError as error:
        log.info("cannot snapshot %s: %s", path, error)
        return None
    threading.Thread(target=process.wait, name="jsonserve-snapshot-reaper", daemon=True).start()
    return process


def _step_aside() -> None:
    """Keep off the server's CPUs (Linux): other CPUs if the server was pinned, and idle time only.

    A server pinned with ``taskset`` passes its pinning on to this process, and nice 19 alone still
    takes the pinned CPU between two requests and evicts the server's caches: GET by id at 100k
    served at half speed for the seconds this process parsed the file. ``SCHED_IDLE`` runs it only
    when nothing else wants a CPU; the CPUs the server was not pinned to come first.
    """
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not Linux
        server = os.sched_getaffinity(0)
        others = set(range(os.cpu_count() or 1)) - server
        if others:
            os.sched_setaffinity(0, others)  # EINVAL if a cpuset forbids them all: stay where we are
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


if __name__ == "__main__":  # python -m jsonserve.storage.file.snapshot PATH [MIN_SIZE SETTLE]
    with contextlib.suppress(OSError, ValueError):
        os.nice(19)  # the server comes first
        _step_aside()
        if len(sys.argv) == 4:  # the server's thresholds (tests shrink them)
            MIN_SIZE, SETTLE = int(sys.argv[2]), float(sys.argv[3])
        write(Path(sys.argv[1]))

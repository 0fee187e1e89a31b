"""Crash-safe file replacement and file identity.

``atomic_write`` is the classic sequence (temp file in the same folder, fsync, rename, fsync of the
folder) so that a reader, or a restart after ``kill -9`` or power loss, sees either the old or the
new content, never a mix. ``Signature`` tells our own writes apart from an external edit.

Example:
    >>> atomic_write(Path("/tmp/x.json"), b"{}")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

_counter = itertools.count()


@dataclass(frozen=True)
class Signature:
    """What identifies one version of a file cheaply: inode, size and modification time."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Signature | None:
        """The file's signature, or ``None`` when it does not exist."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return cls(stat.st_ino, stat.st_size, stat.st_mtime_ns)


def temp_prefix(path: Path) -> str:
    """The name prefix of our temporary files beside ``path``."""
    return f".{path.name}.tmp-"


def fsync_dir(directory: Path) -> None:
    """Make a rename or a creation in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path, data: bytes | Iterable[bytes], before_rename: Callable[[], bool] = lambda: True
) -> Signature | None:
    """Replace ``path`` with ``data`` (bytes, or parts written as they come) atomically and durably.

    Returns the new file's signature.

    ``before_rename`` is asked once the temporary file is durable; if it answers ``False`` the
    replacement is abandoned (the temporary file is removed) and ``None`` is returned.
    """
    temp = path.with_name(f"{temp_prefix(path)}{os.getpid()}-{next(_counter)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for part in (data,) if isinstance(data, bytes) else data:
                _write_all(fd, part)
            os.fsync(fd)
        finally:
            os.close(fd)
        if not before_rename():
            temp.unlink()
            return None
        _copy_mode(path, temp)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)
    return Signature.of(path)


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temporary files a crashed run left beside ``path``; return what was removed."""
    removed = []
    for candidate in path.parent.glob(temp_prefix(path) + "*"):
        with contextlib.suppress(OSError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _copy_mode(original: Path, temp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        temp.chmod(original.stat().st_mode & 0o7777)

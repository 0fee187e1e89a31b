"""The data file's lock: removed when released, and still exclusive while processes race for it.

Removing a lock file can break mutual exclusion (a process that opened the file just before it was
removed locks a file no longer in the folder, while another creates and locks a new one); the race
test below has several processes take and release the lock as fast as they can and catches two
holders at once. It fails if :class:`FileLock` stops checking that its path still names the file it
locked.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from jsonserve.errors import StorageLocked
from jsonserve.storage.file.journal import lock_for

RACERS = 4
SECONDS = 3.0


def test_the_lock_file_exists_only_while_held(tmp_path: Path) -> None:
    lock = lock_for(tmp_path / "db.json")
    lock.acquire()
    assert (tmp_path / ".db.json.lock").read_text() == str(os.getpid())
    second = lock_for(tmp_path / "db.json")
    with pytest.raises(StorageLocked, match=rf"already being served by another jsonserve \(pid {os.getpid()}\)"):
        second.acquire()
    lock.release()
    assert list(tmp_path.iterdir()) == []
    second.acquire()  # free again
    second.release()
    assert list(tmp_path.iterdir()) == []


def _race(folder: str, deadline: float, errors: multiprocessing.Queue[str]) -> None:
    """Take the lock again and again; inside, a marker file created with O_EXCL proves nobody else is in."""
    data, marker = Path(folder) / "db.json", Path(folder) / "inside"
    held = 0
    while time.monotonic() < deadline:
        lock = lock_for(data)
        try:
            lock.acquire()
        except StorageLocked:
            continue
        try:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                errors.put(f"pid {os.getpid()} holds the lock while another process does")
                return
            held += 1
            marker.unlink()
        finally:
            lock.release()
    if held == 0:
        errors.put(f"pid {os.getpid()} never got the lock")


def test_racing_processes_never_hold_the_lock_together(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    errors: multiprocessing.Queue[str] = context.Queue()
    deadline = time.monotonic() + SECONDS
    racers = [context.Process(target=_race, args=(str(tmp_path), deadline, errors)) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(SECONDS + 30)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert [racer.exitcode for racer in racers] == [0] * RACERS
    assert sorted(path.name for path in tmp_path.iterdir()) == []

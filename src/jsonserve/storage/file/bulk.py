"""The file family's streaming side: a JSON data file read, or written, a record at a time.

Reading first lets the journal's writes into the file (a crash may have left some), then holds the
file's lock so that no server writes it meanwhile, and streams it with the declared id high-water
marks. Writing fills a temporary file beside the target, under the target's lock; only a complete
document replaces the target (atomically), carrying the high-water marks the records alone do not
show (in its attribute, see :mod:`.meta`, or else a fresh journal). Ids, record order, singular
objects and ``$``-keys are kept.

Example:
    >>> async with read_file(Path("db.json"), "id") as reader:  # doctest: +SKIP
    ...     async for section in reader.sections(): ...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Literal

from jsonserve._types import Record
from jsonserve.storage.file.atomic import atomic_write, fsync_dir, temp_prefix
from jsonserve.storage.file.document import Encoder, IdRules, Section, naming, stream_sections
from jsonserve.storage.file.journal import encode_meta, journal_path, lock_for, read_journal
from jsonserve.storage.file.meta import Meta, read_meta, write_meta
from jsonserve.storage.stream import BATCH, Reader, TargetNotEmpty, TransferError, Writer


class FileReader(Reader):
    """A data file being streamed; progress is the bytes read."""

    unit: Literal["bytes", "records"] = "bytes"

    def __init__(self, file: IO[bytes], size: int, highs: dict[str, int], exact: bool) -> None:
        self.file = file
        self.total = size
        self.highs = highs
        self.exact = exact

    def done(self, records: int) -> int:
        """The bytes read so far."""
        return self.file.tell()

    def sections(self) -> AsyncIterator[Section]:
        """The file's sections (see :func:`~jsonserve.storage.file.document.stream_sections`)."""
        return stream_sections(self.file, self.highs, exact=self.exact)


@contextlib.asynccontextmanager
async def read_file(path: Path, id_field: str, *, exact: bool = False) -> AsyncIterator[FileReader]:
    """Open a data file for streaming, its journal's writes in it first, locked against servers."""
    path = path.resolve()
    if not path.is_file():
        raise TransferError(f"{path} does not exist")
    replay = read_journal(journal_path(path))
    if replay.commits or replay.torn:
        await _compact(path, id_field)
        replay = read_journal(journal_path(path))
    highs = dict(read_meta(path).merged(Meta(replay.seq, replay.high)).high)
    lock = lock_for(path)
    lock.acquire()
    try:
        with naming(path), path.open("rb") as file:  # a broken rule (checked by the consumer) names the file
            yield FileReader(file, path.stat().st_size, highs, exact)
    finally:
        lock.release()


async def _compact(path: Path, id_field: str) -> None:
    from jsonserve.storage.file.jsonfile import JsonFileStorage

    storage = JsonFileStorage(path, id_field=id_field)
    await storage.open()  # replays the journal into the file
    await storage.aclose()


class FileWriter(Writer):
    """The document being written to the temporary file."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.encoder = Encoder()
        self.highs: dict[str, int] = {}  # high-water marks above the largest id: the records do not show them

    async def value(self, section: Section) -> None:
        """Write a singular object or a ``$``-key."""
        self.file.write(self.encoder.value(section.name, section.value))

    async def collection(self, name: str, records: AsyncIterator[Record], ids: IdRules) -> None:
        """Write a collection, :data:`BATCH` records per encoded part."""
        self.file.write(self.encoder.open_array(name))
        batch: list[Record] = []
        async for record in records:
            batch.append(record)
            if len(batch) == BATCH:
                self.file.write(self.encoder.records(batch))
                batch = []
        if batch:
            self.file.write(self.encoder.records(batch))
        self.file.write(self.encoder.close_array())
        if ids.high > ids.largest:
            self.highs[name] = ids.high


@contextlib.asynccontextmanager
async def write_file(path: Path, *, force: bool = False) -> AsyncIterator[FileWriter]:
    """A writer that replaces ``path`` if the ``async with`` body completes; else ``path`` stays as it was.

    A file that exists and is not empty is replaced only with ``force`` (else :class:`TargetNotEmpty`).
    """
    path = path.resolve()
    if not path.parent.is_dir():
        raise TransferError(f"cannot write {path}: the folder {path.parent} does not exist")
    if path.exists() and path.stat().st_size and not force:
        raise TargetNotEmpty(f"{path} already exists (use --force to replace it)")
    lock = lock_for(path)
    lock.acquire()  # no server may be serving the file we replace
    temp = path.with_name(f"{temp_prefix(path)}{os.getpid()}-transfer")
    try:
        with temp.open("wb", buffering=1024 * 1024) as file:
            writer = FileWriter(file)
            yield writer
            file.write(writer.encoder.close())
            file.flush()
            os.fsync(file.fileno())
        # The journal first: a stale one (its writes belong to the replaced data) must never be replayed.
        # The high-water marks go with the new file (its attribute), or where it can have none, in a fresh journal.
        journal = journal_path(path)
        if writer.highs and not write_meta(temp, Meta(0, writer.highs)):
            atomic_write(journal, encode_meta(0, writer.highs))
        else:
            journal.unlink(missing_ok=True)
        temp.replace(path)
        fsync_dir(path.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        lock.release()

"""Whole data sets as streams of document sections: what ``import``/``export`` and seeding pipe between families.

A :class:`Reader` (a JSON file, a database) yields a document's sections in order; a :class:`Writer`
(a JSON file, a database) takes them and keeps all or nothing; :func:`pipe` joins the two, checking
each collection's records with the data-file rules (:class:`~jsonserve.storage.file.document.IdRules`)
and counting them as they pass. Each family implements both ends (``file/bulk.py``, ``sql/bulk.py``),
so neither the pipe nor ``transfer`` knows a journal or a table.

Example:
    >>> await pipe(sections({"posts": [{"id": 1}]}), writer, "id", unique=True)  # doctest: +SKIP
    (1, 1)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Literal

from jsonserve._types import Record
from jsonserve.storage.file.document import IdRules, Section

BATCH = 1000  # records per insert, per encoded part, per progress report


class TransferError(Exception):
    """A copy that cannot start: same source and target, missing source, unsupported location."""


class TargetNotEmpty(TransferError):
    """The target already holds data and ``force`` was not given."""


class Reader(ABC):
    """A source: its sections in order, and how far the reading has got."""

    unit: Literal["bytes", "records"] = "records"
    total: int | None = None
    unique_ids: bool = False  # whether the source cannot hold one id twice (a database's key)

    def done(self, records: int) -> int:
        """How many of :attr:`total` units are read once ``records`` records were."""
        return records

    @abstractmethod
    def sections(self) -> AsyncIterator[Section]:
        """The source's top-level keys, in order, each with its value or a stream of records."""


class Writer(ABC):
    """A target taking sections in order; whoever opened it commits or discards them all."""

    unique_ids: bool = False  # whether the target refuses a repeated id itself (a database's key)

    @abstractmethod
    async def value(self, section: Section) -> None:
        """A singular object or a ``$``-key."""

    @abstractmethod
    async def collection(self, name: str, records: AsyncIterator[Record], ids: IdRules) -> None:
        """A collection's checked records; ``ids`` holds their high-water mark once ``records`` is drained."""


async def pipe(
    sections: AsyncIterator[Section],
    writer: Writer,
    id_field: str,
    *,
    unique: bool,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Write every section to ``writer``; return how many resources and records.

    ``unique`` checks that no id repeats within a collection (unneeded when either end ensures it);
    ``progress`` gets the number of records written so far after every :data:`BATCH` and at the end
    of each collection.
    """
    counter = _Counter(progress or (lambda _records: None))
    resources = 0
    async for section in sections:
        resources += 1
        if section.records is None:
            await writer.value(section)
            continue
        ids = IdRules(section.name, id_field, high=section.high, unique=unique)
        await writer.collection(section.name, counter.count(ids.records(section.records)), ids)
    return resources, counter.records


class _Counter:
    def __init__(self, progress: Callable[[int], None]) -> None:
        self.progress = progress
        self.records = 0

    async def count(self, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        count = 0
        async for record in records:
            yield record
            count += 1  # once the writer asks for the next: this one is written
            self.records += 1
            if count % BATCH == 0:
                self.progress(self.records)
        if count % BATCH or not count:
            self.progress(self.records)

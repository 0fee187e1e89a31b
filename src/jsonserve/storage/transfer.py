"""Copy a whole data set between any two backends (``jsonserve import`` / ``jsonserve export``).

An orchestration: the source's family opens a reader, the target's family a writer, and
:func:`~jsonserve.storage.stream.pipe` streams the sections from one to the other with the data-file
id rules and progress. Memory stays bounded whatever the size; the target is replaced all or nothing
(a file atomically, a database in one transaction). Ids, record order, singular objects, ``$``-keys
and id high-water marks are kept. How a JSON file or a database is read and written is each family's
business (``storage/file/bulk.py``, ``storage/sql/bulk.py``).

Example:
    >>> await transfer("db.json", "app.db", indexes=["posts.userId"], progress=print)  # doctest: +SKIP
    Summary(resources=4, records=1000000)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jsonserve.errors import StorageCorrupt
from jsonserve.storage.file.document import IntegerOverflow
from jsonserve.storage.registry import backend_name, load_backend, local_path
from jsonserve.storage.stream import BATCH, Reader, TargetNotEmpty, TransferError, Writer, pipe

if TYPE_CHECKING:
    from jsonserve.storage.sql.base import SqlStorage

__all__ = ["BATCH", "Endpoint", "Summary", "Tally", "TargetNotEmpty", "TransferError", "transfer"]


@dataclass(frozen=True)
class Endpoint:
    """A source or target: a location the registry understands, plus backend constructor options."""

    location: str
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. ``schema=`` for PostgreSQL

    @property
    def backend(self) -> str:
        """``json``, ``sqlite`` or ``postgresql``."""
        return backend_name(self.location)


@dataclass(frozen=True)
class Tally:
    """Progress so far: records copied, and ``done`` of ``total`` units (bytes of a JSON source, else records)."""

    records: int
    done: int
    total: int | None
    unit: Literal["bytes", "records"]


@dataclass(frozen=True)
class Summary:
    """What a finished copy wrote."""

    resources: int
    records: int


Progress = Callable[[Tally], None]


async def transfer(
    source: str | Endpoint,
    target: str | Endpoint,
    *,
    force: bool = False,
    id_field: str = "id",
    indexes: Sequence[str] = (),
    progress: Progress | None = None,
) -> Summary:
    """Copy everything in ``source`` to ``target``, replacing the target only with ``force``.

    ``indexes`` (``COLLECTION.FIELD``) are created on a SQL target after the load; ``progress`` is
    called after every batch.
    """
    source, target = _endpoint(source), _endpoint(target)
    _check_pair(source, target)
    copy = _Copy(source, target, force, id_field, indexes, progress)
    try:
        return await copy.run(exact=False)
    except IntegerOverflow:  # the fast parser holds only 63-bit integers; the exact one any (and is slower)
        return await copy.run(exact=True)


@dataclass(frozen=True)
class _Copy:
    source: Endpoint
    target: Endpoint
    force: bool
    id_field: str
    indexes: Sequence[str]
    progress: Progress | None

    async def run(self, *, exact: bool) -> Summary:
        async with self._reader(exact) as reader, self._writer() as writer:
            # Repeated ids are looked for only where neither end refuses them itself (a database's key).
            unique = not (reader.unique_ids or writer.unique_ids)
            report = None if self.progress is None else _reporter(reader, self.progress)
            resources, records = await pipe(reader.sections(), writer, self.id_field, unique=unique, progress=report)
        return Summary(resources, records)

    def _reader(self, exact: bool) -> contextlib.AbstractAsyncContextManager[Reader]:
        if self.source.backend == "json":
            from jsonserve.storage.file.bulk import read_file

            return read_file(Path(self.source.location), self.id_field, exact=exact)
        storage = _sql_storage(self.source, self.id_field)
        from jsonserve.storage.sql.bulk import read_database  # once the backend's driver is known to be there

        return read_database(storage)

    def _writer(self) -> contextlib.AbstractAsyncContextManager[Writer]:
        if self.target.backend == "json":
            from jsonserve.storage.file.bulk import write_file

            return write_file(Path(self.target.location), force=self.force)
        storage = _sql_storage(self.target, self.id_field)
        from jsonserve.storage.sql.bulk import write_database

        return write_database(storage, force=self.force, indexes=self.indexes)


def _reporter(reader: Reader, progress: Progress) -> Callable[[int], None]:
    def report(records: int) -> None:
        progress(Tally(records, reader.done(records), reader.total, reader.unit))

    return report


def _endpoint(value: str | Endpoint) -> Endpoint:
    return value if isinstance(value, Endpoint) else Endpoint(value)


def _check_pair(source: Endpoint, target: Endpoint) -> None:
    for endpoint in (source, target):
        try:
            endpoint.backend  # noqa: B018 - validates the location
        except StorageCorrupt as error:
            raise TransferError(str(error).replace("cannot serve", "cannot copy")) from None
    path = local_path(source.location)
    same_file = source.backend == target.backend and path is not None and path == local_path(target.location)
    if source.location == target.location or same_file:
        raise TransferError(f"the source and the target are the same: {source.location}")


def _sql_storage(endpoint: Endpoint, id_field: str) -> SqlStorage:
    """The (unopened) SQL storage of ``endpoint``; a missing driver is a ``BackendUnavailable`` naming the extra."""
    cls: Any = load_backend(endpoint.backend)
    return cls(endpoint.location, id_field=id_field, **endpoint.options)  # type: ignore[no-any-return]

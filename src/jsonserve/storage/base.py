"""The one async storage interface every backend implements, and the values it trades in.

Writes are read-modify-write operations that take a ``check`` callable: the backend calls it with
the current record inside its own atomic section, so ``If-Match`` and similar preconditions can
never race with another writer. Every write returns the :class:`Change` values it produced, with a
``seq`` that is monotonic per store (realtime clients will resume from it).

Example:
    >>> storage = MemoryStorage({"posts": [{"id": 1}]})  # doctest: +SKIP
    >>> await storage.get("posts", "1")  # doctest: +SKIP
    {'id': 1}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from jsonserve._types import JSONValue, Record
from jsonserve.query.model import Page, Query
from jsonserve.schema.kind import Kind
from jsonserve.storage.changelog import Change, ChangeLog


@dataclass(frozen=True)
class Dependent:
    """What deleting a parent does to one child collection: delete the children, or null the key."""

    collection: str
    foreign_key: str
    delete: bool


Check = Callable[[Record | None], None]
"""Called with the current record (or ``None``) inside the atomic section; raises to abort."""

Dependents = Callable[[str], list[Dependent]]
"""Given a collection, the child collections to sweep when one of its records is deleted."""


def no_check(_current: Record | None) -> None:
    """A :data:`Check` that accepts anything."""


class Storage(ABC):
    """Async storage of collections (arrays of records) and singular objects."""

    id_field: str = "id"

    @abstractmethod
    async def open(self) -> None:
        """Load or connect; raise ``StorageCorrupt`` or ``StorageLocked`` when that is impossible."""

    @abstractmethod
    async def aclose(self) -> None:
        """Flush everything durable and release files and connections."""

    @property
    @abstractmethod
    def changes(self) -> ChangeLog:
        """The committed changes of this store, for readers that resume by ``seq``."""

    def generation(self) -> int:
        """A number that changes when data changed outside this storage's writes (a reload of an edit)."""
        return 0

    async def readiness(self) -> str | None:
        """``None`` when the store can serve reads and writes now, else why not (``GET /ready``).

        Example:
            >>> await MemoryStorage({}).readiness()  # doctest: +SKIP
        """
        return None

    def observe_syncs(self, observer: Callable[[float], None]) -> None:
        """Call ``observer(seconds)`` with the duration of each fsync that makes writes durable (``/metrics``).

        Only a store that fsyncs itself reports (the JSON file's journal); a database's own syncs are its business.
        """
        del observer  # nothing to report

    @abstractmethod
    def kinds(self) -> dict[str, Kind]:
        """Every routable top-level name and its kind, in the data's order."""

    @abstractmethod
    async def count(self, collection: str) -> int:
        """How many records a collection holds."""

    @abstractmethod
    async def find(self, query: Query) -> Page:
        """Filter, sort and window one collection."""

    @abstractmethod
    async def get(self, collection: str, record_id: str) -> Record | None:
        """One record by the text of its id (``"1"`` finds the number ``1``)."""

    @abstractmethod
    async def get_singular(self, name: str) -> Record:
        """A singular resource's object."""

    @abstractmethod
    async def dump(self) -> dict[str, JSONValue]:
        """The whole database as one JSON object (``GET /db``)."""

    @abstractmethod
    async def create(
        self,
        collection: str,
        record: Record,
        *,
        generated_ids: bool = False,
        new_collection: bool = False,
        actor: str | None = None,
    ) -> Change:
        """Insert a record, keeping a free client id (a taken one is a ``Conflict``) or generating one.

        ``generated_ids`` (json-server 1.x): ignore client ids, generate random string ids.
        ``new_collection`` (``--auto-create``): a missing collection is created in the same write.
        ``actor`` (every write takes it) is recorded on the changes the write produces.
        """

    @abstractmethod
    async def update(
        self,
        collection: str,
        record_id: str,
        build: Callable[[Record], Record],
        check: Check = no_check,
        *,
        actor: str | None = None,
    ) -> Change:
        """Replace a record with ``build(current)``; the id never changes."""

    @abstractmethod
    async def delete(
        self,
        collection: str,
        record_id: str,
        dependents: Dependents,
        check: Check = no_check,
        *,
        actor: str | None = None,
    ) -> list[Change]:
        """Delete a record and sweep its dependents, atomically; the record's own change comes first."""

    @abstractmethod
    async def update_singular(
        self, name: str, build: Callable[[Record], Record], check: Check = no_check, *, actor: str | None = None
    ) -> Change:
        """Replace a singular resource's object with ``build(current)``."""

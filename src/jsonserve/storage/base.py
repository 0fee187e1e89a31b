"""The one async storage interface every backend implements, and the values it trades in.

Writes are read-modify-write operations that take a ``check`` callable: the backend calls it with
the current record inside its own atomic section, so ``If-Match`` and similar preconditions can
never race with another writer; a create may be made conditional on a field's value being unique
(:class:`Unique`), checked in the same atomic section. Every write returns the :class:`Change` values
it produced, with a ``seq`` that is monotonic per store (realtime clients will resume from it).

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
from jsonserve.errors import FieldError, ValueTaken
from jsonserve.query.model import Page, Query
from jsonserve.schema.kind import Kind
from jsonserve.storage.changelog import Change, ChangeLog
from jsonserve.storage.follow import ChangeSignal, MessageBus


@dataclass(frozen=True)
class Unique:
    """A create's condition: no record of the collection has ``field`` equal to ``value``, ignoring case.

    "Ignoring case" is the query semantics' (``contains``, ``startsWith``): Python's ``str.lower`` on
    both sides, so ``Ada@Example.COM`` clashes with ``ada@example.com`` but ``ß`` does not with ``ss``
    (no case folding). Only a string value clashes. Every backend checks it inside the create's own
    atomic section (for the SQL backends, inside the transaction that inserts), so it holds across
    processes; a clash is a :class:`~jsonserve.errors.ValueTaken` and nothing is written.

    Example:
        >>> Unique("email", "Ada@Example.COM").clashes({"email": "ada@example.com"})
        True
    """

    field: str
    value: str

    @property
    def lowered(self) -> str:
        """The value as it is compared."""
        return self.value.lower()

    def clashes(self, record: Record) -> bool:
        """Whether ``record`` already holds the value (the final word, after any narrowing filter)."""
        stored = record.get(self.field)
        return isinstance(stored, str) and stored.lower() == self.lowered

    def taken(self, collection: str) -> ValueTaken:
        """The error for a clash in ``collection``."""
        detail = f"{collection} already has a record with {self.field} {self.value!r} (ignoring case)"
        return ValueTaken(detail, [FieldError(self.field, "already taken", ValueTaken.code)])


Check = Callable[[Record | None], None]
"""Called with the current record (or ``None``) inside the atomic section; raises to abort."""


def no_check(_current: Record | None) -> None:
    """A :data:`Check` that accepts anything."""


@dataclass(frozen=True)
class Dependent:
    """What deleting a parent does to one child collection: delete the children, or null the key.

    ``check`` is called with each child to be deleted, inside the delete's atomic section and before
    anything is deleted; if it raises, the whole delete is abandoned (nothing deleted, nothing nulled).
    """

    collection: str
    foreign_key: str
    delete: bool
    check: Check = no_check


Dependents = Callable[[str], list[Dependent]]
"""Given a collection, the child collections to sweep when one of its records is deleted."""


class Storage(ABC):
    """Async storage of collections (arrays of records) and singular objects."""

    id_field: str = "id"
    _listeners: list[Callable[[list[Change]], None]] | None = None

    def on_own_changes(self, listener: Callable[[list[Change]], None]) -> None:
        """Call ``listener`` with the changes the storage makes on its own, once durable, in ``seq`` order.

        Its writes' changes are returned to the writer; these are the others: the ``reset`` changes of
        a reload of an edited data file (``--watch``). The Service publishes them as its writes' ones.
        """
        if self._listeners is None:
            self._listeners = []
        self._listeners.append(listener)

    def announce(self, changes: list[Change]) -> None:
        """Hand changes the storage made on its own to every :meth:`on_own_changes` listener."""
        for listener in self._listeners or ():
            listener(changes)

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

    def follow_changes(self, shared: bool) -> ChangeSignal | None:
        """Wake-ups for changes other processes append to this store's log; ``None``: none can.

        ``shared``: other worker processes of this server write to the same store (``--workers``).
        A store only this process can write (memory, a JSON file) returns ``None``; SQLite polls only
        when ``shared``; PostgreSQL always listens (other instances may share the database).
        """
        del shared
        return None

    def message_bus(self) -> MessageBus | None:
        """A bus carrying realtime channel messages between the processes sharing this store, if it has one."""
        return None

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
        unique: Unique | None = None,
    ) -> Change:
        """Insert a record, keeping a free client id (a taken one is a ``Conflict``) or generating one.

        ``generated_ids`` (json-server 1.x): ignore client ids, generate random string ids.
        ``new_collection`` (``--auto-create``): a missing collection is created in the same write.
        ``actor`` (every write takes it) is recorded on the changes the write produces.
        ``unique``: refuse the insert with :class:`~jsonserve.errors.ValueTaken` when a record of the
        collection already holds that value (see :class:`Unique`); checked atomically with the insert.
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

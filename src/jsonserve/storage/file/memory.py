"""The in-memory backend: the data model every file-based backend builds on.

Records live in insertion-ordered dicts keyed by the text of their id. A write mutates memory
synchronously (so it is atomic on the event loop), then awaits :meth:`MemoryStorage._commit`, which
durable subclasses override; if that fails, the write is undone before the error propagates.

Example:
    >>> import asyncio
    >>> storage = MemoryStorage({"posts": [{"id": 1, "title": "a"}]})
    >>> asyncio.run(storage.open())
    >>> asyncio.run(storage.get("posts", "1"))
    {'id': 1, 'title': 'a'}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Literal

from jsonserve._types import JSONValue, Record, RecordId
from jsonserve.errors import Conflict, NotFound
from jsonserve.query import evaluate
from jsonserve.query.model import Page, Query
from jsonserve.schema.kind import Kind
from jsonserve.storage.base import Check, Dependents, Storage, Unique, no_check
from jsonserve.storage.changelog import DEFAULT_RETENTION, Change, ChangeLog, Retention, RingChangeLog
from jsonserve.storage.file.document import collection
from jsonserve.storage.file.document import items as document_items
from jsonserve.storage.file.table import Table
from jsonserve.storage.ids import INT_LIMIT, IdFactory, check_client_id, id_key, random_id


class MemoryStorage(Storage):
    """Collections and singular objects held in memory, loaded from one JSON document."""

    def __init__(
        self,
        data: dict[str, JSONValue] | None = None,
        *,
        id_field: str = "id",
        id_factory: IdFactory = random_id,
        clock: Callable[[], float] = time.time,
        retention: Retention = DEFAULT_RETENTION,
    ) -> None:
        self.id_field = id_field
        self._initial = data if data is not None else {}
        self._retention = retention
        self._new_id = id_factory
        self._clock = clock
        self._tables: dict[str, Table] = {}
        self._singulars: dict[str, Record] = {}
        self._extras: dict[str, JSONValue] = {}
        self._order: list[str] = []
        self._kinds: dict[str, Kind] | None = None
        self.seq = 0
        self._resets = 0
        self._log = RingChangeLog(retention, clock=clock)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Load the document given to the constructor."""
        self.load(self._initial)
        self.start_log()

    async def aclose(self) -> None:
        """Nothing to release in memory."""

    @property
    def changes(self) -> ChangeLog:
        """The recent changes, in a bounded ring (none survive a restart; ``seq`` does on a JSON file)."""
        return self._log

    def start_log(self) -> None:
        """An empty change log from the current ``seq``: what came before it is not retained."""
        self._log = RingChangeLog(self._retention, floor=self.seq, clock=self._clock)

    def load(self, document: object) -> None:
        """Replace everything with ``document`` (a JSON object), validating it first."""
        tables, singulars, extras, order = parse_document(document, self.id_field)
        for name, table in tables.items():
            previous = self._tables.get(name)
            table.high = max(table.high, previous.high if previous else 0)
        self._tables, self._singulars, self._extras, self._order = tables, singulars, extras, order
        self._kinds = None

    def reset(self, document: object) -> None:
        """Start over from ``document`` as a store newly opened on it (the testing helpers, between tests).

        Unlike :meth:`load`, integer ids count from the new data again, not from the largest ever
        held, and the change log starts empty; ``seq`` goes on (a realtime client never sees it go
        back) and :meth:`generation` moves on (what was inferred from the old data is dropped).

        Example:
            >>> storage = MemoryStorage({"posts": [{"id": 5}]})
            >>> storage.reset({"posts": [{"id": 1}]})
            >>> storage.high_water(), storage.generation()
            ({'posts': 1}, 1)
        """
        tables, singulars, extras, order = parse_document(document, self.id_field)
        self._tables, self._singulars, self._extras, self._order = tables, singulars, extras, order
        self._kinds = None
        self._resets += 1
        self.start_log()

    def generation(self) -> int:
        """How many times :meth:`reset` replaced the data."""
        return self._resets

    # -- reads -------------------------------------------------------------------------------

    def kinds(self) -> dict[str, Kind]:
        """Every routable name and its kind, in the document's order."""
        if self._kinds is None:  # asked on every request; changes only when the names do
            self._kinds = {
                name: Kind.PLURAL if name in self._tables else Kind.SINGULAR
                for name in self._order
                if name in self._tables or name in self._singulars
            }
        return self._kinds  # shared: callers only read it

    async def count(self, collection: str) -> int:
        """How many records ``collection`` holds."""
        return len(self._table(collection).records)

    async def find(self, query: Query) -> Page:
        """Filter, sort and window with the reference evaluator (narrowed by the collection's indexes)."""
        return self._table(query.collection).find(query)

    async def get(self, collection: str, record_id: str) -> Record | None:
        """One record by the text of its id."""
        return self._table(collection).records.get(record_id)

    async def get_singular(self, name: str) -> Record:
        """A singular resource's object."""
        if name not in self._singulars:
            raise NotFound(f"no singular resource {name!r}")
        return self._singulars[name]

    async def dump(self) -> dict[str, JSONValue]:
        """The whole database in the document's key order."""
        return self.document()

    def document(self) -> dict[str, JSONValue]:
        """A shallow snapshot of the data as a JSON object (records are never mutated in place)."""
        result: dict[str, JSONValue] = {}
        for name in self._order:
            if name in self._tables:
                result[name] = list(self._tables[name].records.values())
            elif name in self._singulars:
                result[name] = self._singulars[name]
            else:
                result[name] = self._extras[name]
        return result

    def high_water(self) -> dict[str, int]:
        """The largest integer id each collection ever held."""
        return {name: table.high for name, table in self._tables.items()}

    # -- writes ------------------------------------------------------------------------------

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
        """Insert ``record``: a free client id is kept, else the next integer (or a random string) is used.

        With ``generated_ids`` (json-server 1.x) a client id is ignored and a random string is generated.
        With ``new_collection`` a missing collection is created first (and dropped again if the write fails).
        ``unique`` is checked in the same synchronous step as the insert (one process holds the data).
        """
        await self._before_write()
        added = new_collection and collection not in self._tables and collection not in self._singulars
        if added:
            self._tables[collection] = Table(id_field=self.id_field)
            self._order.append(collection)
            self._kinds = None
        try:
            return await self._insert(collection, record, generated_ids, actor, unique)
        except BaseException:
            if added and not self._tables[collection].records:
                del self._tables[collection]
                self._order.remove(collection)
                self._kinds = None
            raise

    async def _insert(
        self, collection: str, record: Record, generated_ids: bool, actor: str | None, unique: Unique | None
    ) -> Change:
        table = self._table(collection)
        if unique is not None and any(unique.clashes(current) for current in table.records.values()):
            raise unique.taken(collection)
        client_id = record.get(self.id_field)
        if client_id is not None and not generated_ids:
            record_id = check_client_id(client_id)
            if id_key(record_id) in table.records:
                raise Conflict(f"{collection} already has a record with id {record_id!r}")
        else:
            record_id = self._next_id(table, prefer_int=not generated_ids)
        stored = {**{k: v for k, v in record.items() if k != self.id_field}, self.id_field: record_id}
        change = self._put(collection, stored, None, actor)
        await self._commit([change])
        return change

    async def update(
        self,
        collection: str,
        record_id: str,
        build: Callable[[Record], Record],
        check: Check = no_check,
        *,
        actor: str | None = None,
    ) -> Change:
        """Replace a record with ``build(current)``, keeping its id."""
        await self._before_write()
        current = self._table(collection).records.get(record_id)
        check(current)
        if current is None:
            raise NotFound(f"no record in {collection} with id {record_id!r}")
        new = build(current)
        new[self.id_field] = current[self.id_field]
        change = self._put(collection, new, current, actor)
        await self._commit([change])
        return change

    async def delete(
        self,
        collection: str,
        record_id: str,
        dependents: Dependents,
        check: Check = no_check,
        *,
        actor: str | None = None,
    ) -> list[Change]:
        """Delete a record, then sweep its dependents (children first deleted or nulled), atomically.

        Every child to be deleted passes its :attr:`Dependent.check` before anything is touched.
        """
        await self._before_write()
        current = self._table(collection).records.get(record_id)
        check(current)
        if current is None:
            raise NotFound(f"no record in {collection} with id {record_id!r}")
        self._check_tree(collection, record_id, dependents)
        changes = list(self._delete_tree(collection, record_id, dependents, actor))
        await self._commit(changes)
        return changes

    async def update_singular(
        self, name: str, build: Callable[[Record], Record], check: Check = no_check, *, actor: str | None = None
    ) -> Change:
        """Replace a singular object with ``build(current)``."""
        await self._before_write()
        current = await self.get_singular(name)
        check(current)
        new = build(current)
        self._singulars[name] = new
        change = self._change(name, "updated", None, new, current, actor)
        await self._commit([change])
        return change

    # -- durability hook -----------------------------------------------------------------------

    async def _before_write(self) -> None:
        """Raise to refuse a write before it touches memory; durable subclasses check their file here."""

    async def _commit(self, changes: list[Change]) -> None:
        """Make applied ``changes`` durable, then :meth:`publish` them; or undo them and raise.

        In memory there is nothing to make durable. A durable subclass publishes once the changes are
        durable, whether or not the writer still waits for them (a cancelled request's write commits).
        """
        self.publish(changes)

    def publish(self, changes: list[Change]) -> None:
        """Add durable changes to the change log (in ``seq`` order: the order they were applied).

        Reload ``reset`` changes, which no writer waits for, are announced to the listeners here.
        """
        self._log.add(changes)
        resets = [change for change in changes if change.action == "reset"]
        if resets:
            self.announce(resets)

    def undo(self, changes: list[Change]) -> None:
        """Revert applied changes, newest first (a failed commit must leave no trace)."""
        for change in reversed(changes):
            if change.action != "reset":  # a reload's marker: nothing was applied
                self.apply(change.collection, change.id, change.previous)

    def apply(self, name: str, record_id: RecordId | None, record: Record | None) -> None:
        """Set (or, with ``record=None``, remove) one record or a singular object; used by replay."""
        if name in self._singulars:
            if record is not None:
                self._singulars[name] = record
            return
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = Table(id_field=self.id_field)
            self._order.append(name)
            self._kinds = None
        if record is None:
            table.pop(id_key(record_id))  # type: ignore[arg-type]
            return
        table.put(id_key(record[self.id_field]), record)  # type: ignore[arg-type]

    # -- internals -----------------------------------------------------------------------------

    def _table(self, collection: str) -> Table:
        table = self._tables.get(collection)
        if table is None:
            raise NotFound(f"no collection {collection!r}")
        return table

    def _next_id(self, table: Table, *, prefer_int: bool) -> RecordId:
        # `high` is at least every integer id held. Past the 64-bit range (ids every backend can
        # store) a string id is the only safe choice.
        if prefer_int and table.non_int == 0 and table.high < INT_LIMIT:
            return table.high + 1
        while (candidate := self._new_id()) in table.records:
            continue
        return candidate

    def _put(self, collection: str, record: Record, previous: Record | None, actor: str | None) -> Change:
        self.apply(collection, record[self.id_field], record)  # type: ignore[arg-type]
        action: Literal["created", "updated"] = "created" if previous is None else "updated"
        return self._change(collection, action, record[self.id_field], record, previous, actor)  # type: ignore[arg-type]

    def _change(
        self,
        collection: str,
        action: Literal["created", "updated", "deleted", "reset"],
        record_id: RecordId | None,
        record: Record | None,
        previous: Record | None,
        actor: str | None,
    ) -> Change:
        self.seq += 1
        return Change(collection, action, record_id, record, previous, self.seq, self._clock(), actor)

    def _check_tree(self, collection: str, record_id: str, dependents: Dependents) -> None:
        """Walk what :meth:`_delete_tree` would delete, without deleting, calling each child's check."""
        pending, seen = [(collection, record_id)], {(collection, record_id)}
        while pending:
            name, key = pending.pop(0)
            for dependent in dependents(name):
                table = self._tables.get(dependent.collection)
                if table is None or not dependent.delete:
                    continue
                for child in _children(table, dependent.foreign_key, key):
                    if (dependent.collection, child) not in seen:
                        dependent.check(table.records[child])
                        seen.add((dependent.collection, child))
                        pending.append((dependent.collection, child))

    def _delete_tree(
        self, collection: str, record_id: str, dependents: Dependents, actor: str | None
    ) -> Iterator[Change]:
        pending = [(collection, record_id)]
        while pending:
            name, key = pending.pop(0)
            previous = self._tables[name].pop(key)
            if previous is None:
                continue
            yield self._change(name, "deleted", previous[self.id_field], None, previous, actor)  # type: ignore[arg-type]
            for dependent in dependents(name):
                yield from self._sweep(
                    dependent.collection, dependent.foreign_key, key, dependent.delete, pending, actor
                )

    def _sweep(
        self, name: str, fk: str, parent_key: str, delete: bool, pending: list[tuple[str, str]], actor: str | None
    ) -> Iterator[Change]:
        table = self._tables.get(name)
        if table is None:
            return
        for key in _children(table, fk, parent_key):
            if delete:
                pending.append((name, key))
            else:
                record = table.records[key]
                yield self._put(name, {**record, fk: None}, record, actor)


def _children(table: Table, fk: str, parent_key: str) -> list[str]:
    """The keys of the records of ``table`` whose ``fk`` names the parent ``parent_key``."""
    return [
        key
        for key in table.equal_keys(fk, parent_key)
        if fk in table.records[key] and evaluate.equals(table.records[key][fk], parent_key)
    ]


def parse_document(
    document: object, id_field: str
) -> tuple[dict[str, Table], dict[str, Record], dict[str, JSONValue], list[str]]:
    """Check a json-server document (the data-file rules) and split it into collections, singular objects and extras."""
    tables: dict[str, Table] = {}
    singulars: dict[str, Record] = {}
    extras: dict[str, JSONValue] = {}
    order: list[str] = []
    for name, kind, value in document_items(document):
        order.append(name)
        if kind == "plural":
            loaded = collection(name, value, id_field)  # type: ignore[arg-type]
            tables[name] = table = Table(loaded.records, loaded.high, id_field)
            if not loaded.int_ids:
                table.recount()
        elif kind == "singular":
            singulars[name] = value  # type: ignore[assignment]
        else:
            extras[name] = value
    return tables, singulars, extras, order

"""What each SQL write does inside its transaction: lock, choose the id, change the rows, log the change.

Read-modify-write locks the row (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), so ``If-Match``
holds across instances, and ids are allocated from a locked per-collection high-water mark, so they
are unique across them. The same lock makes a create's :class:`~jsonserve.storage.base.Unique` check
hold across processes: creates in one collection queue on its ``resources`` row (``FOR UPDATE``; SQLite's
``BEGIN IMMEDIATE`` already admits one writer per database), and under READ COMMITTED every statement
after that lock reads what the previous holder committed. Every change is appended to
``jsonserve_changes`` in the same transaction; a record's ``pos`` (its place in the collection's order)
is the ``seq`` of the change that created it.

The writes are synchronous functions of a :class:`sqlalchemy.Connection`: SQLite runs a batch of them
in its writer thread (``group.py``: one transaction, one ``fsync``), PostgreSQL runs each one through
``AsyncConnection.run_sync`` (every statement still awaits asyncpg, inside SQLAlchemy's greenlet).

Example:
    >>> change = await storage.commit(lambda connection: create(storage, connection, "posts", {}))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from jsonserve._types import JSONValue, Record, RecordId
from jsonserve.errors import Conflict, NotFound
from jsonserve.schema.kind import Kind
from jsonserve.storage.base import Check, Dependent, Dependents, Unique
from jsonserve.storage.changelog import Change
from jsonserve.storage.ids import INT_LIMIT, check_client_id, id_key
from jsonserve.storage.sql.changes import insert as log_change
from jsonserve.storage.sql.compile import equals, records, resources

if TYPE_CHECKING:
    from jsonserve.storage.sql.base import SqlStorage

Action = Literal["created", "updated", "deleted"]

# The statements of the frequent writes, built once: SQLAlchemy then finds each one's compiled form by
# a memoized cache key instead of building and hashing a new statement per write (most of a write's
# CPU time on SQLite, where the statements themselves take microseconds).
_NAME, _ID = sa.bindparam("b_name", type_=sa.Text), sa.bindparam("b_id", type_=sa.Text)
_BY_ID = sa.select(records.c.doc).where(records.c.collection == _NAME, records.c.key == _ID)
_LOCKED = _BY_ID.with_for_update()
_RESOURCE = (
    sa.select(resources.c.kind, resources.c.high, resources.c.int_ids)
    .where(resources.c.name == _NAME)
    .with_for_update()
)
_RAISE_HIGH = resources.update().where(resources.c.name == _NAME).values(high=sa.bindparam("high", type_=sa.BigInteger))
_STRING_IDS = resources.update().where(resources.c.name == _NAME).values(int_ids=sa.false())
_INSERT = records.insert()
_REPLACE = (
    records.update()
    .where(records.c.collection == _NAME, records.c.key == _ID)
    .values(doc=sa.bindparam("new", type_=records.c.doc.type))
)


def create(
    storage: SqlStorage,
    connection: sa.Connection,
    collection: str,
    record: Record,
    generated_ids: bool,
    new_collection: bool,
    actor: str | None,
    unique: Unique | None,
) -> Change:
    """Insert a record with a free client id, or the next integer, or a random string id.

    ``unique`` is checked after the collection's row is locked (see the module's docstring).
    """
    id_field = storage.id_field
    if new_collection:
        _add_collection(storage, connection, collection)
    meta = _locked_resource(connection, collection)
    if unique is not None:
        _check_unique(storage, connection, collection, unique)
    record_id = _choose_id(storage, connection, collection, meta, record.get(id_field), generated_ids)
    stored = {**{k: v for k, v in record.items() if k != id_field}, id_field: record_id}
    if isinstance(record_id, int):
        if record_id > meta.high:
            connection.execute(_RAISE_HIGH, {"b_name": collection, "high": record_id})
    elif meta.int_ids:
        connection.execute(_STRING_IDS, {"b_name": collection})
    change = _log(storage, connection, collection, "created", record_id, stored, None, actor)
    connection.execute(_INSERT, {"collection": collection, "key": id_key(record_id), "pos": change.seq, "doc": stored})
    return change


def update(
    storage: SqlStorage,
    connection: sa.Connection,
    collection: str,
    record_id: str,
    build: Callable[[Record], Record],
    check: Check,
    actor: str | None,
) -> Change:
    """Replace a record with ``build(current)`` under a row lock, keeping its id."""
    current = _fetch(connection, collection, record_id, lock=True)
    check(current)
    if current is None:
        raise NotFound(f"no record in {collection} with id {record_id!r}")
    stored_id = current[storage.id_field]
    new = {**build(current), storage.id_field: stored_id}
    connection.execute(_REPLACE, {"b_name": collection, "b_id": record_id, "new": new})
    return _log(storage, connection, collection, "updated", stored_id, new, current, actor)  # type: ignore[arg-type]


def delete(
    storage: SqlStorage,
    connection: sa.Connection,
    collection: str,
    record_id: str,
    dependents: Dependents,
    check: Check,
    actor: str | None,
) -> list[Change]:
    """Delete a record, then sweep its dependents (children deleted or their key nulled)."""
    current = _fetch(connection, collection, record_id, lock=True)
    check(current)
    if current is None:
        raise NotFound(f"no record in {collection} with id {record_id!r}")
    return _delete_tree(storage, connection, collection, record_id, dependents, actor)


def update_singular(
    storage: SqlStorage,
    connection: sa.Connection,
    name: str,
    build: Callable[[Record], Record],
    check: Check,
    actor: str | None,
) -> Change:
    """Replace a singular object with ``build(current)`` under a row lock."""
    select = sa.select(resources.c.doc).where(resources.c.name == name)
    current = connection.execute(storage.lock(select)).scalar_one()
    check(current)
    new = build(current)
    connection.execute(resources.update().where(resources.c.name == name).values(doc=new))
    return _log(storage, connection, name, "updated", None, new, current, actor)


async def fetch(connection: AsyncConnection, collection: str, key: str, *, lock: bool = False) -> Record | None:
    """One record by the text of its id, optionally locked for the transaction."""
    select = sa.select(records.c.doc).where(records.c.collection == collection, records.c.key == key)
    if lock:
        select = select.with_for_update()
    return (await connection.execute(select)).scalar_one_or_none()


def _fetch(connection: sa.Connection, collection: str, key: str, *, lock: bool = False) -> Record | None:
    """:func:`fetch` inside a write (a synchronous connection)."""
    return connection.execute(_LOCKED if lock else _BY_ID, {"b_name": collection, "b_id": key}).scalar_one_or_none()


def _delete_tree(
    storage: SqlStorage,
    connection: sa.Connection,
    collection: str,
    record_id: str,
    dependents: Dependents,
    actor: str | None,
) -> list[Change]:
    kinds = storage.kinds()
    done: list[Change] = []
    pending = [(collection, record_id)]
    while pending:
        name, key = pending.pop(0)
        deleted = connection.execute(
            records.delete().where(records.c.collection == name, records.c.key == key).returning(records.c.doc)
        )
        previous = deleted.scalar_one_or_none()
        if previous is None:
            continue
        done.append(_log(storage, connection, name, "deleted", previous[storage.id_field], None, previous, actor))
        for dependent in dependents(name):
            if kinds.get(dependent.collection) is Kind.PLURAL:
                done += _sweep(storage, connection, dependent, key, pending, actor)
    return done


def _sweep(
    storage: SqlStorage,
    connection: sa.Connection,
    dependent: Dependent,
    parent: str,
    pending: list[tuple[str, str]],
    actor: str | None,
) -> list[Change]:
    """The children of a deleted parent in one collection: checked and queued for deletion, or their key nulled.

    A refused check raises inside the transaction, which rolls the whole delete back.
    """
    name, fk = dependent.collection, dependent.foreign_key
    match = sa.and_(records.c.collection == name, equals(storage.access, (fk,), parent))
    rows = connection.execute(storage.lock(sa.select(records.c.key, records.c.doc).where(match))).all()
    done: list[Change] = []
    for key, doc in rows:
        if dependent.delete:
            dependent.check(doc)
            pending.append((name, key))
            continue
        new = {**doc, fk: None}
        connection.execute(records.update().where(records.c.collection == name, records.c.key == key).values(doc=new))
        done.append(_log(storage, connection, name, "updated", doc[storage.id_field], new, doc, actor))
    return done


def _add_collection(storage: SqlStorage, connection: sa.Connection, collection: str) -> None:
    """Register an empty collection after the others (a no-op when another writer just did)."""
    last = connection.execute(sa.select(sa.func.max(resources.c.position))).scalar_one()
    position = -1 if last is None else int(last)
    connection.execute(
        storage.insert_ignoring_conflicts(
            resources, name=collection, kind="plural", position=position + 1, high=0, int_ids=True
        )
    )


def _check_unique(storage: SqlStorage, connection: sa.Connection, collection: str, unique: Unique) -> None:
    """:class:`ValueTaken` when a record already holds ``unique``'s value: SQL narrows, ``Unique.clashes`` decides.

    The narrowing lower-cases as every case-insensitive filter does (``JsonAccess.lower``: Python's own
    on SQLite, ICU's root locale on PostgreSQL, both ``str.lower``), so it keeps every clashing record.
    """
    access, path = storage.access, (unique.field,)
    narrowed = sa.and_(
        records.c.collection == collection,
        access.kind(path) == "string",
        access.lower(access.text(path)) == unique.lowered,
    )
    for (doc,) in connection.execute(sa.select(records.c.doc).where(narrowed)):
        if unique.clashes(doc):
            raise unique.taken(collection)


def _locked_resource(connection: sa.Connection, collection: str) -> Any:
    meta = connection.execute(_RESOURCE, {"b_name": collection}).one_or_none()
    if meta is None or meta.kind != Kind.PLURAL:
        raise NotFound(f"no collection {collection!r}")
    return meta


def _choose_id(
    storage: SqlStorage, connection: sa.Connection, collection: str, meta: Any, client: JSONValue, generated: bool
) -> RecordId:
    if client is not None and not generated:
        record_id = check_client_id(client)
        if _fetch(connection, collection, id_key(record_id)) is not None:
            raise Conflict(f"{collection} already has a record with id {record_id!r}")
        return record_id
    if meta.int_ids and not generated and meta.high < INT_LIMIT:
        return int(meta.high) + 1
    while _fetch(connection, collection, candidate := storage.new_id()) is not None:
        continue
    return candidate


def _log(
    storage: SqlStorage,
    connection: sa.Connection,
    collection: str,
    action: Action,
    record_id: RecordId | None,
    record: Record | None,
    previous: Record | None,
    actor: str | None,
) -> Change:
    change = Change(collection, action, record_id, record, previous, 0, storage.clock(), actor)
    return replace(change, seq=log_change(connection, collection, action, change))

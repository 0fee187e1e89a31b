"""The SQL change log: the ``jsonserve_changes`` table every write appends to in its own transaction.

``seq`` is the table's auto-increment key, so it orders changes per database, across instances.
A sequence can leave gaps (a rolled-back write consumed a number), so the log cannot tell a pruned
change from one that never committed: it asks a reader to resync when its ``seq`` is older than
the oldest row kept, which is safe (never a silent loss) and rare.

Note for readers across instances (PostgreSQL): a transaction that took a lower ``seq`` may commit
after one that took a higher; a reader that must never skip one waits for lower numbers in flight
(the realtime layer's job), since a ``since`` read alone can see 11 before 10 commits.

Example:
    >>> await storage.changes.since(41)  # doctest: +SKIP
    [Change(collection='posts', action='created', id=7, ...)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from jsonserve.errors import ResyncRequired
from jsonserve.storage.changelog import DEFAULT_RETENTION, Change, ChangeLog, Retention
from jsonserve.storage.ids import id_key
from jsonserve.storage.sql.compile import changes

if TYPE_CHECKING:
    from jsonserve.storage.sql.base import SqlStorage

ADDED_COLUMNS = ("previous", "actor")  # added after the first release: created on open where missing
_INSERT = changes.insert().returning(changes.c.seq)  # built once: its compiled form is found by a memoized key
_NEWEST = sa.select(sa.func.max(changes.c.seq))
_OLDEST = sa.select(sa.func.min(changes.c.seq))
_FIRST_YOUNG = (  # the oldest change among the prunable ones that is still young enough to keep
    sa.select(changes.c.seq)
    .where(changes.c.seq <= sa.bindparam("aged"), changes.c.at >= sa.bindparam("old"))
    .order_by(changes.c.seq)
    .limit(1)
)
_DELETE_UPTO = changes.delete().where(changes.c.seq <= sa.bindparam("cut"))


class SqlChangeLog(ChangeLog):
    """The change log of one :class:`SqlStorage`, read from its table."""

    def __init__(
        self, storage: SqlStorage, retention: Retention = DEFAULT_RETENTION, clock: Callable[[], float] = time.time
    ) -> None:
        self._storage = storage
        self.retention = retention
        self._clock = clock

    async def latest(self) -> int:
        """The highest committed ``seq`` (0 before the first write)."""

        async def work(connection: AsyncConnection) -> int:
            return int((await connection.execute(sa.select(sa.func.max(changes.c.seq)))).scalar_one() or 0)

        return await self._storage.read(work)

    async def since(self, seq: int, limit: int = 1000) -> list[Change]:
        """Committed changes after ``seq``, ascending; :class:`ResyncRequired` when older than the oldest kept."""

        async def work(connection: AsyncConnection) -> tuple[list[Change], int, int]:
            bounds = sa.select(sa.func.min(changes.c.seq), sa.func.max(changes.c.seq))
            oldest, newest = (await connection.execute(bounds)).one()
            query = sa.select(changes).where(changes.c.seq > seq).order_by(changes.c.seq).limit(limit)
            rows = (await connection.execute(query)).mappings().all()
            return [_change(row, self._storage.id_field) for row in rows], int(oldest or 0), int(newest or 0)

        found, oldest, newest = await self._storage.read(work)
        if oldest and seq < oldest - 1:
            raise ResyncRequired(
                f"changes after seq {seq} are no longer retained (the oldest kept is {oldest})", newest
            )
        if seq > newest:  # a seq this database never reached: it was replaced since
            raise ResyncRequired(f"seq {seq} is ahead of this store's latest ({newest})", newest)
        return found

    async def append(self, entries: Iterable[Change]) -> None:
        """Append changes made outside a write (their ``seq`` is assigned anew by the table)."""
        listed = list(entries)

        def work(connection: sa.Connection) -> None:
            for entry in listed:
                insert(connection, entry.collection, entry.action, entry)

        await self._storage.commit(work)

    async def prune(self, connection: AsyncConnection) -> None:
        """Delete what :class:`Retention` no longer keeps (:meth:`prune_sync` through ``run_sync``)."""
        await connection.run_sync(self.prune_sync)

    def prune_sync(self, connection: sa.Connection) -> None:
        """Delete what :class:`Retention` no longer keeps: the oldest changes, up to one cut.

        Beyond the newest ``changes``, the oldest are deleted while they are older than ``seconds``
        (as the in-memory ring drops them: a prefix, up to the first younger one), and anything beyond
        ``ceiling``. Each statement walks the primary key from the oldest row and stops at the first
        one kept, so a prune that deletes nothing costs a few index lookups (a filter on ``at`` over
        every prunable row took ~10-50 ms every 1,000 writes with 100,000 changes kept).
        """
        retention = self.retention
        newest = connection.execute(_NEWEST).scalar_one() or 0
        cut = newest - retention.ceiling
        aged = newest - retention.changes
        if aged > cut:
            young = connection.execute(_FIRST_YOUNG, {"aged": aged, "old": self._clock() - retention.seconds})
            first_young = young.scalar_one_or_none()
            cut = max(cut, aged if first_young is None else first_young - 1)
        oldest = connection.execute(_OLDEST).scalar_one()
        if oldest is not None and cut >= oldest:
            connection.execute(_DELETE_UPTO, {"cut": cut})


def insert(connection: sa.Connection, collection: str, action: str, change: Change) -> int:
    """Append one change in the caller's transaction; its ``seq``."""
    values: dict[str, Any] = {
        "collection": collection,
        "action": action,
        "record_id": None if change.id is None else id_key(change.id),
        "record": change.record,
        "previous": change.previous,
        "actor": change.actor,
        "at": change.at,
    }
    return int(connection.execute(_INSERT, values).scalar_one())


async def add_missing_columns(connection: AsyncConnection) -> None:
    """Give a change-log table created by an earlier version the columns it lacks."""

    def existing(sync_connection: sa.Connection) -> set[str]:
        # The columns a query names, not SQLAlchemy's reflection: on PostgreSQL that took 16 ms of each open.
        return set(sync_connection.execute(sa.select(sa.text("*")).select_from(changes).limit(0)).keys())

    present = await connection.run_sync(existing)
    for name in ADDED_COLUMNS:
        if name not in present:
            column = changes.c[name]
            kind = column.type.compile(dialect=connection.dialect)
            await connection.exec_driver_sql(f"ALTER TABLE {changes.name} ADD COLUMN {name} {kind}")


def _change(row: Any, id_field: str) -> Change:
    record, previous, record_id = row["record"], row["previous"], row["record_id"]
    # The id as stored (an integer stays one); the key column holds its text. A singular object's
    # change has no id, even when the object holds an "id" field.
    if record_id is not None:
        docs = (record, previous)
        record_id = next((doc[id_field] for doc in docs if isinstance(doc, dict) and id_field in doc), record_id)
    return Change(
        row["collection"],
        row["action"],
        record_id,
        record,
        previous,
        int(row["seq"]),
        row["at"],
        row["actor"],
    )

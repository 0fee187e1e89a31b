"""Recent reads as the driver ran them, so that a repeated read is neither built nor compiled again.

Building a filter's SQLAlchemy expression and generating its cache key cost more than running it
(a ``?userId=3`` builds about a hundred clause objects: the typed tests of ``compile.py``). The
first time a read runs, it goes through SQLAlchemy as usual (whose compiled cache holds one entry
per query *shape*) and :func:`capture` records the final SQL and parameters the driver received;
from then on the same read (the same :class:`~jsonserve.query.model.Query` and window) is that
SQL, executed as is (``exec_driver_sql``). The driver caches its own work per SQL text too:
``sqlite3`` its prepared statements, asyncpg its server-side prepared statements, so a repeated read
is also one round trip to PostgreSQL.

Only a read that succeeded is kept; the cache is bounded (least recently used first out). A read
of a filter whose *pattern* is known (the same filter with other values: ``patterns.py``) is its
pattern's SQL with its own parameters, built neither.

Example:
    >>> rows = statements.rows(connection, ("posts", where), lambda: select)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from jsonserve._types import Record
from jsonserve.storage.sql.patterns import Pattern, Templates

CAPTURE = "jsonserve_capture"
"""The execution option whose list :func:`capture` appends the driver's ``(statement, parameters)`` to."""
SIZE = 512
"""Reads kept per storage."""


def capture(
    _connection: sa.Connection,
    _cursor: object,
    statement: str,
    parameters: Any,
    context: Any,
    _executemany: bool,
) -> None:
    """``before_cursor_execute`` listener: hand the final SQL to a read that asked for it."""
    box = context.execution_options.get(CAPTURE) if context is not None else None
    if box is not None:
        box.append((statement, parameters))


class Statements:
    """A bounded map from a read's key to the ``(sql, parameters)`` it ran as."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._known: OrderedDict[Hashable, tuple[str, Any]] = OrderedDict()
        self.templates = Templates(size)  # per filter pattern (``patterns.py``)

    def __len__(self) -> int:
        return len(self._known)

    def execute(
        self,
        connection: sa.Connection,
        key: tuple[Any, ...],
        build: Callable[[], sa.Executable],
        pattern: Callable[[], Pattern | None] = lambda: None,
    ) -> Sequence[sa.Row[Any]]:
        """The rows of the read ``key`` names: its stored SQL if known, else ``build()`` run and stored.

        ``pattern()`` is the read's filter pattern, if it has one: its template serves a read not
        kept, and a read built here teaches it.
        """
        known = self.known(key, pattern)
        if known is not None:
            return connection.exec_driver_sql(*known).all()
        box: list[tuple[str, Any]] = []
        rows = connection.execute(build(), execution_options={CAPTURE: box}).all()
        if len(box) == 1:  # one statement reached the driver: it is the whole read
            self._known[key] = box[0]
            if len(self._known) > self.size:
                self._known.popitem(last=False)
            if (split := pattern()) is not None:
                self.templates.learn(split.key(key), split.forms, *box[0])
        return rows

    def known(
        self, key: tuple[Any, ...], pattern: Callable[[], Pattern | None] = lambda: None
    ) -> tuple[str, Any] | None:
        """The SQL and parameters the read ``key`` names ran as (if it ran and is still kept), or its pattern's."""
        known = self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)
            return known
        split = pattern()
        return None if split is None else self.templates.fill(split.key(key), split.forms)

    def sql(self, name: str) -> str | None:
        """The stored SQL of a read :meth:`point` names, once it has run."""
        known = self._known.get(name)
        return None if known is None else known[0]

    def point(self, connection: sa.Connection, name: str, build: Callable[[], sa.Executable], *values: object) -> Any:
        """The first value of a read whose SQL never changes, with ``values`` as its parameters, in order.

        (GET by id: one stored statement serves every collection and id.)
        """
        known = self._known.get(name)
        if known is not None:
            rows = connection.exec_driver_sql(known[0], values).all()
            return document(rows[0][0]) if rows else None
        box: list[tuple[str, Any]] = []
        rows = connection.execute(build(), execution_options={CAPTURE: box}).all()
        if len(box) == 1 and tuple(box[0][1]) == values:  # the parameters are ``values``, in this order
            self._known[name] = box[0]
        return rows[0][0] if rows else None

    def scalar(self, connection: sa.Connection, key: tuple[Any, ...], build: Callable[[], sa.Executable]) -> Any:
        """The one value of a one-row read."""
        return self.execute(connection, key, build)[0][0]


def document(value: Any) -> Record:
    """A document as a row brings it: parsed already, or JSON text (the stored SQL's rows on SQLite)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value  # type: ignore[no-any-return]

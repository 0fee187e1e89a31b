"""Relations loaded one level at a time: one read for every record of a level, never one per record.

Every record the resolvers hand to GraphQL is a :class:`Row`: the record and the :class:`Batch` it
was read with (a page of a list, a record by id, or every child one relation read for a whole level).
A relation field of any row loads once for its whole batch: ``posts(limit: 100) { comments { body } }``
reads the posts (one read), then the comments whose ``postId`` is ``in`` those 100 ids (one read),
which form the next level's batch, and so on down. Loads are keyed by the relation and its
arguments, so aliases with other arguments load apart. The number of reads depends on the query's
shape, never on the number of records.

The reads go through :meth:`Service.find_related`, the caller's read path: rules apply to related
records as to ``_embed``'s, and a relation to a collection the caller may not read is empty.

Example:
    >>> batch = Batch(page.items)  # doctest: +SKIP
    >>> index = await batch.load(("comments",), lambda records: children(...))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from jsonserve._types import JSONValue, Record
from jsonserve.auth.principal import Principal
from jsonserve.query.model import MATCH_ALL, AllOf, Condition, Node, Op, Query, SortKey
from jsonserve.query.text import to_text
from jsonserve.service import Service

T = TypeVar("T")


class Batch:
    """Records read together; the loads their relation fields share."""

    __slots__ = ("_loads", "records")

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self._loads: dict[Hashable, asyncio.Future[Any]] = {}

    def rows(self) -> list[Row]:
        """A :class:`Row` for each record, in order."""
        return [Row(record, self) for record in self.records]

    async def load(self, key: Hashable, make: Callable[[list[Record]], Awaitable[T]]) -> T:
        """``make(records)`` once per ``key`` for the whole batch; every caller awaits the same result."""
        future = self._loads.get(key)
        if future is None:
            future = self._loads[key] = asyncio.ensure_future(make(self.records))
        result: T = await asyncio.shield(future)  # one caller's cancellation must not cancel the others' load
        return result


@dataclass(frozen=True, slots=True)
class Row:
    """One record as GraphQL sees it: its fields, and the batch its relations load with."""

    record: Record
    batch: Batch

    @staticmethod
    def alone(record: Record) -> Row:
        """A record read by itself (by id, or written by a mutation)."""
        return Row(record, Batch([record]))


@dataclass(frozen=True)
class Reader:
    """The Service and the caller on whose behalf related records are read."""

    service: Service
    principal: Principal

    async def children(
        self, collection: str, key: str, ids: list[JSONValue], where: Node, sort: tuple[SortKey, ...]
    ) -> dict[str, list[Row]]:
        """The records of ``collection`` whose ``key`` is one of ``ids`` (and match ``where``), by that key's text."""
        texts = _texts(ids)
        if not texts:
            return {}
        link = Condition((key,), Op.IN, texts)
        query = Query(collection, where=link if where == MATCH_ALL else AllOf((link, where)), sort=sort)
        page = await self.service.find_related(query, principal=self.principal)
        batch = Batch(page.items)
        index: dict[str, list[Row]] = defaultdict(list)
        for record in page.items:
            value = record.get(key)
            if _linkable(value):
                index[to_text(value)].append(Row(record, batch))  # type: ignore[arg-type]
        return index

    async def parents(self, collection: str, id_field: str, references: list[JSONValue]) -> dict[str, Row]:
        """The records of ``collection`` whose id is one of ``references``, by the id's text (the first of equals)."""
        texts = _texts(references)
        if not texts:
            return {}
        query = Query(collection, where=Condition((id_field,), Op.IN, texts))
        page = await self.service.find_related(query, principal=self.principal)
        batch = Batch(page.items)
        index: dict[str, Row] = {}
        for record in page.items:
            value = record.get(id_field)
            if _linkable(value):
                index.setdefault(to_text(value), Row(record, batch))  # type: ignore[arg-type]
        return index


def link_text(value: object) -> str | None:
    """The text a key is matched by (as ``_embed`` matches: ``"1"`` finds ``1``), or ``None`` if it links nothing."""
    return to_text(value) if _linkable(value) else None  # type: ignore[arg-type]


def _texts(values: list[JSONValue]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(to_text(value) for value in values if _linkable(value)))  # type: ignore[arg-type]


def _linkable(value: object) -> bool:
    return value is not None and not isinstance(value, dict | list)

"""Inferred shapes of the live collections, kept current without rescans.

A collection's shape is inferred the first time it is asked for, from its first :data:`SAMPLE`
records; from then on every committed write widens it (:meth:`Shapes.observe`, called by the
Service for each published change). When the storage reports data changed outside its own writes
(a reloaded edit, see :meth:`Storage.generation`), every shape is inferred afresh on next use.

Example:
    >>> shapes = Shapes(storage)  # doctest: +SKIP
    >>> (await shapes.shape("posts")).to_json_schema()["properties"]["title"]  # doctest: +SKIP
    {'type': 'string'}
"""

from __future__ import annotations

from jsonserve.query.model import Query, Slice
from jsonserve.schema.infer import Shape, infer
from jsonserve.storage.base import Storage
from jsonserve.storage.changelog import Change

SAMPLE = 1000  # records read to infer a shape; later writes widen it


class Shapes:
    """Per-collection :class:`Shape` values for one storage."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._shapes: dict[str, Shape] = {}
        self._generation = storage.generation()

    async def shape(self, collection: str) -> Shape:
        """The shape of a collection's records (inferred from a sample on first use)."""
        self._forget_if_reloaded()
        shape = self._shapes.get(collection)
        if shape is None:
            page = await self._storage.find(Query(collection, window=Slice(0, SAMPLE)))
            shape = self._shapes[collection] = infer(list(page.items))
        return shape

    def observe(self, change: Change) -> bool:
        """Widen the shape of a written record's collection (shapes never narrow); ``True`` if it widened.

        A collection whose shape was not inferred yet is left alone: its first inference sees the write.
        """
        shape = self._shapes.get(change.collection)
        if shape is not None and change.record is not None and change.id is not None:
            return shape.observe(change.record)
        return False

    def _forget_if_reloaded(self) -> None:
        generation = self._storage.generation()
        if generation != self._generation:
            self._shapes.clear()
            self._generation = generation

"""What a write checks and adds before storage applies it: preconditions, timestamps, the delete sweep.

Example:
    >>> stamped({"title": "x", "createdAt": "forged"}, None, 0.0)
    {'title': 'x', 'createdAt': '1970-01-01T00:00:00.000Z', 'updatedAt': '1970-01-01T00:00:00.000Z'}
"""

from __future__ import annotations

from datetime import UTC, datetime

from jsonserve._types import Record
from jsonserve.errors import FieldError, PreconditionFailed, QueryError
from jsonserve.schema.relations import Relations
from jsonserve.service.catalogue import CREATED_AT, STAMPS, UPDATED_AT
from jsonserve.service.values import etag_matches, record_etag
from jsonserve.storage.base import Check, Dependent, Dependents


def precondition(if_match: str | None) -> Check:
    """The storage check of an ``If-Match`` header: the current record's ETag must match (strongly)."""

    def check(current: Record | None) -> None:
        if if_match is None:
            return
        if current is None or not etag_matches(if_match, record_etag(current), weak=False):
            raise PreconditionFailed("the record has changed since it was read (If-Match does not match its ETag)")

    return check


def stamped(body: Record, current: Record | None, now: float) -> Record:
    """``body`` with server-managed ``createdAt``/``updatedAt`` (``--timestamps``); a client's own are dropped."""
    moment = iso(now)
    created = moment if current is None else current.get(CREATED_AT)
    stamps = {CREATED_AT: created, UPDATED_AT: moment} if created is not None else {UPDATED_AT: moment}
    return {**{key: value for key, value in body.items() if key not in STAMPS}, **stamps}


def iso(timestamp: float) -> str:
    """``2026-11-23T10:00:00.123Z``: UTC, milliseconds, as JavaScript's ``toISOString`` writes it."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sweep_plan(relations: Relations, requested: tuple[str, ...], *, cascade: bool) -> Dependents:
    """What a delete does to each collection's children: delete them (``cascade``, ``_dependent``) or null their key.

    Raises :class:`QueryError` when ``_dependent`` names an unknown collection.
    """
    unknown = [name for name in requested if name not in relations.collections]
    if unknown:
        raise QueryError(
            f"`_dependent` names unknown collections: {', '.join(unknown)}",
            [FieldError("_dependent", f"unknown collection {name!r}", "unknown_collection") for name in unknown],
        )

    def dependents(collection: str) -> list[Dependent]:
        key = relations.foreign_key(collection)
        return [Dependent(name, key, cascade or name in requested) for name in sorted(relations.collections)]

    return dependents

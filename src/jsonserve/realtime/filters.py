"""What a subscription asks for, checked: a collection (one record, or a ``_where`` filter), or a channel.

The checks raise the REST errors (``invalid_message``, ``unknown_collection``, ``invalid_query``),
so that the WebSocket's error frames and the SSE endpoint's problem responses carry the same codes.

Example:
    >>> wanted = change_filter({"posts": Kind.PLURAL}, "posts", None, {"views": {"gt": 100}})
    >>> wanted.accepts(Change("posts", "created", 1, {"id": 1, "views": 250}, None, 1, 0.0))
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from jsonserve.errors import InvalidMessage, UnknownCollection
from jsonserve.query.evaluate import matches
from jsonserve.query.model import Node
from jsonserve.query.where import parse_where
from jsonserve.realtime.frames import SubId
from jsonserve.schema.kind import Kind
from jsonserve.storage.changelog import Change
from jsonserve.storage.ids import id_key

CHANNEL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
MAX_ID_LENGTH = 100


@dataclass(frozen=True)
class ChangeFilter:
    """The changes one subscription wants: of ``collection``, of one ``record`` (its id as text), matching ``where``."""

    collection: str
    record: str | None = None
    where: Node | None = None

    def accepts(self, change: Change) -> bool:
        """Whether ``change`` is one of them (a delete matches on ``previous``, an update on either side)."""
        if change.collection != self.collection:
            return False
        if change.action == "reset":
            return True
        if self.record is not None and (change.id is None or id_key(change.id) != self.record):
            return False
        if self.where is None:
            return True
        return any(doc is not None and matches(doc, self.where) for doc in (change.record, change.previous))


@dataclass(frozen=True)
class AnyFilter:
    """The changes any of several filters wants (one SSE stream over several collections, one ``seq`` order)."""

    filters: tuple[ChangeFilter, ...]

    def accepts(self, change: Change) -> bool:
        """Whether one of the filters accepts ``change``."""
        return any(wanted.accepts(change) for wanted in self.filters)


Wanted = ChangeFilter | AnyFilter
"""What a change subscription wants."""


def change_filter(kinds: Mapping[str, Kind], collection: object, record: object, where: object) -> ChangeFilter:
    """The filter a subscription's ``collection``, ``record`` and ``where`` describe, or the error they deserve."""
    if not isinstance(collection, str) or not collection:
        raise InvalidMessage("`collection` must be the name of a collection")
    kind = kinds.get(collection)
    if kind is None:
        raise UnknownCollection(f"no collection or singular resource named {collection!r}")
    if record is not None and (isinstance(record, bool) or not isinstance(record, str | int)):
        raise InvalidMessage("`record` must be a record id (a string or an integer)")
    if record is not None and kind is Kind.SINGULAR:
        raise InvalidMessage(f"{collection!r} is a singular resource: subscribe to it without `record`")
    node = None if where is None else parse_where(where)
    return ChangeFilter(collection, None if record is None else id_key(record), node)


def check_channel(channel: object) -> str:
    """A valid channel name (1-100 characters of ``A-Z a-z 0-9 _ . : -``), or :class:`InvalidMessage`."""
    if not isinstance(channel, str) or not CHANNEL_NAME.fullmatch(channel):
        raise InvalidMessage("a channel name has 1 to 100 characters of A-Z, a-z, 0-9, _ . : and -")
    return channel


def check_since(since: object) -> int | None:
    """``since``: absent, or a non-negative integer ``seq``."""
    if since is None:
        return None
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise InvalidMessage("`since` must be a non-negative integer (the last seq received)")
    return since


def check_sub_id(sub: object) -> SubId:
    """A subscription id: a string of 1-100 characters, or an integer."""
    if isinstance(sub, int) and not isinstance(sub, bool):
        return sub
    if isinstance(sub, str) and 0 < len(sub) <= MAX_ID_LENGTH:
        return sub
    raise InvalidMessage(f"`id` must be a string of 1 to {MAX_ID_LENGTH} characters, or an integer")

"""The frozen, transport-free query model that both json-server dialects parse into.

Values are kept as the text the client sent (``_where`` values are turned into the same text), and
the evaluator compares them with the stored value's own type: ``"1"`` matches the number ``1`` and
the string ``"1"`` alike. That one rule serves 0.17 (``String(item.field) === value``) and fixes 1.x
(which could not match numeric-looking strings).

Example:
    >>> Query("posts", where=AllOf((Condition(("views",), Op.GT, "100"),)), sort=(SortKey(("views",), True),))
    ... # doctest: +ELLIPSIS
    Query(collection='posts', ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from jsonserve._types import Record

Path: TypeAlias = tuple[str, ...]


class Op(StrEnum):
    """Filter operators (1.x names; 0.17's ``_gte``/``_lte``/``_ne``/``_like`` map onto them)."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    IN = "in"
    CONTAINS = "contains"
    STARTS_WITH = "startsWith"
    ENDS_WITH = "endsWith"
    LIKE = "like"


@dataclass(frozen=True)
class Condition:
    """``path op value``; ``value`` is a tuple of texts for ``in``, else one text.

    ``ne`` may take a tuple too: equal to none of them (what repeated ``field_ne=`` keys mean).
    """

    path: Path
    op: Op
    value: str | tuple[str, ...]


@dataclass(frozen=True)
class TextSearch:
    """json-server's ``q``: a case-insensitive substring anywhere in the record but its ``skip`` fields.

    ``skip`` names top-level fields the search never looks into (with ``--auth``, a user's password
    hash and token version: the Service's read path sets it, so ``q`` cannot probe a hash).
    """

    text: str
    skip: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AllOf:
    """Every child matches (an empty ``AllOf`` matches everything)."""

    items: tuple[Node, ...] = ()


@dataclass(frozen=True)
class AnyOf:
    """At least one child matches (an empty ``AnyOf`` matches nothing)."""

    items: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Not:
    """The child does not match (a record lacking the child's field matches: ``not`` of nothing is everything)."""

    item: Node


Node: TypeAlias = Condition | TextSearch | AllOf | AnyOf | Not
MATCH_ALL = AllOf()


@dataclass(frozen=True)
class SortKey:
    """One sort key; ``descending`` for ``_order=desc`` or a leading ``-``."""

    path: Path
    descending: bool = False


@dataclass(frozen=True)
class Slice:
    """0.17's ``_start``/``_end``/``_limit``: ``records[start:stop]``."""

    start: int = 0
    stop: int | None = None


@dataclass(frozen=True)
class PageRequest:
    """A page of ``size`` records, numbered from 1.

    ``clamp``: a page past the end serves the last page (json-server 1.x) rather than nothing (0.17).
    """

    number: int
    size: int
    clamp: bool = False


@dataclass(frozen=True)
class Query:
    """A list request on one collection: filter, sort, window and joins."""

    collection: str
    where: Node = MATCH_ALL
    sort: tuple[SortKey, ...] = ()
    window: Slice | PageRequest | None = None
    embed: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """What a windowed find returns: the records and the count before windowing."""

    items: list[Record]
    total: int

"""``_embed`` and ``_expand``: one level of joins by the ``<singular>Id`` convention.

``_embed=comments`` on posts adds each post's comments (``comment.postId == post.id``);
``_embed=post`` (a singular name, json-server 1.x) or ``_expand=post`` on comments adds the parent
post. Keys are compared loosely (``"1"`` finds ``1``), which fixes json-server's strict-equality
misses. Unknown names are a 400 that lists the valid ones.

Each join is one read, through the caller's read path (so read rules apply to joined records too):
the children whose foreign key is ``in`` the page's ids, or the parents whose id is ``in`` the
page's foreign keys. ``in`` compares as the evaluator's ``equals`` does (``"1"`` finds ``1``), which
every pair of keys with the same text also satisfies; the rows read are then matched by that text,
as before. A page with more than :data:`MAX_IN_KEYS` distinct keys reads the joined collection
whole instead: past that, one scan costs less than testing every row against a long ``in`` list.

Example:
    >>> plan = plan_joins(relations, "posts", ("comments",), ())  # doctest: +SKIP
    >>> await apply_joins(service_read, "id", page.items, plan)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from jsonserve._types import JSONValue, Record
from jsonserve.errors import FieldError, QueryError
from jsonserve.query.model import MATCH_ALL, Condition, Node, Op, Page, Query
from jsonserve.query.text import to_text
from jsonserve.schema.relations import Relations, singular

MAX_IN_KEYS = 100
Fetch = Callable[[Query], Awaitable[Page]]
"""The caller's read path: a find with the caller's read rule applied."""


@dataclass(frozen=True)
class Join:
    """Add ``name`` to each record: children from ``collection`` (a list) or the parent (an object)."""

    name: str
    collection: str
    foreign_key: str
    children: bool


def plan_joins(relations: Relations, collection: str, embed: tuple[str, ...], expand: tuple[str, ...]) -> list[Join]:
    """Resolve ``_embed``/``_expand`` names on ``collection`` into joins, or raise a 400."""
    joins = [_embed_join(relations, collection, name) for name in embed]
    joins += [_parent_join(relations, name, "_expand") for name in expand]
    return joins


def _embed_join(relations: Relations, collection: str, name: str) -> Join:
    if name in relations.collections:
        return Join(name, name, relations.foreign_key(collection), children=True)
    return _parent_join(relations, name, "_embed")


def _parent_join(relations: Relations, name: str, key: str) -> Join:
    parent = relations.parent_collection(name)
    if parent is None:
        valid = ", ".join(sorted(relations.collections | {singular(c) for c in relations.collections}))
        raise QueryError(
            f"`{key}={name}` names no collection; valid names are: {valid}",
            [FieldError(key, f"unknown relation {name!r}", "unknown_relation")],
        )
    return Join(name, parent, name + relations.fk_suffix, children=False)


async def apply_joins(fetch: Fetch, id_field: str, records: list[Record], joins: list[Join]) -> list[Record]:
    """Copies of ``records`` with every join added (stored records are never mutated); one ``fetch`` per join."""
    if not joins or not records:
        return records
    result = [dict(record) for record in records]
    for join in joins:
        index = await _index(fetch, join, records, id_field)
        for record in result:
            _attach(record, join, index, id_field)
    return result


async def _index(fetch: Fetch, join: Join, records: list[Record], id_field: str) -> dict[str, list[Record]]:
    """The joined records that ``records`` link to, grouped by the text of the key that links them."""
    keys = _keys(records, join, id_field)
    if not keys:
        return {}
    key_field = join.foreign_key if join.children else id_field
    where: Node = Condition((key_field,), Op.IN, keys) if len(keys) <= MAX_IN_KEYS else MATCH_ALL
    page = await fetch(Query(join.collection, where=where))
    index: dict[str, list[Record]] = defaultdict(list)
    for candidate in page.items:
        value = candidate.get(key_field)
        if value is not None and not isinstance(value, dict | list):
            index[to_text(value)].append(candidate)
    return index


def _keys(records: list[Record], join: Join, id_field: str) -> tuple[str, ...]:
    """The distinct texts :func:`_attach` looks up: the records' ids (children) or foreign keys (a parent)."""
    keys: dict[str, None] = {}
    for record in records:
        value = record.get(id_field if join.children else join.foreign_key)
        if _scalar(value) and (join.children or value is not None):
            keys[to_text(value)] = None  # type: ignore[arg-type]
    return tuple(keys)


def _attach(record: Record, join: Join, index: dict[str, list[Record]], id_field: str) -> None:
    if join.children:
        own_id = record.get(id_field)
        record[join.name] = list(index.get(to_text(own_id), ())) if _scalar(own_id) else []  # type: ignore[arg-type]
        return
    reference = record.get(join.foreign_key)
    if _scalar(reference) and reference is not None:
        found = index.get(to_text(reference))  # type: ignore[arg-type]
        if found:
            record[join.name] = found[0]


def _scalar(value: JSONValue) -> bool:
    return not isinstance(value, dict | list)

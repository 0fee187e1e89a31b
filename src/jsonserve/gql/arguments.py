"""GraphQL list arguments -> the same :class:`Query` REST builds: one parser, one set of semantics.

``where`` becomes a ``_where`` tree of the data's field names and goes through
:func:`~jsonserve.query.parse_where` (REST's operators, value texts, bounds and messages);
``q`` goes through :func:`~jsonserve.query.parse_params` exactly as ``?q=`` does; ``orderBy`` is
a list of one-field objects, applied in order (REST's ``_sort``, at most 10 keys); ``limit`` is
clamped to the page-size ceiling as ``_limit`` is, and a list without one holds at most that many.

Example:
    >>> where_node(plan, {"views": {"gt": 100}, "not": {"title": {"eq": "x"}}})  # doctest: +SKIP
    AllOf(items=(Condition(path=('views',), op=<Op.GT: 'gt'>, value='100'), Not(...)))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jsonserve.errors import FieldError, QueryError
from jsonserve.gql.plan import LOGICAL, CollectionPlan
from jsonserve.query.limits import check_filter, check_sort
from jsonserve.query.model import MATCH_ALL, AllOf, Node, Slice, SortKey
from jsonserve.query.params import parse_params
from jsonserve.query.where import parse_where


def where_node(plan: CollectionPlan, where: Mapping[str, Any] | None, q: str | None = None) -> Node:
    """The filter of ``where`` (and ``q``) on ``plan``'s collection, bounded as REST's is."""
    nodes: list[Node] = []
    if where:
        nodes.append(parse_where(_tree(plan, where)))
    if q is not None:
        nodes.append(parse_params(plan.name, [("q", q)]).where)
    node = MATCH_ALL if not nodes else nodes[0] if len(nodes) == 1 else AllOf(tuple(nodes))
    check_filter(node)
    return node


def _tree(plan: CollectionPlan, where: Mapping[str, Any]) -> dict[str, Any]:
    """``where`` with GraphQL names turned into the data's (and ``and``/``or``/``not`` kept as groups)."""
    tree: dict[str, Any] = {}
    for name, value in where.items():
        if value is None:
            continue  # an explicit null filter says nothing (as an absent one)
        if name in ("and", "or"):
            tree[name] = [_tree(plan, item) for item in value]
        elif name == "not":
            tree[name] = _tree(plan, value)
        else:
            tree[_key(plan, name)] = {op: _value(v) for op, v in value.items()}
    return tree


def _key(plan: CollectionPlan, name: str) -> str:
    if name == plan.id_name:
        return plan.id_key
    field = plan.field_named(name)
    if field is None or field.key in LOGICAL:  # the schema offers neither; kept as an error, not a silent match
        raise QueryError(f"{plan.type} has no field {name!r} to filter or sort on")
    return field.key


def _value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def sort_keys(plan: CollectionPlan, order_by: Sequence[Mapping[str, str]] | None) -> tuple[SortKey, ...]:
    """``orderBy: [{views: DESC}, {title: ASC}]`` -> REST's ``_sort=-views,title``; one field per element."""
    keys: list[SortKey] = []
    for element in order_by or ():
        chosen = [(name, direction) for name, direction in element.items() if direction is not None]
        if len(chosen) != 1:
            raise QueryError(
                f"each {plan.type}OrderBy names exactly one field (the list gives the order): "
                f"[{{a: ASC}}, {{b: DESC}}], not {len(chosen)}",
                [FieldError("orderBy", "one field per element", "invalid_order")],
            )
        name, direction = chosen[0]
        keys.append(SortKey((_key(plan, name),), direction == "DESC"))
    check_sort(len(keys))
    return tuple(keys)


def window(limit: int | None, offset: int | None, max_page_size: int) -> Slice:
    """``limit``/``offset`` as a slice: ``limit`` clamped to ``max_page_size`` (its default), neither negative."""
    for name, value in (("limit", limit), ("offset", offset)):
        if value is not None and value < 0:
            raise QueryError(
                f"`{name}` must be a whole number ≥ 0, not {value}",
                [FieldError(name, "expected an integer ≥ 0", "invalid_integer")],
            )
    start = offset or 0
    return Slice(start, start + min(max_page_size if limit is None else limit, max_page_size))

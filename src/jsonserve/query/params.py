"""Both json-server query grammars -> one :class:`Query`.

0.17: ``_page _limit _start _end _sort _order _embed _expand q field_gte/_lte/_ne/_like``, repeated
keys as OR. 1.x: ``field:op=v``, ``_per_page`` (a clamped page), ``_sort=-a,b``, ``_where`` JSON. Both
are accepted on every request; ``compat`` only decides whether ``_page`` alone is clamped. Anything
unknown is a :class:`QueryError` that names the valid choices: a typo never returns the whole
collection. ``_delay`` is reserved (never a filter) but is the web layer's to read: it shapes no query.

Example:
    >>> q = parse_params("posts", [("views:gt", "10"), ("_sort", "-views")])
    >>> q.sort[0].descending
    True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from jsonserve.errors import FieldError, QueryError
from jsonserve.query.limits import check_filter, check_path, check_sort
from jsonserve.query.model import (
    AllOf,
    AnyOf,
    Condition,
    Node,
    Op,
    PageRequest,
    Query,
    Slice,
    SortKey,
    TextSearch,
)
from jsonserve.query.text import NUL, check_pattern, refuse_nul
from jsonserve.query.where import MAX_PATTERNS, OP_NAMES, parse_where, patterns

PAGING = ("_page", "_limit", "_start", "_end", "_per_page")
RESERVED = frozenset((*PAGING, "_sort", "_order", "_embed", "_expand", "_where", "_delay", "_dependent", "_", "q"))
# Legacy suffixes (0.17's four, plus the ones 1.x still accepts); longest first so `_lte` wins over `_lt`.
SUFFIX_OPS = sorted(((f"_{op.value}", op) for op in Op), key=lambda pair: -len(pair[0]))
DEFAULT_PAGE_SIZE = 10
MAX_JOINS = 10
MAX_VALUE_LENGTH = 4096
MAX_PAGE = 10**12  # a larger _page is read as this one (page x size must fit a SQL OFFSET)
MAX_INTEGER_DIGITS = 18
MAX_OFFSET = 10**MAX_INTEGER_DIGITS - 1  # a larger _start or _end is read as this one (no store holds as many)


@dataclass(frozen=True)
class ParseOptions:
    """How to read the parameters: the compat line, the page-size ceiling and the id field."""

    compat: str = "0.17"
    max_page_size: int = 1000
    id_field: str = "id"


def parse_params(collection: str, items: Iterable[tuple[str, str]], options: ParseOptions = ParseOptions()) -> Query:
    """Parse the query string pairs of a list (or item) request on ``collection``."""
    params: dict[str, list[str]] = defaultdict(list)
    for key, value in items:
        _check_length(key, value)
        params[key].append(value)
    window = _window(params, options)
    where = _filters(params, options.id_field)
    if len(patterns(where)) > MAX_PATTERNS:  # `_where` and the other filters together
        raise QueryError(f"at most {MAX_PATTERNS} different `_like` patterns in one query")
    check_filter(where)  # ... and no larger than every backend can compile (query/limits.py)
    return Query(
        collection=collection,
        where=where,
        sort=_sort(params),
        window=window,
        embed=_names(params, "_embed"),
        expand=_names(params, "_expand"),
    )


def parse_dependents(items: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The ``_dependent`` collections named on a DELETE (repeatable, comma lists allowed)."""
    names: list[str] = []
    for key, value in items:
        if key == "_dependent":
            names.extend(part for part in value.split(",") if part)
    return tuple(names)


def parse_integer(key: str, raw: str, low: int, high: int | None, *, clamp: bool = True) -> int:
    """Read an integer parameter as json-server's whole numbers: ``low`` or more, at most ``high``.

    Above ``high`` it is ``high`` (``clamp``, whatever its number of digits) or a :class:`QueryError`;
    anything else but a whole number (at most 18 characters) is a :class:`QueryError` naming ``key``.
    (So the OpenAPI document states no maximum for a clamped parameter: every whole number is read.)

    Example:
        >>> parse_integer("_limit", " 5000", 0, 1000)
        1000
    """
    # int() of the stripped text: str.strip() removes more than int() skips (e.g. U+001C, a 500 once).
    digits = raw.strip()
    bounded = clamp and high is not None
    # int() takes up to 4300 digits; a query value is at most MAX_VALUE_LENGTH (4096) characters.
    too_long = len(raw) > (MAX_VALUE_LENGTH if bounded else MAX_INTEGER_DIGITS)
    if not digits.isdecimal() or too_long or int(digits) < low:
        raise QueryError(
            f"`{key}` must be a whole number ≥ {low}, not {raw!r}",
            [FieldError(key, f"expected an integer ≥ {low}", "invalid_integer")],
        )
    value = int(digits)
    if high is not None and value > high:
        if not clamp:
            raise QueryError(f"`{key}` must be at most {high}")
        value = high
    return value


def _check_length(key: str, value: str) -> None:
    if len(key) > 256 or len(value) > MAX_VALUE_LENGTH:
        raise QueryError(
            f"query parameter too long (at most 256 characters for a name, {MAX_VALUE_LENGTH} for a value)"
        )
    if NUL in key or NUL in value:
        refuse_nul(key)


def _filters(params: dict[str, list[str]], id_field: str) -> Node:
    nodes: list[Node] = []
    for key, values in params.items():
        if key in RESERVED:
            continue
        if key.startswith("_") and not _names_field(key, id_field):
            raise _unknown_param(key)
        if key == "callback":
            raise QueryError("JSONP is not supported (`callback`): read the JSON response with CORS instead")
        nodes.append(_field_filter(key, values))
    if params.get("q"):
        nodes.append(TextSearch(params["q"][0]))
    if params.get("_where"):
        nodes.append(_where(params["_where"][-1]))
    return nodes[0] if len(nodes) == 1 else AllOf(tuple(nodes))


def _names_field(key: str, field: str) -> bool:
    """Whether ``key`` filters on ``field`` (``_id``, ``_id:in``, ``_id_ne``…, for ``--id _id``)."""
    return key == field or key.startswith((f"{field}:", f"{field}.")) or any(key == field + s for s, _ in SUFFIX_OPS)


def _unknown_param(key: str) -> QueryError:
    valid = ", ".join(sorted(RESERVED - {"_"}))
    return QueryError(
        f"unknown query parameter {key!r}; reserved parameters are: {valid}",
        [FieldError(key, "unknown parameter", "unknown_parameter")],
    )


def _field_filter(key: str, values: list[str]) -> Node:
    path, op = _split_key(key)
    conditions = [_condition(path, op, value, key) for value in values]
    if len(conditions) == 1:
        return conditions[0]
    # json-server 0.17: a repeated key is an OR, except `_ne`, which is an AND. An OR of equalities is
    # one `in`, and an AND of `ne` one `ne` of a list (none of them): one condition however many values,
    # which every backend compiles into one test (`?id=1&id=2…&id=9000` is a list, not 9,000 conditions).
    if op in (Op.EQ, Op.IN, Op.NE):
        texts = [text for condition in conditions for text in _texts(condition.value)]
        return Condition(path, Op.NE if op is Op.NE else Op.IN, tuple(texts))
    return AnyOf(tuple(conditions))


def _texts(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def _split_key(key: str) -> tuple[tuple[str, ...], Op]:
    if ":" in key:
        name, _, op_name = key.rpartition(":")
        try:
            return _path(name, key), Op(op_name)
        except ValueError:
            raise QueryError(
                f"unknown operator {op_name!r} in {key!r}; valid operators are: {OP_NAMES} (and _like)",
                [FieldError(key, "unknown operator", "unknown_operator")],
            ) from None
    for suffix, op in SUFFIX_OPS:
        if key.endswith(suffix) and len(key) > len(suffix):
            return _path(key[: -len(suffix)], key), op
    return _path(key, key), Op.EQ


def _path(name: str, key: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    if not all(parts):
        raise QueryError(f"malformed field path in {key!r}", [FieldError(key, "empty path segment", "bad_path")])
    check_path(parts, key)
    return parts


def _condition(path: tuple[str, ...], op: Op, value: str, key: str) -> Condition:
    if op is Op.IN:
        return Condition(path, op, tuple(value.split(",")))
    if op is Op.LIKE:
        check_pattern(value, key)
    return Condition(path, op, value)


def _where(raw: str) -> Node:
    try:
        tree = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise QueryError("`_where` is not valid JSON", [FieldError("_where", "invalid JSON", "invalid_json")]) from None
    return parse_where(tree)


def _sort(params: dict[str, list[str]]) -> tuple[SortKey, ...]:
    fields = [name for value in params.get("_sort", ()) for name in value.split(",") if name]
    orders = [order for value in params.get("_order", ()) for order in value.split(",") if order]
    for order in orders:
        if order.lower() not in ("asc", "desc"):
            raise QueryError(f"`_order` takes asc or desc, not {order!r}")
    keys = []
    for index, name in enumerate(fields):
        descending = name.startswith("-")
        name = name.removeprefix("-")
        if index < len(orders) and orders[index].lower() == "desc":
            descending = not descending
        keys.append(SortKey(_path(name, "_sort"), descending))
    check_sort(len(keys))
    return tuple(keys)


def _names(params: dict[str, list[str]], key: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name for value in params.get(key, ()) for name in value.split(",") if name))
    if len(names) > MAX_JOINS:
        raise QueryError(f"at most {MAX_JOINS} names in `{key}`")
    return names


def _window(params: dict[str, list[str]], options: ParseOptions) -> Slice | PageRequest | None:
    limit_max = options.max_page_size
    page = _integer(params, "_page", 1, MAX_PAGE)
    per_page = _integer(params, "_per_page", 1, limit_max)
    limit = _integer(params, "_limit", 0, limit_max)
    start = _integer(params, "_start", 0, MAX_OFFSET)  # checked even when a page wins: a bad value is a 400
    end = _integer(params, "_end", 0, MAX_OFFSET)
    if page is not None or per_page is not None:
        size = per_page or limit or DEFAULT_PAGE_SIZE
        # json-server 1.x's pages (`_per_page`, or any page with --compat 1) serve the last page past the end.
        return PageRequest(page or 1, size, clamp=per_page is not None or options.compat == "1")
    if start is None and end is None and limit is None:
        return None
    first = start or 0
    # 0.17: `_end` wins over `_limit` (slice(start, end)); `_limit` alone takes that many from `_start`.
    stop = end if end is not None else (first + limit if limit is not None else None)
    return Slice(first, stop)


def _integer(params: dict[str, list[str]], key: str, low: int, high: int) -> int | None:
    values: Sequence[str] = params.get(key, ())
    return parse_integer(key, values[-1], low, high) if values else None  # the last value wins

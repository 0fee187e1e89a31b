"""Query parameters of list operations, in both json-server dialects.

Every rule here mirrors the parser (``query/params.py``): a value the schema allows is accepted, and
the schemas say what the parser rejects (so a generated request that breaks them gets a 400).
Parameters whose valid values no JSON Schema can state are described in the operation's text
instead: ``_like`` (an RE2 pattern), ``_where`` (a JSON filter tree) and ``_delay``.

Example:
    >>> [p["name"] for p in paging_parameters(1000)][:2]
    ['_page', '_per_page']
"""

from __future__ import annotations

import re
from typing import Any

from jsonserve.openapi.models import NO_NUL
from jsonserve.query.limits import MAX_CONDITIONS, MAX_PATH_SEGMENTS, MAX_SORT_KEYS, MAX_VALUES
from jsonserve.query.params import DEFAULT_PAGE_SIZE, MAX_JOINS, MAX_VALUE_LENGTH
from jsonserve.query.text import NUL

Parameter = dict[str, Any]
_ORDER = "([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc])"
_LIST = "^,*({item}(,+{item})*)?,*$"  # a comma-separated list; empty items are ignored
# The parser refuses NUL anywhere in a query (params.py): `_sort` and `q` say so in their patterns. The
# filter object's values say it in words only: with a pattern there, schemathesis made negative cases
# its form serialisation then lost (the request it sent was valid, and accepted, and it reported that).
_SEGMENT = "[^,.\\u0000]+"
# At most MAX_SORT_KEYS fields of at most MAX_PATH_SEGMENTS segments (query/limits.py).
_SORT_NAME = f"(-{_SEGMENT}|[^,.\\u0000-][^,.\\u0000]*)(\\.{_SEGMENT}){{0,{MAX_PATH_SEGMENTS - 1}}}"
_SORT_LIST = f"^,*({_SORT_NAME}(,+{_SORT_NAME}){{0,{MAX_SORT_KEYS - 1}}})?,*$"
FILTER_OPS_017 = ("ne", "lt", "lte", "gt", "gte")
FILTER_OPS_1 = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startsWith", "endsWith")
MAX_FILTERED_FIELDS = 12


def query(name: str, schema: dict[str, Any], description: str, example: Any = None, **extra: Any) -> Parameter:
    """One optional query parameter; ``example`` goes to its schema's ``examples``.

    Not to the parameter's own ``example``: Swagger UI pre-fills "Try it out" with that (and with a
    schema's ``example``), so GET /posts ran as ``?_page=1&_per_page=10&_start=10&...&id=1`` and a
    user saw one record instead of the list. ReDoc and schemathesis read ``schema.examples`` too.
    """
    if example is not None:
        schema = {**schema, "examples": [example]}
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema, **extra}


def _integer(low: int) -> dict[str, Any]:
    # No maximum: the parser reads a number above its ceiling as the ceiling (the page size), or as
    # an offset past every record; a maximum here would have been 10**18 (ReDoc showed it).
    return {"type": "integer", "minimum": low}


def _text(**constraints: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": MAX_VALUE_LENGTH, **constraints}


def paging_parameters(max_page_size: int) -> list[Parameter]:
    """``_page``/``_per_page`` (pages) and ``_start``/``_end``/``_limit`` (slices) of ``max_page_size`` at most."""
    at_most = f"At most {max_page_size} records (a larger value is read as {max_page_size})."
    size = min(DEFAULT_PAGE_SIZE, max_page_size)
    return [
        query(
            "_page",
            _integer(1),
            "Page number (from 1). 0.17: a plain array with `Link` (empty past the last page); 1.x: the envelope "
            "(the last page past it).",
            example=1,
        ),
        query(
            "_per_page",
            _integer(1),
            f"1.x page size; answers with the `{{first, prev, next, last, data}}` envelope. {at_most}",
            example=size,
        ),
        query(
            "_limit",
            _integer(0),
            f"0.17 page size with `_page`, or the number of records from `_start`. {at_most}",
            example=size,
        ),
        query("_start", _integer(0), "0.17 slice start (0-based).", example=size),
        query("_end", _integer(0), "0.17 slice end (exclusive).", example=2 * size),
    ]


def sort_parameters() -> list[Parameter]:
    """``_sort`` (both dialects) and 0.17's ``_order``."""
    return [
        query(
            "_sort",
            _text(pattern=_SORT_LIST),
            f"Fields to sort by (at most {MAX_SORT_KEYS}), comma-separated; `-field` sorts descending (1.x). "
            "Dotted paths reach nested fields.",
            example="-id",
        ),
        query("_order", _text(pattern=_LIST.format(item=_ORDER)), "0.17: `asc` or `desc` for each `_sort` field."),
    ]


def search_parameter() -> Parameter:
    """0.17's full-text ``q``."""
    return query(
        "q",
        _text(pattern=NO_NUL),
        "Full-text search: records with any string value containing this (case-insensitive).",
    )


def join_parameters(embeds: list[str], expands: list[str]) -> list[Parameter]:
    """``_embed`` (children, or a parent by singular name) and ``_expand`` (parents), when there are relations."""
    found = []
    for name, choices, what in (("_embed", embeds, "children (or a parent)"), ("_expand", expands, "parent")):
        if choices:
            # "" too: the parser ignores an empty name (`_embed=`), so the document must allow it.
            items: dict[str, Any] = {"type": "array", "items": {"enum": [*choices, ""]}}
            if len(choices) > MAX_JOINS:
                items["maxItems"] = MAX_JOINS
            found.append(query(name, items, f"Include each record's {what}.", style="form", explode=True))
    return found


def filter_parameters(fields: list[str], record: dict[str, Any] | None = None) -> list[Parameter]:
    """Field filters as one exploded object: ``field=v``, 0.17's ``field_op=v`` and 1.x's ``field:op=v``.

    One object rather than a parameter per field and operator: a collection with a dozen fields would
    otherwise list over a hundred parameters (and a generated request with all of them at full length
    would not fit in a request line).
    """
    names = [re.escape(field) for field in fields[:MAX_FILTERED_FIELDS]]
    if not names:
        return []
    fields_re = "|".join(names)
    patterns = {
        f"^({fields_re})$": _text(description="equals (repeat the key for OR)"),
        f"^({fields_re})_({'|'.join(FILTER_OPS_017)})$": _text(description="0.17 operators"),
        f"^({fields_re}):({'|'.join(FILTER_OPS_1)})$": _text(description="1.x operators (`in` takes a comma list)"),
    }
    schema = {"type": "object", "patternProperties": patterns, "additionalProperties": False}
    # No example in the schema: Swagger UI fills an object parameter with a sample built from it, and
    # "Try it out" on the list then ran filtered. The description gives one instead.
    example = f"{fields[0]}={_text_of(record.get(fields[0])) if record else '1'}"
    description = (
        f"Filters by field, sent as separate query parameters (e.g. `{example}`): `field=value`, "
        "`field_ne=value` (0.17: "
        f"{', '.join(FILTER_OPS_017)}), `field:gt=value` (1.x: {', '.join(FILTER_OPS_1)}). "
        'Values compare loosely: `1` matches 1 and "1"; none may contain NUL (U+0000). Fields seen in the data: '
        + ", ".join(fields)
        + "."
    )
    return [query("filter", schema, description, style="form", explode=True)]


def _text_of(value: Any) -> str:
    """A scalar as a query string writes it (the example of a filter on it); "1" for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float | str) and NUL not in str(value) else "1"


def filterable(fields: list[str], id_field: str) -> list[str]:
    """Fields that can be named as a filter parameter as they are (no reserved or ambiguous names)."""
    return [
        name
        for name in dict.fromkeys(fields)
        if name
        and (name == id_field or not name.startswith("_"))
        and not any(char in name for char in ".:")
        and name != "q"
        and not name.endswith(tuple(f"_{op}" for op in (*FILTER_OPS_017, "like", "in")))
    ]


LIST_DESCRIPTION = """\
Both json-server dialects are accepted on every request.

* **0.17**: `field=value` (repeat a key for OR), `field_ne`, `field_lt(e)`, `field_gt(e)`, `field_like`
  (an RE2 pattern), `q`, `_page` + `_limit` (with `Link` and `X-Total-Count`), `_start`/`_end`,
  `_sort` + `_order`, `_embed`, `_expand`.
* **1.x**: `field:op=value` with `eq ne lt lte gt gte in contains startsWith endsWith`, `_per_page`
  (answers with the envelope), `_sort=-field`, and `_where` (a JSON filter tree such as
  `{"or": [{"views": {"gt": 100}}, {"title": {"contains": "x"}}]}`).

`_delay=ms` delays the answer. Unknown `_` parameters and operators are a 400 naming the valid ones.
""" + (
    f"One query holds at most {MAX_CONDITIONS} conditions (a repeated key is one), {MAX_VALUES:,} values in its "
    f"`in` lists and repeated keys, {MAX_SORT_KEYS} `_sort` fields and {MAX_PATH_SEGMENTS} segments in a field "
    "path: past these, a 400 names the limit.\n"
)

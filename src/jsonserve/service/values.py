r"""What a stored value may be, how bodies are parsed strictly, and how values are rendered.

One strict parser for every write, so that every backend sees the same values (the backends'
own parsers disagree on NaN, huge numbers, duplicate keys, NUL and lone surrogates). We parse with
the standard library's ``json`` and its hooks, because orjson silently turns integers above 2**64
into floats, keeps the last of duplicate keys and accepts ``\\u0000``; a tree walk then checks depth,
strings and integers.

An integer literal outside 64 bits is refused, naming where it is: storing the nearest double
instead (what JavaScript, and so json-server, does) would change the client's digits without a
word. A number written with a fraction or an exponent (``1e20``) is a double, as the client wrote it.

Example:
    >>> parse_body(b'{"title": "x"}')
    {'title': 'x'}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import orjson

from jsonserve._types import JSONValue, Record
from jsonserve.errors import BodyError, FieldError
from jsonserve.schema.infer import json_type

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_NUMBER_TEXT = 400
MAX_INT_TEXT = 20  # "-9223372036854775808": a longer integer literal cannot fit in 64 bits


@dataclass(frozen=True)
class _HugeInteger:
    """An integer literal beyond 64 bits, kept as its text until the tree walk can say where it is."""

    text: str


def render(value: JSONValue) -> bytes:
    """JSON as json-server sends it: two-space indent."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


def etag_for(body: bytes) -> str:
    """A strong entity tag for a rendered representation."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def record_etag(record: Record) -> str:
    """The entity tag ``GET`` of this record alone carries (what ``If-Match`` is compared with)."""
    return etag_for(render(record))


def etag_matches(header: str, current: str, *, weak: bool = True) -> bool:
    """Whether an ``If-None-Match`` (weak comparison) or ``If-Match`` (``weak=False``) header names ``current``.

    RFC 9110: ``If-Match`` uses the strong comparison, so a ``W/`` tag never matches there.
    """
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or current in tags or (weak and f"W/{current}" in tags)


def parse_body(raw: bytes, *, max_depth: int = 64) -> Record:
    """Parse a write body into a JSON object, or raise :class:`BodyError` saying what is wrong."""
    if not raw.strip():
        raise BodyError("the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the request body is not valid UTF-8") from None
    value = _loads(text)
    if not isinstance(value, dict):
        raise BodyError(f"the request body must be a JSON object, not {_json_type(value)}")
    check_value(value, max_depth=max_depth)
    return value


def check_value(value: JSONValue, *, max_depth: int = 64) -> None:
    """Reject values no backend can store faithfully: deep nesting, NUL, lone surrogates, huge ints."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise BodyError(
                    f"the body is nested deeper than {max_depth} levels", [_field(path, "too deep", "too_deep")]
                )
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    _check_string(key, path)
                stack.append((child, depth + 1, f"{path}/{key}"))
        elif isinstance(item, str):
            _check_string(item, path)
        elif isinstance(item, _HugeInteger):
            _refuse_integer(item.text, path)
        elif isinstance(item, int) and not isinstance(item, bool) and not INT_MIN <= item <= INT_MAX:
            _refuse_integer(str(item), path)


def _loads(text: str) -> JSONValue:
    try:
        return json.loads(  # type: ignore[no-any-return]
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except json.JSONDecodeError as error:
        raise BodyError(
            f"the request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise BodyError("the body is nested too deeply") from None


def _no_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    result: dict[str, JSONValue] = {}
    for key, value in pairs:
        if key in result:
            raise BodyError(
                f"duplicate key {key!r} in the request body", [_field(key, "duplicate key", "duplicate_key")]
            )
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise BodyError(f"{name} is not valid JSON (numbers must be finite)")


def _finite_float(text: str) -> float:
    number = float(text) if len(text) <= MAX_NUMBER_TEXT else float("inf")
    if number in (float("inf"), float("-inf")):
        raise BodyError(f"the number {text[:40]} is out of range")
    return number


def _bounded_int(text: str) -> int | _HugeInteger:
    """An integer of 64 bits, or a marker that :func:`check_value` refuses with the value's path."""
    if len(text) <= MAX_INT_TEXT and INT_MIN <= (number := int(text)) <= INT_MAX:
        return number
    return _HugeInteger(text)


def _refuse_integer(text: str, path: str) -> None:
    shown = text if len(text) <= 40 else f"{text[:20]}… ({len(text.lstrip('-'))} digits)"
    quoted = f' ("{text}")' if len(text) <= 40 else ""
    raise BodyError(
        f"the integer {shown} at {path or '/'} does not fit in 64 bits ({INT_MIN} to {INT_MAX}), "
        f"so it could not be stored exactly: send it as a string{quoted} to keep every digit",
        [_field(path, "integer out of the 64-bit range", "out_of_range")],
    )


def _check_string(text: str, path: str) -> None:
    if "\x00" in text:
        raise BodyError("strings may not contain NUL (\\u0000)", [_field(path, "NUL character", "nul_character")])
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(
            "strings may not contain lone surrogates", [_field(path, "lone surrogate", "lone_surrogate")]
        ) from None


def _field(path: str, message: str, code: str) -> FieldError:
    return FieldError(path or "/", message, code)


def _json_type(value: JSONValue | _HugeInteger) -> str:
    kind = "integer" if isinstance(value, _HugeInteger) else json_type(value)
    return kind if kind == "null" else ("an " if kind[0] in "aeiou" else "a ") + kind

"""Text forms of JSON values, number parsing, the bounded ``_like`` pattern matcher, and the NUL refusal.

``_like`` is a regular expression in json-server 0.17 (``new RegExp(v, 'i')``), which is a ReDoS
door in any backtracking engine, Python's ``re`` included. We use RE2 (``google-re2``): matching is
linear in the input, and the pattern length and compiled size are capped.

Numbers have one text form and one value on every backend, chosen so PostgreSQL's JSONB (which keeps
a number as the decimal digits it was written with, not as a binary double) can follow them:

* the text of a number is plain decimal notation without exponent or trailing zeros (``1.0`` is
  ``1``, ``1e-7`` is ``0.0000001``, ``1e21`` is ``1000000000000000000000``);
* a float's value is the shortest decimal that reads back as the same double, which is what JSON
  shows (``2.0**60`` is written ``1.152921504606847e18``, so its value is 1152921504606847000), kept
  within the 64-bit range when the float is (``-2.0**63`` is -9223372036854775808);
* a query text is a number when it is an ASCII decimal literal (``1``, ``-2.5``, ``1e3``); an integer
  beyond 64 bits is read as a float.

Example:
    >>> to_text(1.0), to_text(True), to_text(None), to_text(1e-7)
    ('1', 'true', 'null', '0.0000001')
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from typing import Any, NoReturn

import re2

from jsonserve._types import JSONScalar
from jsonserve.errors import FieldError, QueryError

MAX_PATTERN_LENGTH = 256
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT_FLOAT_LIMIT = 1e16  # below it a float's shortest decimal and its binary value order alike against integers
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.max_mem = 1 << 20
NUL = "\x00"


def to_text(value: JSONScalar) -> str:
    """The text a scalar is compared as (JavaScript's ``String(value)``, but numbers never use exponents)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < EXACT_FLOAT_LIMIT:
            return str(int(value))
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)


def to_number(text: str) -> float | int | None:
    """The number a query text denotes, or ``None`` (ASCII decimal only: no NaN, infinity, hex or ``_``)."""
    stripped = text.strip()
    if not stripped or len(stripped) > 40 or not stripped.isascii() or "_" in stripped:
        return None
    try:
        number: float | int = int(stripped)
    except ValueError:
        try:
            number = float(stripped)
        except ValueError:
            return None
    if isinstance(number, int) and not INT64_MIN <= number <= INT64_MAX:
        number = float(number)
    if isinstance(number, float) and not math.isfinite(number):
        return None
    if stripped.lower().lstrip("+-").startswith(("inf", "nan")):
        return None
    return number


def number_value(number: float | int) -> float | int:
    """What a number compares as: itself, except a float from 1e16 up, whose shortest decimal is an integer.

    Below 1e16 the binary value and the shortest decimal of a float compare alike with every integer
    and float, so the cheap binary value serves. A float within the 64-bit range stays within it
    (only ``-2.0**63`` needs that: its shortest decimal is ``-9223372036854776000``).
    """
    if isinstance(number, float) and abs(number) >= EXACT_FLOAT_LIMIT:
        value = int(Decimal(repr(number)))
        return max(INT64_MIN, min(INT64_MAX, value)) if INT64_MIN <= number <= INT64_MAX else value
    return number


def check_pattern(pattern: str, key: str) -> None:
    """Raise :class:`QueryError` unless ``pattern`` is a short, valid RE2 expression."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise QueryError(
            f"`{key}` pattern is longer than {MAX_PATTERN_LENGTH} characters",
            [FieldError(key, "pattern too long", "pattern_too_long")],
        )
    try:
        compile_pattern(pattern)
    except UnicodeEncodeError:  # a lone surrogate: RE2 takes UTF-8
        raise QueryError(
            f"`{key}` is not a valid regular expression: it is not valid Unicode",
            [FieldError(key, "invalid regular expression", "invalid_pattern")],
        ) from None
    except re2.error as error:
        message = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise QueryError(
            f"`{key}` is not a valid regular expression: {message}",
            [FieldError(key, "invalid regular expression", "invalid_pattern")],
        ) from None


def refuse_nul(key: str) -> NoReturn:
    """Raise the :class:`QueryError` for a parameter (or ``_where``) that holds U+0000."""
    # No backend can hold or compare U+0000 alike (PostgreSQL text and JSON paths refuse it), and no
    # stored value can contain it (request bodies with it are refused), so it is a 400 everywhere.
    shown = key[:256].replace(NUL, "\\u0000")
    raise QueryError(
        f"`{shown[:40]}` contains a NUL character (U+0000)", [FieldError(shown, "NUL character", "invalid_character")]
    )


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """A compiled, case-insensitive RE2 pattern (cached)."""
    return re2.compile(pattern, _RE2_OPTIONS)

"""Text forms of JSON values, number parsing, and the bounded ``_like`` pattern matcher.

``_like`` is a regular expression in json-server 0.17 (``new RegExp(v, 'i')``), which is a ReDoS
door in any backtracking engine, Python's ``re`` included. We use RE2 (``google-re2``): matching is
linear in the input, and the pattern length and compiled size are capped.

Example:
    >>> to_text(1.0), to_text(True), to_text(None)
    ('1', 'true', 'null')
"""

from __future__ import annotations

import functools
import math
from typing import Any

import re2

from jsonserve._types import JSONScalar
from jsonserve.errors import FieldError, QueryError

MAX_PATTERN_LENGTH = 256
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.max_mem = 1 << 20


def to_text(value: JSONScalar) -> str:
    """The text a scalar is compared as (JavaScript's ``String(value)`` for JSON values)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value)


def to_number(text: str) -> float | int | None:
    """The number a query text denotes, or ``None`` (no NaN, no infinity, no hex)."""
    stripped = text.strip()
    if not stripped or len(stripped) > 40:
        return None
    try:
        number: float | int = int(stripped)
    except ValueError:
        try:
            number = float(stripped)
        except ValueError:
            return None
    if isinstance(number, float) and not math.isfinite(number):
        return None
    if stripped.lower().lstrip("+-").startswith(("inf", "nan")):
        return None
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
    except re2.error as error:
        message = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise QueryError(
            f"`{key}` is not a valid regular expression: {message}",
            [FieldError(key, "invalid regular expression", "invalid_pattern")],
        ) from None


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """A compiled, case-insensitive RE2 pattern (cached)."""
    return re2.compile(pattern, _RE2_OPTIONS)

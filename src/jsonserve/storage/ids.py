"""Id rules shared by the backends.

A record's id keeps its collection's type: integers auto-increment from a high-water mark that never
goes down (a deleted maximum is never reused), strings are generated. The text form of an id is its
key, so ``1`` and ``"1"`` are the same record (json-server 0.17 compared ``String(id)`` too).

Example:
    >>> id_key(7), id_key("7")
    ('7', '7')
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from jsonserve._types import JSONValue, RecordId
from jsonserve.errors import InvalidId

MAX_ID_LENGTH = 200
# No '/', no control characters (C0, DEL, C1), no space or control at either end. Written so that the
# same text is a valid ECMAScript pattern: OpenAPI documents this exact rule for client ids.
ID_REGEX = r"^[^\x00-\x20\x7f-\x9f/](?:[^\x00-\x1f\x7f-\x9f/]*[^\x00-\x20\x7f-\x9f/])?$"
ID_PATTERN = re.compile(ID_REGEX)
INT_LIMIT = 2**63 - 1

IdFactory = Callable[[], str]


def random_id() -> str:
    """An 11-character URL-safe random id, as json-server 1.x generates."""
    return secrets.token_urlsafe(8)


def id_key(value: RecordId) -> str:
    """The lookup key of an id: its text."""
    return str(value)


def check_client_id(value: JSONValue) -> RecordId:
    """Validate an id sent in a body: an integer or a short, path-safe, non-empty string."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # `7.0` is the integer 7 in JSON (and in JSON Schema)
    if isinstance(value, int) and not isinstance(value, bool) and -INT_LIMIT <= value <= INT_LIMIT:
        return value
    if isinstance(value, str) and _is_path_safe(value):
        return value
    raise InvalidId(
        f"an id must be an integer or a non-empty string of at most {MAX_ID_LENGTH} characters without '/', "
        f"control characters or surrounding spaces, not {_describe(value)}"
    )


def _is_path_safe(value: str) -> bool:
    return len(value) <= MAX_ID_LENGTH and ID_PATTERN.fullmatch(value) is not None


def _describe(value: JSONValue) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

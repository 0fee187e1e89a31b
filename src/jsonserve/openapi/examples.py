"""Examples taken from the data, so that ReDoc and Swagger UI show real records instead of ``[ ]``.

The records are what an anonymous caller may read first (the catalogue asks the Service's read
path): the document is public, so it shows nothing a client could not read anyway. Every example
must be valid where it stands: schemathesis sends the request examples as they are, and a reader
trusts them. So a record is shown only if it fits the record schema (its id, the timestamps, a
declared schema), a body only if the server would accept it (the checks of every write, and the
declared schema), and nothing larger than :data:`MAX_EXAMPLE_BYTES`, which would bloat the
document and the pages.

Example:
    >>> examples([{"id": 1, "title": "a"}], Managed("id", (), True), None).body
    {'title': 'a'}
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from jsonserve._types import Record
from jsonserve.errors import BodyError
from jsonserve.openapi.models import Managed
from jsonserve.schema.declared import RecordSchema
from jsonserve.service.values import check_value

MAX_EXAMPLE_BYTES = 2048
LISTED = 2  # records in a list example


@dataclass(frozen=True)
class Examples:
    """One resource's examples: records as read, and the bodies of writes (``None``: none fits)."""

    records: tuple[Record, ...] = ()
    body: Record | None = None  # create and replace
    patch: Record | None = None  # one field of ``body``

    @property
    def record(self) -> Record | None:
        """The first record, as a read or a write answers it."""
        return self.records[0] if self.records else None

    @property
    def listing(self) -> list[Record] | None:
        """What a list answers (``None`` when no record can be shown)."""
        return list(self.records) if self.records else None


NONE = Examples()


def examples(
    records: list[Record], managed: Managed, declared: RecordSchema | None, omit: frozenset[str] = frozenset()
) -> Examples:
    """A collection's examples from its first ``records`` (the client does not send managed fields).

    The bodies leave out ``omit`` too: under ``--auth`` the owner field, which the server sets to the
    caller on create and only an admin may change (a body naming the record's owner fails for anyone else).
    """
    shown = tuple(record for record in records if _is_record(record, managed, declared))[:LISTED]
    if not shown:
        return NONE
    fields = {managed.id_field, *managed.timestamps, *omit}
    body = {key: value for key, value in shown[0].items() if key not in fields}
    return _with_body(shown, body, declared, fields)


def singular_examples(value: Record, declared: RecordSchema | None) -> Examples:
    """A singular resource's examples: its object, which is also what a write sends."""
    if not _small(value) or (declared is not None and declared.errors(value)):
        return NONE
    return _with_body((value,), dict(value), declared, set())


def _with_body(shown: tuple[Record, ...], body: Record, declared: RecordSchema | None, managed: set[str]) -> Examples:
    if not body or not _acceptable(body, declared, managed):
        return Examples(shown)
    first = next(iter(body))
    return Examples(shown, body, {first: body[first]})


def _is_record(record: Record, managed: Managed, declared: RecordSchema | None) -> bool:
    """Whether ``record`` fits the record schema: an id of a stored type, string timestamps, the declared schema."""
    identifier = record.get(managed.id_field)
    if isinstance(identifier, bool) or not isinstance(identifier, int | str):
        return False
    if any(not isinstance(record.get(stamp, ""), str) for stamp in managed.timestamps):
        return False
    if declared is not None and declared.errors(record, managed=(managed.id_field, *managed.timestamps)):
        return False
    return _small(record)


def _acceptable(body: Record, declared: RecordSchema | None, managed: set[str]) -> bool:
    """Whether the server accepts ``body`` as a write: the checks of every write, then the declared schema."""
    try:
        check_value(body)
    except BodyError:
        return False
    return declared is None or not declared.errors(body, managed=managed)


def _small(value: Record) -> bool:
    return len(orjson.dumps(value)) <= MAX_EXAMPLE_BYTES

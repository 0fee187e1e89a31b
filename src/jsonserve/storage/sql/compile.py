"""The SQL side of the query model: tables, and :class:`Query` -> SQLAlchemy Core for SQLite and PostgreSQL.

Documents live in one JSON (SQLite) / JSONB (PostgreSQL) column. Each dialect supplies a small
:class:`JsonAccess` (type tests and typed values at a path); every operator is then compiled from
those, so both dialects follow ``query/evaluate.py`` — the reference semantics a differential test
holds them to.

Example:
    >>> where = compile_where(Condition(("views",), Op.GT, "10"), SqliteJson())  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from jsonserve.query.model import AllOf, AnyOf, Condition, Node, Not, Op, SortKey, TextSearch
from jsonserve.query.text import to_number

Expr = ColumnElement[bool]
Path = tuple[str, ...]

metadata = sa.MetaData()
JsonType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

resources = sa.Table(
    "jsonserve_resources",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # plural | singular | extra
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("high", sa.BigInteger, nullable=False, default=0),  # largest integer id ever held
    sa.Column("int_ids", sa.Boolean, nullable=False, default=True),  # every id so far is an integer
    sa.Column("doc", JsonType, nullable=True),  # a singular object or an extra value
)
records = sa.Table(
    "jsonserve_records",
    metadata,
    sa.Column("collection", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("pos", sa.BigInteger, nullable=False),  # insertion order
    sa.Column("doc", JsonType, nullable=False),
    sa.Index("jsonserve_records_order", "collection", "pos"),
)
changes = sa.Table(
    "jsonserve_changes",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("collection", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("record_id", sa.Text, nullable=True),
    sa.Column("record", JsonType, nullable=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("previous", JsonType, nullable=True),  # (added columns last: older tables gain them on open)
    sa.Column("actor", sa.Text, nullable=True),
)


class JsonAccess(ABC):
    """Dialect-specific access to a JSON value at a path inside ``records.doc``."""

    doc: sa.ColumnElement[object] = records.c.doc

    @abstractmethod
    def kind(self, path: Path) -> sa.ColumnElement[str]:
        """One of ``string number true false null object array``, or SQL NULL when missing."""

    @abstractmethod
    def text(self, path: Path) -> sa.ColumnElement[str]:
        """The value as text (meaningful for strings)."""

    @abstractmethod
    def number(self, path: Path) -> sa.ColumnElement[float]:
        """The value as a number (only evaluated where ``kind`` is ``number``)."""

    @abstractmethod
    def number_param(self, number: float) -> sa.ColumnElement[float]:
        """A query number (from ``to_number``) as a value :meth:`number` compares with as ``number_value`` says."""

    def value_forms(self, text: str) -> tuple[str, tuple[object, ...]] | None:
        """The class of ``text`` and the forms an equality test binds it in (the text, its number …).

        For ``patterns.py``: values of one class must compile to the same SQL, and forms equal for one
        value of a class must be equal for every value of it. ``None`` (the default): the dialect's
        equality tests are built per value, never from a template.
        """
        del text
        return None

    def exact_equals(self, path: Path, text: str) -> Expr | None:
        """:func:`equals` as an index-friendly test plus a cheap one, where the dialect knows that exact.

        ``None`` (the default): :func:`equals` builds its typed tests. ``text`` is never a literal word.
        """
        del path, text
        return None

    @abstractmethod
    def lower(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        """Python's ``str.lower``."""

    @abstractmethod
    def binary(self, value: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        """Compare by code point."""

    @abstractmethod
    def contains(self, haystack: sa.ColumnElement[str], needle: str) -> Expr:
        """``needle in haystack``."""

    @abstractmethod
    def like(self, path: Path, pattern: str) -> Expr:
        """The RE2 ``_like`` test on a scalar's text, or on each element of an array (``evaluate.like``)."""

    @abstractmethod
    def search(self, needle: str, skip: frozenset[str]) -> Expr:
        """json-server's ``q`` over the whole document but its top-level fields ``skip``."""

    @abstractmethod
    def raw(self, path: Path) -> sa.ColumnElement[Any]:
        """The bare value expression an expression index is built on (``--index``)."""

    @abstractmethod
    def raw_in(self, path: Path, texts: Sequence[str]) -> Expr:
        """A superset test on :meth:`raw` that an index can serve: a string of ``texts``, or one's ``to_number``.

        Past :data:`LISTED_VALUES` texts, the values are bound as one array parameter (see :meth:`among_texts`).
        """

    @abstractmethod
    def among_texts(self, value: sa.ColumnElement[str], texts: Sequence[str]) -> Expr:
        """``value IN texts`` with ``texts`` bound as one array parameter, whatever their number."""

    @abstractmethod
    def among_numbers(self, value: sa.ColumnElement[float], numbers: Sequence[float]) -> Expr:
        """``value IN numbers`` (``to_number``'s, compared as :meth:`number_param` says), bound as one parameter."""


def compile_where(node: Node, access: JsonAccess) -> Expr:
    """The SQL condition for a filter tree."""
    if isinstance(node, Condition):
        return _condition(node, access)
    if isinstance(node, AllOf):
        return sa.and_(sa.true(), *(compile_where(child, access) for child in node.items))
    if isinstance(node, AnyOf):
        return sa.or_(sa.false(), *(compile_where(child, access) for child in node.items))
    if isinstance(node, Not):
        # A test on a missing field is SQL NULL, and NOT NULL is NULL: as false first, as the evaluator reads it.
        return sa.not_(sa.func.coalesce(compile_where(node.item, access), sa.false()))
    assert isinstance(node, TextSearch)  # noqa: S101 - the Node union is closed
    return access.search(node.text, node.skip)


def _condition(node: Condition, access: JsonAccess) -> Expr:
    path, op, value = node.path, node.op, node.value
    compile_op = _OPS[op]
    return compile_op(access, path, value)


def equals(access: JsonAccess, path: Path, text: str) -> Expr:
    """Loose typed equality (see ``evaluate.equals``)."""
    if text not in LITERAL_WORDS and (exact := access.exact_equals(path, text)) is not None:
        return exact
    kind = access.kind(path)
    tests: list[Expr] = [sa.and_(kind == "string", access.binary(access.text(path)) == text)]
    number = to_number(text)
    if number is not None:
        tests.append(sa.and_(kind == "number", access.number(path) == access.number_param(number)))
    if text in LITERAL_WORDS:
        tests.append(kind == text)
        return sa.or_(*tests)
    # The typed test above cannot use an index; this redundant superset can (expression indexes).
    return sa.and_(access.raw_in(path, (text,)), sa.or_(*tests))


def _ne(access: JsonAccess, path: Path, value: object) -> Expr:
    """Present and not equal (to any of a tuple: repeated ``_ne`` keys)."""
    matched = _in(access, path, value) if isinstance(value, tuple) else equals(access, path, str(value))
    return sa.and_(access.kind(path).is_not(None), sa.not_(matched))


def _in(access: JsonAccess, path: Path, texts: object) -> Expr:
    """:func:`equals` to any of ``texts``, compiled as one test per type (not one per text).

    The same rows as ORing :func:`equals` per text, in an expression whose size does not grow with
    the list: each type's values are one array parameter, so a list of 10,000 ids meets no limit of
    the database (SQLite's expression depth, PostgreSQL's 32,767 parameters).
    """
    values = tuple(dict.fromkeys(str(text) for text in texts))  # type: ignore[attr-defined]
    if len(values) <= 1:
        return equals(access, path, values[0]) if values else sa.false()
    kind = access.kind(path)
    tests: list[Expr] = [sa.and_(kind == "string", access.among_texts(access.binary(access.text(path)), values))]
    numbers = [number for value in values if (number := to_number(value)) is not None]
    if numbers:
        tests.append(sa.and_(kind == "number", access.among_numbers(access.number(path), numbers)))
    literals = [value for value in values if value in ("true", "false", "null")]
    if literals:
        tests.append(kind.in_(literals))
        return sa.or_(*tests)
    return sa.and_(access.raw_in(path, values), sa.or_(*tests))


def _order(compare: Callable[[object, object], Expr]) -> Callable[[JsonAccess, Path, object], Expr]:
    def build(access: JsonAccess, path: Path, text: object) -> Expr:
        kind = access.kind(path)
        tests = [sa.and_(kind == "string", compare(access.binary(access.text(path)), text))]
        number = to_number(str(text))
        if number is not None:
            tests.append(sa.and_(kind == "number", compare(access.number(path), access.number_param(number))))
        return sa.or_(*tests)

    return build


def _string(test: str) -> Callable[[JsonAccess, Path, object], Expr]:
    def build(access: JsonAccess, path: Path, text: object) -> Expr:
        needle = str(text).lower()
        haystack = access.lower(access.text(path))
        if test == "contains":
            matched = access.contains(haystack, needle)
        elif test == "startsWith":
            matched = sa.func.substr(haystack, 1, len(needle)) == needle
        else:
            matched = sa.func.substr(haystack, sa.func.length(haystack) - len(needle) + 1) == needle
        return sa.and_(access.kind(path) == "string", matched)

    return build


_OPS: dict[Op, Callable[[JsonAccess, Path, object], Expr]] = {
    Op.EQ: lambda access, path, text: equals(access, path, str(text)),
    Op.NE: _ne,
    Op.IN: _in,
    Op.LT: _order(lambda a, b: a < b),  # type: ignore[operator]
    Op.LTE: _order(lambda a, b: a <= b),  # type: ignore[operator]
    Op.GT: _order(lambda a, b: a > b),  # type: ignore[operator]
    Op.GTE: _order(lambda a, b: a >= b),  # type: ignore[operator]
    Op.CONTAINS: _string("contains"),
    Op.STARTS_WITH: _string("startsWith"),
    Op.ENDS_WITH: _string("endsWith"),
    Op.LIKE: lambda access, path, text: access.like(path, str(text)),
}


def compile_order(keys: Sequence[SortKey], access: JsonAccess) -> list[sa.ColumnElement[object]]:
    """ORDER BY terms giving ``evaluate.sort_key``'s ranks, then insertion order for ties."""
    terms: list[sa.ColumnElement[object]] = []
    for key in keys:
        kind = access.kind(key.path)
        rank = sa.case(
            (kind == "number", 0),
            (kind == "string", 1),
            (kind.in_(("true", "false")), 2),
            (kind.in_(("object", "array")), 3),
            (kind == "null", 4),
            else_=5,
        )
        number = sa.case((kind == "number", access.number(key.path)), else_=None)
        text = sa.case((kind == "string", access.binary(access.text(key.path))), else_=None)
        boolean = sa.case((kind == "true", 1), (kind == "false", 0), else_=None)
        for term in (rank, number, text, boolean):
            terms.append(term.desc() if key.descending else term.asc())
    terms.append(records.c.pos.asc())
    return terms


LITERAL_WORDS = ("true", "false", "null")
"""Query texts that also equal a JSON literal (``evaluate.equals``)."""
LISTED_VALUES = 32
"""Up to this many values, an index-friendly test lists them (``IN (?, ?, …)``); past it, one array parameter."""
MAX_INDEX_READINGS = 3
"""Path segments read both as a key and as an array index: each one doubles the SQL of a path."""


def path_variants(path: Path) -> list[tuple[str | int, ...]]:
    """A path whose decimal segments may index arrays: every reading (at most three such segments)."""
    choices = [((part, int(part)) if part.isdecimal() else (part,)) for part in path]
    if sum(len(c) > 1 for c in choices) > MAX_INDEX_READINGS:
        return [path]
    return list(itertools.product(*choices))

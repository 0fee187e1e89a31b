"""Reads learned per filter *pattern*: ``?userId=3`` and ``?userId=7`` run one SQL text, with other parameters.

``prepared.py`` keeps a read's SQL by its exact query, so a filter on a value not seen before (the
next user's posts) was built and compiled again: :func:`~jsonserve.storage.sql.compile.compile_where`
builds about a hundred clause objects and SQLAlchemy then hashes them into its cache key, about 1 ms
together, several times what SQLite takes to read the ten rows.

Here a filter splits into a pattern and its values: the filter with the value of each equality test
(json-server's ``field=value``) replaced by its *class*, which the dialect names with the forms it
binds the value in (:meth:`~jsonserve.storage.sql.compile.JsonAccess.value_forms`: the text, its
number …; values of one class compile to the same SQL), and the list of those values' forms. Two
reads of one pattern teach it a *template*: the one SQL text, and for each parameter either a
constant or which value, in which form. Nothing is guessed:

- the two reads ran the same SQL text;
- every value differs from the other read's in every form (so a parameter made from a value differs
  between the reads, and one that is equal in both is a constant), and within a read no two values
  share a form (so which value a parameter comes from is never ambiguous);
- every parameter is explained, in both reads, by one constant or one (value, form); else the
  pattern gets no template and its reads are built as before.

A template then gives the SQL and parameters of any read of the pattern without building anything.
Other tests (ranges, ``_like``, ``q`` …) stay in the pattern as they are: their parameters are
constants of it. A dialect without value forms (PostgreSQL binds JSONB text) learns none.

Example:
    >>> pattern = split(query.where, access)  # doctest: +SKIP
    >>> templates.learn(pattern.key(key), pattern.forms, sql, parameters)  # doctest: +SKIP
    >>> templates.fill(pattern.key(other_key), other_pattern.forms)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from jsonserve.query.model import AllOf, AnyOf, Condition, Node, Not, Op
from jsonserve.storage.sql.compile import LITERAL_WORDS

Forms = tuple[object, ...]
"""One value's forms, as :meth:`JsonAccess.value_forms` lists them."""
Slot = tuple[int | None, Any]
"""A template's parameter: ``(value, form)`` (indexes), or ``(None, constant)``."""
SIZE = 512
"""Patterns kept (templates, and first reads waiting for a second)."""


@dataclass(frozen=True)
class Pattern:
    """A filter without its equality values: ``text`` names the pattern, ``forms`` are the values' forms, in order."""

    text: str
    forms: tuple[Forms, ...]

    def key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """A read's key (``("rows", (collection, filter text), …)``) with the pattern in place of the filter."""
        return (key[0], (key[1][0], self.text), *key[2:])


ValueForms = Callable[[str], tuple[str, Forms] | None]
"""A dialect's :meth:`JsonAccess.value_forms`: a value's class and forms, or ``None``."""


def split(where: Node, value_forms: ValueForms) -> Pattern | None:
    """``where`` as a pattern and its values; ``None`` when it has no equality test to split out."""
    forms: list[Forms] = []
    shaped = _shape(where, value_forms, forms)
    if shaped is None or not forms:
        return None
    return Pattern(repr(shaped), tuple(forms))


def _shape(node: Node, value_forms: ValueForms, forms: list[Forms]) -> Node | None:
    if isinstance(node, Condition) and node.op is Op.EQ and isinstance(node.value, str):
        found = value_forms(node.value)
        if found is None:
            return None
        kind, value = found
        forms.append(value)
        word = node.value if node.value in LITERAL_WORDS else ""
        return Condition(node.path, node.op, f"\x00{word}:{kind}")
    if isinstance(node, AllOf | AnyOf):
        items = [_shape(item, value_forms, forms) for item in node.items]
        return None if None in items else type(node)(tuple(items))  # type: ignore[arg-type]
    if isinstance(node, Not):
        item = _shape(node.item, value_forms, forms)
        return None if item is None else Not(item)
    return node  # kept as it is: its parameters are the pattern's constants


class Templates:
    """Learned templates by pattern key, and each pattern's first read until a second one teaches it."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self.filled = 0  # reads served from a template (tests read it)
        self._templates: OrderedDict[Hashable, tuple[str, list[Slot]] | None] = OrderedDict()
        self._first: OrderedDict[Hashable, tuple[tuple[Forms, ...], str, Sequence[Any]]] = OrderedDict()

    def fill(self, key: Hashable, forms: tuple[Forms, ...]) -> tuple[str, tuple[Any, ...]] | None:
        """The SQL and parameters of the read ``key`` names for values of these ``forms``, once learned."""
        template = self._templates.get(key)
        if template is None:
            return None
        sql, slots = template
        self.filled += 1
        return sql, tuple(constant if value is None else forms[value][constant] for value, constant in slots)

    def learn(self, key: Hashable, forms: tuple[Forms, ...], sql: str, parameters: Sequence[Any]) -> None:
        """Note that the read ``key`` names ran as ``sql`` with ``parameters`` for values of these ``forms``."""
        if key in self._templates:
            return
        first = self._first.get(key)
        if first is None or not _telling(first[0], forms):
            self._remember(self._first, key, (forms, sql, parameters))
            return
        del self._first[key]
        slots = _slots(first, (forms, sql, parameters))
        self._remember(self._templates, key, None if slots is None else (sql, slots))

    def _remember(self, kept: OrderedDict[Hashable, Any], key: Hashable, value: object) -> None:
        kept[key] = value
        kept.move_to_end(key)
        if len(kept) > self.size:
            kept.popitem(last=False)


def _same(one: object, other: object) -> bool:
    """Equal and of one type (``1``, ``1.0`` and ``True`` are equal in Python, not as parameters)."""
    return type(one) is type(other) and one == other


def _telling(one: tuple[Forms, ...], other: tuple[Forms, ...]) -> bool:
    """Whether two reads' values can teach a template: each differs in every form, none shares a form."""
    if any(
        _same(a, b)
        for values in (one, other)
        for i, x in enumerate(values)
        for y in values[i + 1 :]
        for a in x
        for b in y
    ):
        return False
    return all(not _same(a, b) for x, y in zip(one, other, strict=True) for a, b in zip(x, y, strict=True))


def _slots(
    one: tuple[tuple[Forms, ...], str, Sequence[Any]], other: tuple[tuple[Forms, ...], str, Sequence[Any]]
) -> list[Slot] | None:
    """Each parameter as a constant or a (value, form) explaining both reads; ``None`` if one is not."""
    (forms, sql, parameters), (other_forms, other_sql, other_parameters) = one, other
    if sql != other_sql or len(parameters) != len(other_parameters):
        return None
    slots: list[Slot] = []
    for a, b in zip(parameters, other_parameters, strict=True):
        if _same(a, b):
            slots.append((None, a))
            continue
        found = [
            (value, form)
            for value, (x, y) in enumerate(zip(forms, other_forms, strict=True))
            for form, (p, q) in enumerate(zip(x, y, strict=True))
            if _same(p, a) and _same(q, b)
        ]
        if len({value for value, _ in found}) != 1:  # none, or two values: unexplained, or ambiguous
            return None
        slots.append(found[0])  # forms of one value equal in both reads are equal for its whole class
    return slots

"""Fields that never leave the Service (``--auth``: a user's password hash and token version).

They are stripped from every record a read or a write returns (lists, records, joins, ``/db``), a
query may not filter or sort on them (each would be an oracle on a hash: ``password_like``,
``_sort=password``), a ``q`` search never looks into them (``q=$argon2id$`` finds nothing; on every
backend, by :attr:`~jsonserve.query.model.TextSearch.skip`), a client body may not set them, and a
client's PUT keeps them (only the accounts endpoints write them).

Example:
    >>> redaction = Redaction({"users": frozenset({"password"})})
    >>> redaction.record("users", {"id": 1, "password": "$argon2id$..."})
    {'id': 1}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from jsonserve._types import JSONValue, Record
from jsonserve.errors import FieldError, PermissionDenied, QueryError
from jsonserve.query.evaluate import matches, run
from jsonserve.query.model import AllOf, AnyOf, Condition, Node, Not, Query, TextSearch
from jsonserve.schema.kind import Kind

__all__ = ["Redaction"]


@dataclass(frozen=True)
class Redaction:
    """The hidden fields of each collection (none by default)."""

    fields: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def hidden(self, collection: str) -> frozenset[str]:
        """The hidden fields of ``collection``."""
        return self.fields.get(collection, frozenset())

    def record(self, collection: str, record: Record) -> Record:
        """``record`` without its hidden fields (the same object when it has none)."""
        hidden = self.hidden(collection)
        if not hidden or hidden.isdisjoint(record):
            return record
        return {key: value for key, value in record.items() if key not in hidden}

    def records(self, collection: str, records: list[Record]) -> list[Record]:
        """Every record of ``records`` without its hidden fields."""
        if not self.hidden(collection):
            return records
        return [self.record(collection, record) for record in records]

    def readable(self, name: str, value: JSONValue, kind: Kind, rule: Node | None) -> JSONValue | None:
        """What a ``/db`` snapshot shows of one resource: its readable records without hidden fields.

        ``None`` when a singular resource is not readable (it is left out).
        """
        if kind is Kind.PLURAL and isinstance(value, list):
            records = [record for record in value if isinstance(record, dict)]
            readable = records if rule is None else run(records, Query(name, where=rule)).items
            return list(self.records(name, list(readable)))
        if not isinstance(value, dict):
            return value
        return self.record(name, value) if rule is None or matches(value, rule) else None

    def check_query(self, query: Query) -> None:
        """Raise :class:`QueryError` when ``query`` filters, sorts or searches on a hidden field."""
        hidden = self.hidden(query.collection)
        if not hidden:
            return
        touched = sorted({path[0] for path in _paths(query.where) if path and path[0] in hidden})
        touched += sorted({key.path[0] for key in query.sort if key.path and key.path[0] in hidden} - set(touched))
        if touched:
            raise QueryError(
                f"{query.collection} cannot be filtered or sorted on {', '.join(touched)}",
                [FieldError(name, "a hidden field", "hidden_field") for name in touched],
            )

    def searchable(self, query: Query) -> Query:
        """``query`` whose ``q`` searches skip the hidden fields (``query`` itself when nothing changes)."""
        hidden = self.hidden(query.collection)
        if not hidden or not _searches(query.where):
            return query
        return replace(query, where=_skipping(query.where, hidden))

    def check_body(self, collection: str, body: Record) -> None:
        """Raise :class:`PermissionDenied` when a client body sets a hidden field."""
        sent = sorted(self.hidden(collection).intersection(body))
        if sent:
            raise PermissionDenied(
                f"{', '.join(sent)} cannot be written here: register with POST /register and change a password "
                "with POST /auth/password"
            )

    def kept(self, collection: str, current: Record, new: Record) -> Record:
        """``new`` with ``current``'s hidden fields (a PUT replaces the record, not the password)."""
        hidden = {key: value for key, value in current.items() if key in self.hidden(collection)}
        return {**new, **hidden} if hidden else new


def _paths(node: Node) -> list[tuple[str, ...]]:
    if isinstance(node, Condition):
        return [node.path]
    if isinstance(node, AllOf | AnyOf):
        return [path for child in node.items for path in _paths(child)]
    if isinstance(node, Not):
        return _paths(node.item)
    return []


def _skipping(node: Node, hidden: frozenset[str]) -> Node:
    if isinstance(node, TextSearch):
        return replace(node, skip=node.skip | hidden)
    if isinstance(node, AllOf | AnyOf):
        return type(node)(tuple(_skipping(child, hidden) for child in node.items))
    return node


def _searches(node: Node) -> bool:
    if isinstance(node, TextSearch):
        return True
    if isinstance(node, AllOf | AnyOf):
        return any(_searches(child) for child in node.items)
    if isinstance(node, Not):
        return _searches(node.item)
    return False

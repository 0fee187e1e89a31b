"""What a write checks and adds before storage applies it: preconditions, rules, schemas, timestamps, the sweep.

Example:
    >>> stamped({"title": "x", "createdAt": "forged"}, None, 0.0)
    {'title': 'x', 'createdAt': '1970-01-01T00:00:00.000Z', 'updatedAt': '1970-01-01T00:00:00.000Z'}
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from jsonserve._types import Record
from jsonserve.auth.principal import Principal
from jsonserve.auth.rules import WriteRule
from jsonserve.errors import FieldError, PermissionDenied, PreconditionFailed, QueryError, ValidationFailed
from jsonserve.schema.relations import Relations
from jsonserve.service.catalogue import CREATED_AT, STAMPS, UPDATED_AT, Catalogue
from jsonserve.service.redact import Redaction
from jsonserve.service.values import etag_matches, record_etag
from jsonserve.storage.base import Check, Dependent, Dependents, no_check


class WriteChecks:
    """The checks of a write on the record it produces: the write rule, hidden fields, the declared schema."""

    def __init__(self, catalogue: Catalogue, rule: WriteRule, redaction: Redaction) -> None:
        self.catalogue = catalogue
        self.rule = rule
        self.redaction = redaction

    def validate(self, name: str, record: Record) -> None:
        """Raise :class:`ValidationFailed` when ``record`` breaks ``name``'s declared schema.

        The hidden fields (a user's password hash, token version) are the server's, like the id and
        timestamps: checked only if the schema declares them, so ``additionalProperties: false`` need
        not list them.
        """
        schema = self.catalogue.declared(name)
        if schema is None:
            return
        managed = (*self.catalogue.managed_fields, *sorted(self.redaction.hidden(name)))
        errors = schema.errors(record, managed=managed)
        if errors:
            fields = ", ".join(dict.fromkeys(error.path for error in errors))  # a path once, however it fails
            raise ValidationFailed(f"the {name} record does not match its schema ({fields})", errors)

    def guarded(
        self, name: str, principal: Principal, build: Callable[[Record], Record], *, keep_id: bool = True
    ) -> Callable[[Record], Record]:
        """``build``, then the write rule and the declared schema on the result (inside the storage's atomic write).

        Hidden fields are kept from the current record: a client neither sees nor replaces them.
        """
        id_field = self.catalogue.id_field

        def checked(current: Record) -> Record:
            new = build(current)
            self.redaction.check_body(name, {key: new[key] for key in new if new[key] != current.get(key)})
            new = self.redaction.kept(name, current, new)
            if keep_id and id_field in current:
                new[id_field] = current[id_field]
            new = self.rule.update(principal, name, current, new)
            self.validate(name, new)
            return new

        return checked

    def dependent(self, principal: Principal) -> Callable[[str], Check]:
        """The check of each record a delete would sweep away with its parent: the write rule, as if deleted alone.

        A cascade never deletes what the caller could not delete: one refused child refuses the delete.
        """

        def of(name: str) -> Check:
            def checked(child: Record | None) -> None:
                if child is None:
                    return
                try:
                    self.rule.delete(principal, name, child)
                except PermissionDenied:
                    raise PermissionDenied(
                        f"this delete would also delete {name} records you may not delete; nothing was deleted"
                    ) from None

            return checked

        return of

    def deletable(self, name: str, principal: Principal, check: Check) -> Check:
        """The storage check of a delete: ``check`` (the precondition), then the write rule on the current record."""

        def checked(current: Record | None) -> None:
            check(current)
            if current is not None:
                self.rule.delete(principal, name, current)

        return checked


def precondition(if_match: str | None) -> Check:
    """The storage check of an ``If-Match`` header: the current record's ETag must match (strongly)."""

    def check(current: Record | None) -> None:
        if if_match is None:
            return
        if current is None or not etag_matches(if_match, record_etag(current), weak=False):
            raise PreconditionFailed("the record has changed since it was read (If-Match does not match its ETag)")

    return check


def stamped(body: Record, current: Record | None, now: float) -> Record:
    """``body`` with server-managed ``createdAt``/``updatedAt`` (``--timestamps``); a client's own are dropped."""
    moment = iso(now)
    created = moment if current is None else current.get(CREATED_AT)
    stamps = {CREATED_AT: created, UPDATED_AT: moment} if created is not None else {UPDATED_AT: moment}
    return {**{key: value for key, value in body.items() if key not in STAMPS}, **stamps}


def iso(timestamp: float) -> str:
    """``2026-11-23T10:00:00.123Z``: UTC, milliseconds, as JavaScript's ``toISOString`` writes it."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sweep_plan(
    relations: Relations,
    requested: tuple[str, ...],
    *,
    cascade: bool,
    deletable: Callable[[str], Check] = lambda _name: no_check,
) -> Dependents:
    """What a delete does to each collection's children: delete them (``cascade``, ``_dependent``) or null their key.

    ``deletable(collection)`` checks each child to be deleted (:meth:`WriteChecks.dependent`); a
    nulled key is the parent's absence recorded, not an edit of the child, and is not checked.
    Raises :class:`QueryError` when ``_dependent`` names an unknown collection.
    """
    unknown = [name for name in requested if name not in relations.collections]
    if unknown:
        raise QueryError(
            f"`_dependent` names unknown collections: {', '.join(unknown)}",
            [FieldError("_dependent", f"unknown collection {name!r}", "unknown_collection") for name in unknown],
        )

    def dependents(collection: str) -> list[Dependent]:
        key = relations.foreign_key(collection)
        plan = []
        for name in sorted(relations.collections):
            delete = cascade or name in requested
            plan.append(Dependent(name, key, delete, deletable(name) if delete else no_check))
        return plan

    return dependents

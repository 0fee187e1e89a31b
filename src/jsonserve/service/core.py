"""The Service: the only door to data for every transport (REST now; GraphQL and realtime later).

Each method checks what the server allows (``--read-only``, preconditions), calls storage, and
publishes the resulting :class:`Change` values to the hub.

Example:
    >>> service = Service(MemoryStorage({"posts": []}), Hub())  # doctest: +SKIP
    >>> await service.create("posts", {"title": "x"})  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from jsonserve._types import JSONValue, Record
from jsonserve.errors import FieldError, NotFound, PreconditionFailed, QueryError, ReadOnly, ValidationFailed
from jsonserve.query.model import AllOf, Condition, Op, Page, Query
from jsonserve.realtime.hub import Hub
from jsonserve.schema.declared import RecordSchema
from jsonserve.schema.kind import Kind
from jsonserve.schema.relations import Relations
from jsonserve.service.embed import apply_joins, plan_joins
from jsonserve.service.shapes import Shapes
from jsonserve.service.values import etag_matches, record_etag
from jsonserve.storage.base import Check, Dependent, Storage
from jsonserve.storage.changelog import Change

CREATED_AT, UPDATED_AT = "createdAt", "updatedAt"
STAMPS = (CREATED_AT, UPDATED_AT)
NEW_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class ServiceOptions:
    """What the service enforces, independent of any transport.

    ``timestamps`` stamps ``createdAt``/``updatedAt`` on records (clients cannot set them);
    ``auto_create`` lets a POST create a collection that does not exist yet; ``reserved`` are names
    a new collection may not take (routes of their own, such as ``docs``).
    """

    compat: str = "0.17"
    read_only: bool = False
    fk_suffix: str = "Id"
    timestamps: bool = False
    auto_create: bool = False
    reserved: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Listing:
    """A list result: the records (joins applied), the total before windowing, and the query."""

    items: list[Record]
    total: int
    query: Query


class Service:
    """Reads and writes through one storage, publishing every change."""

    def __init__(
        self,
        storage: Storage,
        hub: Hub,
        options: ServiceOptions = ServiceOptions(),
        schemas: Mapping[str, RecordSchema] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.hub = hub
        self.options = options
        self.schemas: Mapping[str, RecordSchema] = schemas or {}
        self.shapes = Shapes(storage)
        self._clock = clock

    # -- lifecycle: ``async with service:`` opens the storage and closes it (flushing writes) ---------

    async def open(self) -> None:
        """Open the storage: load the file or connect to the database.

        Raises :class:`StorageCorrupt`, :class:`StorageLocked` or :class:`BackendUnavailable` when
        that is impossible (and ``OSError`` when a file cannot be read). ``async with service:`` calls
        it, and :meth:`aclose` on the way out.

        Example:
            >>> async with build_service(Settings(source="db.json")) as service:  # doctest: +SKIP
            ...     print(list(service.kinds()))
            ['posts', 'comments', 'profile']
        """
        await self.storage.open()

    async def aclose(self) -> None:
        """Close the storage, flushing every acknowledged write."""
        await self.storage.aclose()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- catalogue ---------------------------------------------------------------------------

    def kinds(self) -> dict[str, Kind]:
        """Routable names and their kinds (current: follows reloads)."""
        return self.storage.kinds()

    def kind(self, name: str) -> Kind:
        """The kind of one name, or :class:`NotFound`."""
        kind = self.storage.kinds().get(name)
        if kind is None:
            raise NotFound(f"no resource named {name!r}")
        return kind

    def relations(self) -> Relations:
        """Foreign-key relations between the current collections."""
        plural = [name for name, kind in self.kinds().items() if kind is Kind.PLURAL]
        return Relations(plural, self.options.fk_suffix)

    # -- reads -------------------------------------------------------------------------------

    async def find(self, query: Query) -> Listing:
        """Filter, sort, window, then join one collection."""
        self._plural(query.collection)
        joins = plan_joins(self.relations(), query.collection, query.embed, query.expand) if _joins(query) else []
        page: Page = await self.storage.find(query)
        return Listing(await apply_joins(self.storage, page.items, joins), page.total, query)

    async def list_nested(self, parent: str, parent_id: str, query: Query) -> Listing:
        """``GET /posts/1/comments``: the children of an existing parent, with any other query."""
        await self.get(parent, parent_id)
        link = Condition((self.relations().foreign_key(parent),), Op.EQ, parent_id)
        return await self.find(_and_where(query, link))

    async def get(self, collection: str, record_id: str, query: Query | None = None) -> Record:
        """One record (with joins when ``query`` asks), or :class:`NotFound`."""
        self._plural(collection)
        record = await self.storage.get(collection, record_id)
        if record is None:
            raise NotFound(f"no record in {collection} with id {record_id!r}")
        if query is None or not _joins(query):
            return record
        joins = plan_joins(self.relations(), collection, query.embed, query.expand)
        return (await apply_joins(self.storage, [record], joins))[0]

    async def get_singular(self, name: str) -> Record:
        """A singular resource (``/profile``)."""
        return await self.storage.get_singular(name)

    async def dump(self) -> dict[str, JSONValue]:
        """The whole database (``GET /db``)."""
        return await self.storage.dump()

    async def counts(self) -> dict[str, int | None]:
        """Record counts per collection (``None`` for singular resources), for the home page."""
        return {
            name: await self.storage.count(name) if kind is Kind.PLURAL else None for name, kind in self.kinds().items()
        }

    # -- writes ------------------------------------------------------------------------------

    async def create(self, collection: str, body: Record) -> Record:
        """``POST /posts``: insert, keeping a free client id (0.17) or generating one (1.x).

        With ``auto_create`` (or a declared schema) a missing collection is created by its first record.
        """
        new_collection = self.check_creatable(collection)
        record = self._stamp(body, None)
        self._validate(collection, record)
        change = await self.storage.create(
            collection, record, generated_ids=self.options.compat == "1", new_collection=new_collection
        )
        return self._publish([change])

    async def create_nested(self, parent: str, parent_id: str, child: str, body: Record) -> Record:
        """``POST /posts/1/comments``: create a child whose foreign key is the parent's id."""
        parent_record = await self.get(parent, parent_id)
        key = self.relations().foreign_key(parent)
        return await self.create(child, {**body, key: parent_record[self.storage.id_field]})

    async def replace(self, collection: str, record_id: str, body: Record, if_match: str | None = None) -> Record:
        """``PUT``: replace the whole record; the id stays."""
        self.check_writable(collection, Kind.PLURAL)
        build = self._guarded(collection, lambda old: self._stamp(body, old))
        change = await self.storage.update(collection, record_id, build, _precondition(if_match))
        return self._publish([change])

    async def patch(self, collection: str, record_id: str, body: Record, if_match: str | None = None) -> Record:
        """``PATCH``: shallow merge into the record, validated as merged; the id stays."""
        self.check_writable(collection, Kind.PLURAL)
        build = self._guarded(collection, lambda old: self._stamp({**old, **body}, old))
        change = await self.storage.update(collection, record_id, build, _precondition(if_match))
        return self._publish([change])

    async def delete(
        self, collection: str, record_id: str, dependents: tuple[str, ...] = (), if_match: str | None = None
    ) -> Record:
        """``DELETE``: remove a record and sweep what points at it; returns the deleted record."""
        self.check_writable(collection, Kind.PLURAL)
        sweep = self._dependents(dependents)
        changes = await self.storage.delete(collection, record_id, sweep, _precondition(if_match))
        self._publish(changes)
        return changes[0].previous or {}

    async def replace_singular(self, name: str, body: Record, if_match: str | None = None) -> Record:
        """``PUT /profile`` (and 0.17's ``POST /profile``): replace the object."""
        self.check_writable(name, Kind.SINGULAR)
        build = self._guarded(name, lambda _old: dict(body), keep_id=False)
        change = await self.storage.update_singular(name, build, _precondition(if_match))
        return self._publish([change])

    async def patch_singular(self, name: str, body: Record, if_match: str | None = None) -> Record:
        """``PATCH /profile``: shallow merge."""
        self.check_writable(name, Kind.SINGULAR)
        build = self._guarded(name, lambda old: {**old, **body}, keep_id=False)
        change = await self.storage.update_singular(name, build, _precondition(if_match))
        return self._publish([change])

    # -- internals ---------------------------------------------------------------------------

    def _plural(self, name: str) -> None:
        if self.kind(name) is not Kind.PLURAL:
            raise NotFound(f"{name!r} is a singular resource; it has no records by id")

    def check_writable(self, name: str, kind: Kind) -> None:
        """Raise unless ``name`` is a resource of ``kind`` that may be written now (``--read-only``)."""
        if self.options.read_only:
            raise ReadOnly("the server runs with --read-only: only GET, HEAD and OPTIONS are allowed")
        if self.kind(name) is not kind:
            raise NotFound(f"no {kind.value} resource named {name!r}")

    def managed_fields(self) -> tuple[str, ...]:
        """Top-level fields the server sets on records: the id, and the timestamps with ``--timestamps``."""
        return (self.storage.id_field, *(STAMPS if self.options.timestamps else ()))

    def creatable(self, name: str) -> bool:
        """Whether a POST may create ``name`` as a new collection (``--auto-create`` or a declared schema)."""
        return (
            (self.options.auto_create or name in self.schemas)
            and name not in self.kinds()
            and name not in self.options.reserved
            and NEW_NAME.fullmatch(name) is not None
        )

    def check_creatable(self, collection: str) -> bool:
        """Raise unless a record may be created in ``collection``; ``True`` when the collection is new."""
        if self.creatable(collection) and not self.options.read_only:
            return True
        self.check_writable(collection, Kind.PLURAL)
        return False

    def _validate(self, name: str, record: Record) -> None:
        schema = self.schemas.get(name)
        if schema is None:
            return
        errors = schema.errors(record, managed=self.managed_fields())
        if errors:
            fields = ", ".join(dict.fromkeys(error.path for error in errors))  # a path once, however it fails
            raise ValidationFailed(f"the {name} record does not match its schema ({fields})", errors)

    def _guarded(
        self, name: str, build: Callable[[Record], Record], *, keep_id: bool = True
    ) -> Callable[[Record], Record]:
        """``build``, then the declared schema checked on the result (inside the storage's atomic write)."""
        id_field = self.storage.id_field

        def checked(current: Record) -> Record:
            new = build(current)
            if keep_id and id_field in current:
                new[id_field] = current[id_field]
            self._validate(name, new)
            return new

        return checked

    def _stamp(self, body: Record, current: Record | None) -> Record:
        """``body`` with server-managed timestamps (``--timestamps``); a client's own values are dropped."""
        if not self.options.timestamps:
            return dict(body)
        now = _iso(self._clock())
        created = now if current is None else current.get(CREATED_AT)
        stamps = {CREATED_AT: created, UPDATED_AT: now} if created is not None else {UPDATED_AT: now}
        return {**_unstamped(body), **stamps}

    def _dependents(self, requested: tuple[str, ...]) -> Callable[[str], list[Dependent]]:
        relations = self.relations()
        unknown = [name for name in requested if name not in relations.collections]
        if unknown:
            raise QueryError(
                f"`_dependent` names unknown collections: {', '.join(unknown)}",
                [FieldError("_dependent", f"unknown collection {name!r}", "unknown_collection") for name in unknown],
            )
        cascade = self.options.compat != "1"

        def dependents(collection: str) -> list[Dependent]:
            key = relations.foreign_key(collection)
            return [Dependent(name, key, cascade or name in requested) for name in sorted(relations.collections)]

        return dependents

    def _publish(self, changes: list[Change]) -> Record:
        for change in changes:
            self.shapes.observe(change)
            self.hub.publish(change)
        return changes[0].record or {}


def _precondition(if_match: str | None) -> Check:
    def check(current: Record | None) -> None:
        if if_match is None:
            return
        if current is None or not etag_matches(if_match, record_etag(current), weak=False):
            raise PreconditionFailed("the record has changed since it was read (If-Match does not match its ETag)")

    return check


def _unstamped(body: Record) -> Record:
    return {key: value for key, value in body.items() if key not in STAMPS}


def _iso(timestamp: float) -> str:
    """``2026-11-23T10:00:00.123Z``: UTC, milliseconds, as JavaScript's ``toISOString`` writes it."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _and_where(query: Query, condition: Condition) -> Query:
    return replace(query, where=AllOf((query.where, condition)))


def _joins(query: Query) -> bool:
    """Whether a query asks for ``_embed`` or ``_expand``."""
    return bool(query.embed or query.expand)

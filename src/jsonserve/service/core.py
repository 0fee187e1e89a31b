"""The Service: the only door to data for every transport (REST now; GraphQL and realtime later).

Each method checks what the server allows (``--read-only``, preconditions), calls storage, and
publishes the resulting :class:`Change` values to the hub.

Example:
    >>> service = Service(MemoryStorage({"posts": []}), Hub())  # doctest: +SKIP
    >>> await service.create("posts", {"title": "x"})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from jsonserve._types import JSONValue, Record
from jsonserve.errors import FieldError, NotFound, PreconditionFailed, QueryError, ReadOnly
from jsonserve.query.model import AllOf, Condition, Op, Page, Query
from jsonserve.realtime.hub import Hub
from jsonserve.schema.relations import Relations
from jsonserve.service.embed import apply_joins, plan_joins
from jsonserve.service.values import etag_matches, record_etag
from jsonserve.storage.base import Change, Check, Dependent, Kind, Storage


@dataclass(frozen=True)
class ServiceOptions:
    """What the service enforces, independent of any transport."""

    compat: str = "0.17"
    read_only: bool = False
    fk_suffix: str = "Id"


@dataclass(frozen=True)
class Listing:
    """A list result: the records (joins applied), the total before windowing, and the query."""

    items: list[Record]
    total: int
    query: Query


class Service:
    """Reads and writes through one storage, publishing every change."""

    def __init__(self, storage: Storage, hub: Hub, options: ServiceOptions = ServiceOptions()) -> None:
        self.storage = storage
        self.hub = hub
        self.options = options

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
        joins = plan_joins(self.relations(), query.collection, query.embed, query.expand)
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
        if query is None or not (query.embed or query.expand):
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
        """``POST /posts``: insert, keeping a free client id (0.17) or generating one (1.x)."""
        self.check_writable(collection, Kind.PLURAL)
        change = await self.storage.create(collection, body, generated_ids=self.options.compat == "1")
        return self._publish([change])

    async def create_nested(self, parent: str, parent_id: str, child: str, body: Record) -> Record:
        """``POST /posts/1/comments``: create a child whose foreign key is the parent's id."""
        parent_record = await self.get(parent, parent_id)
        key = self.relations().foreign_key(parent)
        return await self.create(child, {**body, key: parent_record[self.storage.id_field]})

    async def replace(self, collection: str, record_id: str, body: Record, if_match: str | None = None) -> Record:
        """``PUT``: replace the whole record; the id stays."""
        self.check_writable(collection, Kind.PLURAL)
        change = await self.storage.update(collection, record_id, lambda _old: dict(body), _precondition(if_match))
        return self._publish([change])

    async def patch(self, collection: str, record_id: str, body: Record, if_match: str | None = None) -> Record:
        """``PATCH``: shallow merge into the record; the id stays."""
        self.check_writable(collection, Kind.PLURAL)
        change = await self.storage.update(collection, record_id, _merge(body), _precondition(if_match))
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
        change = await self.storage.update_singular(name, lambda _old: dict(body), _precondition(if_match))
        return self._publish([change])

    async def patch_singular(self, name: str, body: Record, if_match: str | None = None) -> Record:
        """``PATCH /profile``: shallow merge."""
        self.check_writable(name, Kind.SINGULAR)
        change = await self.storage.update_singular(name, _merge(body), _precondition(if_match))
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
            self.hub.publish(change)
        return changes[0].record or {}


def _precondition(if_match: str | None) -> Check:
    def check(current: Record | None) -> None:
        if if_match is None:
            return
        if current is None or not etag_matches(if_match, record_etag(current), weak=False):
            raise PreconditionFailed("the record has changed since it was read (If-Match does not match its ETag)")

    return check


def _merge(body: Record) -> Callable[[Record], Record]:
    def build(current: Record) -> Record:
        return {**current, **body}

    return build


def _and_where(query: Query, condition: Condition) -> Query:
    return replace(query, where=AllOf((query.where, condition)))

"""The Service: the only door to data for every transport (REST now; GraphQL and realtime later).

Every method that reads or writes records takes the caller, a :class:`Principal` (anonymous unless
a transport says otherwise). Writes check what the server allows (``--read-only``, preconditions),
call storage with the caller as the changes' actor, and publish the resulting :class:`Change`
values to the hub. Reads all go through one read path (:meth:`Service._read` and its siblings),
where the caller's :class:`ReadRule` is ANDed into the query, so a rule covers lists, records,
nested routes, ``/db``, counts, embeds and expands alike (PocketBase's "rules as filters").

Example:
    >>> service = Service(MemoryStorage({"posts": []}), Hub())  # doctest: +SKIP
    >>> await service.create("posts", {"title": "x"}, principal=Principal("7"))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Self

from jsonserve._types import JSONValue, Record
from jsonserve.auth.access import USERS
from jsonserve.auth.principal import ANONYMOUS, Principal
from jsonserve.auth.rules import AllowAll, ChannelRule, ReadRule, WriteRule
from jsonserve.errors import JsonServeError, NotFound, PermissionDenied, ReadOnly, Unauthorized
from jsonserve.query.evaluate import matches
from jsonserve.query.model import AllOf, AnyOf, Condition, Node, Op, Page, Query, Slice
from jsonserve.realtime.feed import ChangeFeed
from jsonserve.realtime.hub import Hub
from jsonserve.schema.declared import RecordSchema
from jsonserve.schema.kind import Kind
from jsonserve.service.catalogue import Catalogue
from jsonserve.service.embed import Join, apply_joins, plan_joins
from jsonserve.service.guards import WriteChecks, precondition, stamped, sweep_plan
from jsonserve.service.options import ServiceOptions
from jsonserve.service.redact import Redaction
from jsonserve.storage.base import Dependents, Storage
from jsonserve.storage.changelog import Change

if TYPE_CHECKING:
    from jsonserve.service.accounts import Accounts

__all__ = ["Listing", "Service", "ServiceOptions"]


@dataclass(frozen=True)
class Listing:
    """A list result: the records (joins applied), the total before windowing, and the query."""

    items: list[Record]
    total: int
    query: Query


class Service:
    """Reads and writes through one storage on behalf of a caller, publishing every change.

    ``read_rule`` says what each caller may read and ``write_rule`` what they may write
    (:class:`AllowAll` without ``--auth``); ``redaction`` names fields no answer shows;
    ``channel_rule`` who may subscribe to and publish on realtime channels. ``feed`` hands the
    published changes to realtime subscribers in ``seq`` order.
    """

    def __init__(
        self,
        storage: Storage,
        hub: Hub,
        options: ServiceOptions | None = None,
        schemas: Mapping[str, RecordSchema] | None = None,
        clock: Callable[[], float] = time.time,
        *,
        read_rule: ReadRule | None = None,
        write_rule: WriteRule | None = None,
        redaction: Redaction | None = None,
        channel_rule: ChannelRule | None = None,
    ) -> None:
        self.storage = storage
        self.hub = hub
        self.options = options or ServiceOptions()
        self.feed = ChangeFeed(storage, hub, shared=self.options.shared)
        self.channel_rule: ChannelRule = channel_rule or AllowAll()
        self.redaction = redaction or Redaction()
        self.catalogue = Catalogue(storage, self.options, schemas or {}, self._samples, self.redaction)
        self._read_rule: ReadRule = read_rule or AllowAll()
        self._write_rule: WriteRule = write_rule or AllowAll()
        self._checks = WriteChecks(self.catalogue, self._write_rule, self.redaction)
        self.accounts: Accounts | None = None  # users, logins and tokens (``--auth``; set by build_service)
        self._clock = clock
        storage.on_own_changes(self.publish)  # a reload's resets reach the catalogue and the hub too

    @property
    def read_rule(self) -> ReadRule:
        """What each caller may read (the filter every read ANDs in; realtime checks each change with it)."""
        return self._read_rule

    # -- lifecycle: ``async with service:`` opens the storage and closes it (flushing writes) ---------

    async def open(self) -> None:
        """Open the storage: load the file or connect to the database.

        Raises :class:`StorageCorrupt`, :class:`StorageLocked` or :class:`BackendUnavailable` when
        that is impossible (and ``OSError`` when a file cannot be read), :class:`BrokerUnavailable`
        when ``--redis`` does not answer, and :class:`SchemaFileError` (the storage closed again) when
        ``--schema`` names a resource the data does not have (:meth:`Catalogue.check_declared`).
        ``async with service:`` calls it, and :meth:`aclose` on the way out.

        Example:
            >>> async with build_service(Settings(source="db.json")) as service:  # doctest: +SKIP
            ...     print(list(service.kinds()))
            ['posts', 'comments', 'profile']
        """
        await self.storage.open()
        try:
            self.catalogue.check_declared()
            await self.hub.start()  # BrokerUnavailable: --redis names a Redis that does not answer
        except BaseException:  # re-raised: the storage is closed again on every way out
            await self.storage.aclose()
            raise
        await self.feed.start()

    async def aclose(self) -> None:
        """Stop the feed (ending realtime streams) and the hub, then close the storage, flushing every write."""
        try:
            await self.feed.stop()
            await self.hub.stop()
        finally:
            await self.storage.aclose()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def readiness(self) -> str | None:
        """``None`` when the storage can serve reads and writes now, else why not (``GET /ready``)."""
        return await self.storage.readiness()

    # -- the catalogue (what the routes need of it) ------------------------------------------

    def kinds(self) -> dict[str, Kind]:
        """Routable names and their kinds (current: follows reloads)."""
        return self.catalogue.kinds()

    def kind(self, name: str) -> Kind:
        """The kind of one name, or :class:`NotFound`."""
        return self.catalogue.kind(name)

    def creatable(self, name: str) -> bool:
        """Whether a POST may create ``name`` as a new collection (``--auto-create`` or a declared schema)."""
        return self.catalogue.creatable(name)

    # -- reads -------------------------------------------------------------------------------

    async def find(self, query: Query, *, principal: Principal = ANONYMOUS) -> Listing:
        """Filter, sort, window, then join one collection: what ``principal`` may read of it."""
        self._plural(query.collection)
        self.redaction.check_query(query)
        joins = self._joins(query.collection, query)
        page = await self._read(principal, query, primary=True)
        return Listing(await self._join(principal, page.items, joins), page.total, query)

    async def find_related(self, query: Query, *, principal: Principal = ANONYMOUS) -> Page:
        """A read on behalf of a relation (GraphQL's nested lists and parents), as ``_embed`` reads: no joins.

        The caller's rule applies; a collection the caller must sign in to read shows nothing here
        rather than raising :class:`Unauthorized` (the request's own collection is not this one).
        """
        self._plural(query.collection)
        self.redaction.check_query(query)
        return await self._read(principal, query)

    async def list_nested(
        self, parent: str, parent_id: str, query: Query, *, principal: Principal = ANONYMOUS
    ) -> Listing:
        """``GET /posts/1/comments``: the children of an existing parent, with any other query."""
        await self.get(parent, parent_id, principal=principal)
        link = Condition((self.catalogue.relations().foreign_key(parent),), Op.EQ, parent_id)
        return await self.find(_and_where(query, link), principal=principal)

    async def get(
        self, collection: str, record_id: str, query: Query | None = None, *, principal: Principal = ANONYMOUS
    ) -> Record:
        """One record (with joins when ``query`` asks), or :class:`NotFound`.

        A record the caller may not read is :class:`NotFound` too, or :class:`PermissionDenied` with
        ``reveal_forbidden``; :class:`Unauthorized` when the caller must sign in first.
        """
        self._plural(collection)
        record = await self._read_one(principal, collection, record_id, primary=True)
        if record is None:
            raise NotFound(f"no record in {collection} with id {record_id!r}")
        joins = self._joins(collection, query) if query is not None else []
        return (await self._join(principal, [record], joins))[0] if joins else record

    async def get_singular(self, name: str, *, principal: Principal = ANONYMOUS) -> Record:
        """A singular resource (``/profile``), or :class:`NotFound` when ``principal`` may not read it."""
        record = await self.storage.get_singular(name)
        rule = self._rule(principal, name, primary=True)
        if rule is not None and not matches(record, rule):
            raise self._unreadable(f"no resource named {name!r}", f"you may not read {name}")
        return self.redaction.record(name, record)

    async def dump(self, *, principal: Principal = ANONYMOUS) -> dict[str, JSONValue]:
        """The whole database (``GET /db``): what ``principal`` may read of every resource.

        One snapshot of the storage (consistent, and holding the top-level values that are no
        resource), each resource then filtered by the caller's rule with the reference evaluator.
        """
        snapshot = await self.storage.dump()
        for name, kind in self.kinds().items():
            if name in snapshot:
                shown = self.redaction.readable(name, snapshot[name], kind, self._rule(principal, name))
                if shown is None:
                    del snapshot[name]
                else:
                    snapshot[name] = shown
        return snapshot

    async def counts(self, *, principal: Principal = ANONYMOUS) -> dict[str, int | None]:
        """Record counts per collection (``None`` for singular resources), for the home page."""
        return {
            name: (await self._read(principal, Query(name, window=Slice(0, 0)))).total if kind is Kind.PLURAL else None
            for name, kind in self.kinds().items()
        }

    async def _samples(self, name: str, count: int) -> list[Record]:
        """The catalogue's examples: the first records of ``name`` an anonymous caller may read."""
        if self.kind(name) is Kind.PLURAL:
            return (await self._read(ANONYMOUS, Query(name, window=Slice(0, count)))).items
        try:
            return [await self.get_singular(name)]
        except (NotFound, PermissionDenied, Unauthorized):  # not there, or not for anonymous eyes (--auth)
            return []

    # -- the read path: every read of records comes through here ---------------------------

    def _rule(self, principal: Principal, collection: str, *, primary: bool = False) -> Node | None:
        """The one place the read rule is asked: what ``principal`` may read of ``collection``.

        A caller who must sign in first is :class:`Unauthorized` on the request's own collection
        (``primary``); for joins, ``/db`` and counts that collection just shows nothing.
        """
        try:
            return self._read_rule(principal, collection)
        except Unauthorized:
            if primary:
                raise
            return NOTHING

    async def _read(self, principal: Principal, query: Query, *, primary: bool = False) -> Page:
        """``query`` with the caller's rule ANDed into its filter, so storage (SQL too) applies both.

        Its ``q`` searches skip the collection's hidden fields (a password hash is never searched).
        """
        rule = self._rule(principal, query.collection, primary=primary)
        query = self.redaction.searchable(query)
        page = await self.storage.find(query if rule is None else _and_where(query, rule))
        return Page(self.redaction.records(query.collection, page.items), page.total)

    async def _read_one(
        self, principal: Principal, collection: str, record_id: str, *, primary: bool = False
    ) -> Record | None:
        """One record by id, if the caller may read it.

        By key, not as a filtered find: an id matches by its text (``"1"`` finds ``1``, ``"01"`` does
        not, which an ``eq`` filter would), and a key lookup is what every backend indexes. The rule
        is then evaluated on that one record with the reference evaluator.
        """
        record = await self.storage.get(collection, record_id)
        rule = self._rule(principal, collection, primary=primary)
        if record is None:
            return None
        if rule is not None and not matches(record, rule):
            raise self._unreadable(
                f"no record in {collection} with id {record_id!r}", f"you may not read this {collection} record"
            )
        return self.redaction.record(collection, record)

    def _unreadable(self, not_found: str, forbidden: str) -> JsonServeError:
        """What reading one existing record the caller may not read raises: 404, or 403 (``reveal_forbidden``)."""
        return PermissionDenied(forbidden) if self.options.reveal_forbidden else NotFound(not_found)

    def _joins(self, collection: str, query: Query) -> list[Join]:
        if not (query.embed or query.expand):
            return []
        return plan_joins(self.catalogue.relations(), collection, query.embed, query.expand)

    async def _join(self, principal: Principal, records: list[Record], joins: list[Join]) -> list[Record]:
        async def fetch(query: Query) -> Page:
            return await self._read(principal, query)

        return await apply_joins(fetch, self.storage.id_field, records, joins)

    # -- writes ------------------------------------------------------------------------------

    async def create(self, collection: str, body: Record, *, principal: Principal = ANONYMOUS) -> Record:
        """``POST /posts``: insert, keeping a free client id (0.17) or generating one (1.x).

        With ``auto_create`` (or a declared schema) a missing collection is created by its first record.
        """
        new_collection = self.check_creatable(collection)
        self.redaction.check_body(collection, body)
        record = self._write_rule.create(principal, collection, self._stamp(body, None))
        self._checks.validate(collection, record)
        change = await self.storage.create(
            collection,
            record,
            generated_ids=self.options.compat == "1",
            new_collection=new_collection,
            actor=principal.id,
        )
        return self._publish([change], collection)

    def prepared(self, collection: str, record: Record) -> Record:
        """A record the server itself creates (a registered user) as it will be stored.

        It gets what a ``POST`` would give it: the timestamps (``--timestamps``) and the check against
        the collection's declared schema (:class:`ValidationFailed`); no write rule applies.
        """
        record = self._stamp(record, None)
        self._checks.validate(collection, record)
        return record

    async def create_nested(
        self, parent: str, parent_id: str, child: str, body: Record, *, principal: Principal = ANONYMOUS
    ) -> Record:
        """``POST /posts/1/comments``: create a child whose foreign key is the parent's id."""
        parent_record = await self.get(parent, parent_id, principal=principal)
        key = self.catalogue.relations().foreign_key(parent)
        return await self.create(child, {**body, key: parent_record[self.storage.id_field]}, principal=principal)

    async def replace(
        self,
        collection: str,
        record_id: str,
        body: Record,
        if_match: str | None = None,
        *,
        principal: Principal = ANONYMOUS,
    ) -> Record:
        """``PUT``: replace the whole record; the id stays."""
        accept = await self._email_rule(collection, record_id, body)
        return await self._update(collection, record_id, lambda _old: body, if_match, principal, accept)

    async def patch(
        self,
        collection: str,
        record_id: str,
        body: Record,
        if_match: str | None = None,
        *,
        principal: Principal = ANONYMOUS,
    ) -> Record:
        """``PATCH``: shallow merge into the record, validated as merged; the id stays."""
        accept = await self._email_rule(collection, record_id, body)
        return await self._update(collection, record_id, lambda old: {**old, **body}, if_match, principal, accept)

    async def _email_rule(self, collection: str, record_id: str, body: Record) -> Callable[[Record], None]:
        """With ``--auth``, a user's email stays valid and unique (ignoring case) when a PUT or PATCH changes it.

        The lookup happens here; the verdict is given inside the write, after the rules (a 403 first).
        """
        if self.accounts is None or collection != USERS or "email" not in body:
            return _accept_any
        return await self.accounts.new_email_rule(body["email"], record_id)

    async def _update(
        self,
        collection: str,
        record_id: str,
        merge: Callable[[Record], Record],
        if_match: str | None,
        principal: Principal,
        accept: Callable[[Record], None] = lambda _record: None,
    ) -> Record:
        """Write ``merge(current)``, stamped and validated, under the storage's lock and ``If-Match``."""
        self.check_writable(collection, Kind.PLURAL)
        guarded = self._checks.guarded(collection, principal, lambda old: self._stamp(merge(old), old))

        def build(old: Record) -> Record:
            new = guarded(old)
            accept(new)
            return new

        change = await self.storage.update(collection, record_id, build, precondition(if_match), actor=principal.id)
        return self._publish([change], collection)

    async def delete(
        self,
        collection: str,
        record_id: str,
        dependents: tuple[str, ...] = (),
        if_match: str | None = None,
        *,
        principal: Principal = ANONYMOUS,
    ) -> Record:
        """``DELETE``: remove a record and sweep what points at it; returns the deleted record.

        Every record the sweep deletes must be one the caller may delete (else nothing is deleted).
        """
        self.check_writable(collection, Kind.PLURAL)
        sweep = self._dependents(dependents, principal)
        check = self._checks.deletable(collection, principal, precondition(if_match))
        changes = await self.storage.delete(collection, record_id, sweep, check, actor=principal.id)
        self._publish(changes)
        return self.redaction.record(collection, changes[0].previous or {})

    async def replace_singular(
        self, name: str, body: Record, if_match: str | None = None, *, principal: Principal = ANONYMOUS
    ) -> Record:
        """``PUT /profile`` (and 0.17's ``POST /profile``): replace the object."""
        self.check_writable(name, Kind.SINGULAR)
        build = self._checks.guarded(name, principal, lambda _old: dict(body), keep_id=False)
        change = await self.storage.update_singular(name, build, precondition(if_match), actor=principal.id)
        return self._publish([change], name)

    async def patch_singular(
        self, name: str, body: Record, if_match: str | None = None, *, principal: Principal = ANONYMOUS
    ) -> Record:
        """``PATCH /profile``: shallow merge."""
        self.check_writable(name, Kind.SINGULAR)
        build = self._checks.guarded(name, principal, lambda old: {**old, **body}, keep_id=False)
        change = await self.storage.update_singular(name, build, precondition(if_match), actor=principal.id)
        return self._publish([change], name)

    # -- checks the routes make before reading a body --------------------------------------

    def check_writable(self, name: str, kind: Kind) -> None:
        """Raise unless ``name`` is a resource of ``kind`` that may be written now (``--read-only``)."""
        if self.options.read_only:
            raise ReadOnly("the server runs with --read-only: only GET, HEAD and OPTIONS are allowed")
        if self.kind(name) is not kind:
            raise NotFound(f"no {kind.value} resource named {name!r}")

    def check_creatable(self, collection: str) -> bool:
        """Raise unless a record may be created in ``collection``; ``True`` when the collection is new."""
        if self.creatable(collection) and not self.options.read_only:
            return True
        self.check_writable(collection, Kind.PLURAL)
        return False

    # -- internals ---------------------------------------------------------------------------

    def _plural(self, name: str) -> None:
        if self.kind(name) is not Kind.PLURAL:
            raise NotFound(f"{name!r} is a singular resource; it has no records by id")

    def _stamp(self, body: Record, current: Record | None) -> Record:
        """``body`` with server-managed timestamps (``--timestamps``); a client's own values are dropped."""
        return stamped(body, current, self._clock()) if self.options.timestamps else dict(body)

    def _dependents(self, requested: tuple[str, ...], principal: Principal) -> Dependents:
        cascade, deletable = self.options.compat != "1", self._checks.dependent(principal)
        return sweep_plan(self.catalogue.relations(), requested, cascade=cascade, deletable=deletable)

    def publish(self, changes: list[Change]) -> None:
        """Let the catalogue and the hub know of ``changes`` (the accounts write users through storage)."""
        for change in changes:
            self.catalogue.observe(change)
            self.hub.publish(change)

    def _publish(self, changes: list[Change], collection: str = "") -> Record:
        """Publish ``changes``; the first one's record, as a client may see it."""
        self.publish(changes)
        return self.redaction.record(collection, changes[0].record or {})


NOTHING: Node = AnyOf(())  # a filter no record matches


def _accept_any(_record: Record) -> None:
    """An ``accept`` for :meth:`Service._update` that accepts anything."""


def _and_where(query: Query, node: Node) -> Query:
    """``query`` whose filter must also match ``node`` (kept flat: storage indexes top-level conditions)."""
    items = query.where.items if isinstance(query.where, AllOf) else (query.where,)
    return replace(query, where=AllOf((*items, node)))

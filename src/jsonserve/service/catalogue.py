"""The catalogue: what the server serves, in one object that builders (OpenAPI, GraphQL) read.

It knows the resources and their kinds, the relations between collections, each collection's
shape (inferred, and widened by every write) and declared schema, the fields the server manages,
the server's mode (dialect, ``--read-only``, ``--timestamps``, ``--auto-create``), and under
``--auth`` who may do what (the rules) and which fields no answer shows. Its
:attr:`Catalogue.version` changes whenever any of that may have changed, so a builder can keep what
it built until the version moves:

* a resource appears or disappears (``--auto-create``, a reload);
* the storage reloads data changed outside its writes (:meth:`Storage.generation`, ``--watch``);
* a write widens a collection's shape, or replaces a singular resource's object (whose shape is
  that object's own).

The catalogue follows this instance's writes (the Service calls :meth:`Catalogue.observe` for each
change it publishes) and its storage's reloads.

Example:
    >>> catalogue = Catalogue(MemoryStorage({"posts": [{"id": 1}]}), ServiceOptions(), {})  # doctest: +SKIP
    >>> catalogue.kinds(), catalogue.version  # doctest: +SKIP
    ({'posts': <Kind.PLURAL: 'plural'>}, 1)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping

from jsonserve._types import Record
from jsonserve.auth.access import RuleSet
from jsonserve.errors import NotFound
from jsonserve.schema.declared import RecordSchema, SchemaFileError
from jsonserve.schema.infer import Shape, infer
from jsonserve.schema.kind import Kind
from jsonserve.schema.relations import Relations
from jsonserve.service.options import ServiceOptions
from jsonserve.service.redact import Redaction
from jsonserve.service.shapes import Shapes
from jsonserve.storage.base import Storage
from jsonserve.storage.changelog import Change

CREATED_AT, UPDATED_AT = "createdAt", "updatedAt"
STAMPS = (CREATED_AT, UPDATED_AT)
NEW_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
log = logging.getLogger("jsonserve.service")

_Seen = tuple[int, tuple[tuple[str, Kind], ...]]
Sampler = Callable[[str, int], Awaitable[list[Record]]]


class Catalogue:
    """The resources one storage serves, with their relations, shapes and schemas, versioned.

    ``sampler`` reads a few records of a resource for the examples of a public document: the
    Service gives its read path for an anonymous caller (without one there are no examples).
    ``redaction`` names the fields no answer shows (the Service's).
    """

    def __init__(
        self,
        storage: Storage,
        options: ServiceOptions,
        schemas: Mapping[str, RecordSchema],
        sampler: Sampler | None = None,
        redaction: Redaction | None = None,
    ) -> None:
        self._storage = storage
        self._options = options
        self._schemas = dict(schemas)
        self._sampler = sampler
        self._redaction = redaction or Redaction()
        self._shapes = Shapes(storage)
        self._version = 0
        self._seen: _Seen | None = None

    # -- the server's mode -------------------------------------------------------------------

    @property
    def compat(self) -> str:
        """The json-server dialect: ``"0.17"`` or ``"1"``."""
        return self._options.compat

    @property
    def read_only(self) -> bool:
        """Whether writes are refused (``--read-only``)."""
        return self._options.read_only

    @property
    def timestamps(self) -> bool:
        """Whether the server stamps ``createdAt``/``updatedAt`` (``--timestamps``)."""
        return self._options.timestamps

    @property
    def auto_create(self) -> bool:
        """Whether a POST may create a new collection (``--auto-create``)."""
        return self._options.auto_create

    @property
    def max_page_size(self) -> int:
        """The most records a page or a ``_limit`` holds (``--max-page-size``): larger values are read as it."""
        return self._options.max_page_size

    @property
    def id_field(self) -> str:
        """The field that holds a record's id."""
        return self._storage.id_field

    @property
    def fk_suffix(self) -> str:
        """What follows a parent's singular name in a foreign key (``--fks``, default ``Id``)."""
        return self._options.fk_suffix

    @property
    def managed_fields(self) -> tuple[str, ...]:
        """Top-level fields the server sets on records: the id, and the timestamps with ``--timestamps``."""
        return (self.id_field, *(STAMPS if self.timestamps else ()))

    @property
    def rules(self) -> RuleSet | None:
        """Who may read and write each collection under ``--auth`` (``None`` without it)."""
        return self._options.rules

    @property
    def auth_features(self) -> frozenset[str]:
        """The optional accounts endpoints that are on under ``--auth`` (``refresh``, ``jwks``)."""
        return self._options.auth_features

    @property
    def reveal_forbidden(self) -> bool:
        """Whether reading one record the caller may not read is a 403 (else a 404, ``--hide-forbidden``)."""
        return self._options.reveal_forbidden

    def hidden(self, name: str) -> frozenset[str]:
        """Fields of ``name`` that no answer shows and no client writes (``--auth``: a user's password hash)."""
        return self._redaction.hidden(name)

    # -- the resources -----------------------------------------------------------------------

    def kinds(self) -> dict[str, Kind]:
        """Routable names and their kinds (current: follows reloads)."""
        return self._storage.kinds()

    def kind(self, name: str) -> Kind:
        """The kind of one name, or :class:`NotFound`."""
        kind = self._storage.kinds().get(name)
        if kind is None:
            raise NotFound(f"no resource named {name!r}")
        return kind

    def collections(self) -> list[str]:
        """The names of the plural resources, in the data's order."""
        return [name for name, kind in self.kinds().items() if kind is Kind.PLURAL]

    def relations(self) -> Relations:
        """Foreign-key relations between the current collections."""
        return Relations(self.collections(), self.fk_suffix)

    def declared(self, name: str) -> RecordSchema | None:
        """The schema ``--schema`` declares for ``name``, if any."""
        return self._schemas.get(name)

    def check_declared(self) -> None:
        """Refuse schemas (``--schema``) for names the data does not have: a typo would leave validation off.

        With ``--auto-create`` such a schema may be meant for a collection a POST will create: a
        warning then, and the schema applies to that collection's first POST.

        Raises :class:`SchemaFileError` naming the unknown names and the resources there are.
        """
        kinds = self.kinds()
        unknown = [name for name in self._schemas if name not in kinds]
        if not unknown:
            return
        listed = ", ".join(repr(name) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        if self.auto_create:
            log.warning("--schema declares %s, not in the data yet: a POST will create it (--auto-create)", listed)
            return
        resources = ", ".join(kinds) or "none"
        raise SchemaFileError(
            f"--schema declares {listed}, but the data has no resource{plural} of that name (its resources: "
            f"{resources}); correct the name, or add --auto-create to let a POST create it"
        )

    def creatable(self, name: str) -> bool:
        """Whether a POST may create ``name`` as a new collection (``--auto-create`` or a declared schema)."""
        return (
            (self.auto_create or name in self._schemas)
            and name not in self.kinds()
            and name not in self._options.reserved
            and NEW_NAME.fullmatch(name) is not None
        )

    async def shape(self, name: str) -> Shape:
        """What the records of a collection look like (inferred, then widened by writes), or a singular's object."""
        if self.kind(name) is Kind.SINGULAR:
            return infer([await self._storage.get_singular(name)])
        return await self._shapes.shape(name)

    async def samples(self, name: str, count: int) -> list[Record]:
        """Up to ``count`` records of ``name`` (a singular's object) that anyone may read, for examples."""
        return [] if self._sampler is None else await self._sampler(name, count)

    # -- versions ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """A number that grows whenever what the catalogue describes may have changed."""
        seen = (self._storage.generation(), tuple(self._storage.kinds().items()))
        if seen != self._seen:
            self._seen = seen
            self._version += 1
        return self._version

    def observe(self, change: Change) -> None:
        """Follow one committed write: widen its collection's shape; a new version if anything changed."""
        widened = self._shapes.observe(change)
        if widened or self._storage.kinds().get(change.collection) is Kind.SINGULAR:
            self._version += 1

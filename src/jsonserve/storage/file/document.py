r"""The data file's format, owned once: a json-server document, read whole or streamed, and written.

A document is a JSON object whose keys are resources: an array is a collection of records (objects
with an id), an object is a singular resource, and a ``$``-key (``$schema``) is kept as it is but never
routed. The rules are checked by the same code, with the same messages, whether the document is read
whole (the ``memory`` and ``jsonfile`` backends, a database's seed) or streamed a record at a time
(``import``/``export``): :func:`section_kind` for a top-level key, :class:`IdRules` for the records of a
collection. A broken rule is a :class:`DocumentError`; whoever knows the file the data came from names
it in the message (:func:`naming`), so the user is told which file to fix.

One :class:`Encoder` writes the file two-space indented like json-server, whole
(:func:`encode_parts`) or as the sections of a stream arrive.

Example:
    >>> encode_document({"posts": [{"id": 1}]})
    b'{\n  "posts": [\n    {\n      "id": 1\n    }\n  ]\n}\n'
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from jsonserve._types import JSONValue, Record
from jsonserve.errors import StorageCorrupt
from jsonserve.schema.infer import json_type
from jsonserve.storage.ids import id_key

SectionKind = Literal["plural", "singular", "extra"]
CHUNK = 2000  # records per orjson call when a whole document is encoded
INT_RANGE = (-(2**63), 2**64 - 1)  # what orjson (and so every backend) holds as an integer
ARRAY: Any = object()  # for section_kind: the value is an array whose items are still unread


class DocumentError(StorageCorrupt):
    """The data breaks a rule of the format (a top level that is no object, a record that is no object …)."""

    def __init__(self, message: str, *, named: bool = False) -> None:
        super().__init__(message)
        self.named = named  # the message already names the file


@contextlib.contextmanager
def naming(source: str | Path) -> Iterator[None]:
    """Name ``source`` in a :class:`DocumentError` raised inside: ``db.json: posts[0] is not an object``.

    Example:
        >>> with naming("db.json"):  # doctest: +SKIP
        ...     storage.load(document)
    """
    try:
        yield
    except DocumentError as error:
        if error.named:
            raise
        raise DocumentError(f"{source}: {error}", named=True) from None


def not_an_object(kind: str, source: str | Path | None = None) -> DocumentError:
    """The error for a document whose top level is a JSON ``kind`` (``array``, ``string`` …) instead of an object.

    A top-level array is what a user with one list of records tries first: say how to serve it.
    """
    where = "the data is" if source is None else f"{source} holds"
    kind = "number" if kind == "integer" else kind
    if kind == "array":
        return DocumentError(
            f"{where} a JSON array, but the data must be a JSON object whose keys are resources: "
            'to serve these records at /items, write the file as {"items": [...]}',
            named=source is not None,
        )
    return DocumentError(
        f'{where} a JSON {kind}; it must be a JSON object whose keys are resources, such as {{"posts": []}}',
        named=source is not None,
    )


class IntegerOverflow(Exception):
    """The fast (C) streaming parser met an integer beyond 63 bits: read again with ``exact=True``."""


@dataclass(frozen=True)
class Section:
    """One top-level key of a document, in order: a collection (its records streamed) or one value."""

    name: str
    kind: SectionKind
    value: JSONValue = None
    records: AsyncIterator[Record] | None = None
    high: int = 0  # the id high-water mark the source declares (0: unknown)


# -- the rules -------------------------------------------------------------------------------------


def section_kind(name: str, value: object) -> SectionKind:
    """The kind of the top-level key ``name`` holding ``value`` (or :data:`ARRAY`), or :class:`DocumentError`."""
    if name.startswith("$"):
        return "extra"
    if not name or "/" in name or not name.isprintable():
        raise DocumentError(f"resource name {name!r} cannot be routed (empty, '/' or control characters)")
    if value is ARRAY or isinstance(value, list):
        return "plural"
    if isinstance(value, dict):
        return "singular"
    raise DocumentError(f"resource {name!r} must be an array or an object, not {type(value).__name__}")


class IdRules:
    """A collection's records checked one by one: objects, ids that are numbers or strings, no id twice.

    A record without an id waits until the end, then gets the next integer (json-server 1.x gives
    id-less records an id on load). Tracks the high-water mark (the declared one, or the largest
    integer id) and whether every id is an integer. ``unique=False`` leaves the repeated-id check to
    a target that refuses them itself (a database's key), saving the memory of every id seen.
    """

    def __init__(self, name: str, id_field: str, *, high: int = 0, unique: bool = True) -> None:
        self.name = name
        self.id_field = id_field
        self.declared = high
        self.largest = 0
        self.int_ids = True
        self._missing: list[Record] = []
        self._seen: set[str] | None = set() if unique else None

    @property
    def high(self) -> int:
        """The id high-water mark: the declared one or the largest integer id, whichever is larger."""
        return max(self.declared, self.largest)

    def accept(self, index: int, item: object) -> Record | None:
        """Check the item at ``index``: the record when it has an id, ``None`` when it waits for one."""
        if not isinstance(item, dict):
            raise DocumentError(f"{self.name}[{index}] is not an object")
        value = item.get(self.id_field)
        if value is None:
            self._missing.append(item)
            return None
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise DocumentError(f"{self.name}[{index}] has an id that is not a number or a string: {value!r}")
        if isinstance(value, int):
            self.largest = max(self.largest, value)
        else:
            self.int_ids = False
        if self._seen is not None:
            key = id_key(value)  # type: ignore[arg-type]  # a float id keys by its text too
            if key in self._seen:
                raise DocumentError(f"{self.name} has two records with id {value!r}")
            self._seen.add(key)
        return item

    def deferred(self) -> Iterator[Record]:
        """The records that had no id, each given the next integer."""
        missing, self._missing = self._missing, []
        for record in missing:
            self.largest = self.high + 1
            record[self.id_field] = self.largest
            yield record

    def each(self, items: Iterable[object]) -> Iterator[Record]:
        """Every record of a collection read whole, checked, id-less ones last."""
        for index, item in enumerate(items):
            if (record := self.accept(index, item)) is not None:
                yield record
        yield from self.deferred()

    async def records(self, items: AsyncIterator[object]) -> AsyncIterator[Record]:
        """:meth:`each` for a stream."""
        index = 0
        async for item in items:
            if (record := self.accept(index, item)) is not None:
                yield record
            index += 1
        for record in self.deferred():
            yield record


@dataclass(frozen=True)
class Collection:
    """A collection read whole: its records by id key, its id high-water mark, whether every id is an integer."""

    records: dict[str, Record]
    high: int
    int_ids: bool


def collection(name: str, items: list[JSONValue], id_field: str) -> Collection:
    """Check a whole collection's records (:class:`IdRules`) and key them by id."""
    fast = _integer_ids(items, id_field)
    if fast is not None:
        return fast
    rules = IdRules(name, id_field)
    records = {id_key(record[id_field]): record for record in rules.each(items)}  # type: ignore[arg-type]
    return Collection(records, rules.high, rules.int_ids)


def _integer_ids(items: list[JSONValue], id_field: str) -> Collection | None:
    """The common case in bulk (objects with distinct integer ids), several times faster; else ``None``."""
    try:
        ids: list[JSONValue] = [item[id_field] for item in items]  # type: ignore[call-overload, index]
    except (TypeError, KeyError):
        return None
    if not all(type(value) is int for value in ids):
        return None
    records: dict[str, Record] = {str(key): item for key, item in zip(ids, items, strict=True)}  # type: ignore[misc]
    if len(records) != len(items):
        return None
    return Collection(records, max(ids, default=0), True)  # type: ignore[type-var, arg-type]


# -- reading whole ---------------------------------------------------------------------------------


def read_document(path: Path) -> JSONValue:
    """Parse a data file, or raise :class:`StorageCorrupt` with a message a person can act on."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StorageCorrupt(f"{path} does not exist") from None
    except OSError as error:
        raise StorageCorrupt(f"{path} cannot be read: {error.strerror}") from None
    if not raw.strip():
        raise StorageCorrupt(f'{path} is empty; it must hold a JSON object such as {{"posts": []}}')
    try:
        document: JSONValue = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise _not_json(path, error) from None
    if not isinstance(document, dict):
        raise not_an_object(json_type(document), path)
    return document


def items(document: object) -> Iterator[tuple[str, SectionKind, JSONValue]]:
    """A document's top-level keys in order, each with its kind (checked) and value."""
    if not isinstance(document, dict):
        raise not_an_object(json_type(document))  # type: ignore[arg-type]  # a JSON value, not an object
    for name, value in document.items():
        yield name, section_kind(name, value), value


async def sections(document: object) -> AsyncIterator[Section]:
    """A document held in memory as a stream of sections (what a database is seeded from)."""
    for name, kind, value in items(document):
        if kind == "plural":
            yield Section(name, kind, records=_aiter(value))  # type: ignore[arg-type]
        else:
            yield Section(name, kind, value)


def _not_json(path: str | Path, error: Exception) -> StorageCorrupt:
    return StorageCorrupt(f"{path} is not valid JSON: {error}")


async def _aiter(values: Iterable[Any]) -> AsyncIterator[Any]:
    for value in values:
        yield value


# -- streaming -------------------------------------------------------------------------------------

Event = tuple[str, str, Any]
_EVENT_TYPES = {"start_array": "array", "string": "string", "number": "number", "boolean": "boolean", "null": "null"}


async def stream_sections(file: IO[bytes], highs: dict[str, int], *, exact: bool = False) -> AsyncIterator[Section]:
    """A data file read as a stream of sections, records one at a time, in bounded memory (``ijson``).

    ``highs`` are the declared id high-water marks (from the journal). The fast C parser holds
    63-bit integers: beyond them it raises :class:`IntegerOverflow`, and ``exact=True`` reads with
    Python's parser (slower, any integer). Records the consumer leaves unread are skipped.
    """
    import ijson  # only import/export stream: serving a file does not pay for the import

    parser = ijson.get_backend("python" if exact else ijson.backend_name)  # the C one (yajl2_c) when built
    events = parser.parse(file, use_float=True)
    with _parsing(file):
        for parsed in _sections(events, highs, parser, file.name):
            section = parsed if parsed.records is None else replace(parsed, records=_guarded(file, parsed.records))
            yield section
            if section.records is not None:
                async for _record in section.records:
                    pass


def _sections(events: Iterator[Event], highs: dict[str, int], parser: Any, source: str) -> Iterator[Section]:
    _, event, _ = next(events, ("", "end", None))
    if event != "start_map":
        raise not_an_object(_EVENT_TYPES.get(event, "value"), source)
    for _, event, name in events:
        if event == "end_map":
            return
        first = next(events)
        if first[1] == "start_array" and section_kind(name, ARRAY) == "plural":
            records = _aiter(_records(events, name, parser))
            yield Section(name, "plural", records=records, high=highs.get(name, 0))
        else:
            value = _value(events, first, parser)
            yield Section(name, section_kind(name, value), value)


def _records(events: Iterator[Event], name: str, parser: Any) -> Iterator[Any]:
    """The items of the top-level array ``name``, built by ijson's C builder from the shared event stream."""
    import ijson

    built: list[Any] = ijson.utils.sendable_list()
    send = parser.items_basecoro(built, f"{name}.item").send
    for event in events:
        if event[1] == "end_array" and event[0] == name:
            return
        send(event)
        if built:
            yield from (_as_orjson(item) for item in built)
            del built[:]


def _value(events: Iterator[Event], first: Event, parser: Any) -> JSONValue:
    import ijson

    built: list[Any] = ijson.utils.sendable_list()
    builder = parser.items_basecoro(built, first[0])
    builder.send(first)
    while not built:
        builder.send(next(events))
    value: JSONValue = _as_orjson(built[0])
    return value


async def _guarded(file: IO[bytes], records: AsyncIterator[Record]) -> AsyncIterator[Record]:
    with _parsing(file):
        async for record in records:
            yield record


@contextlib.contextmanager
def _parsing(file: IO[bytes]) -> Iterator[None]:
    import ijson

    try:
        yield
    except ijson.JSONError as error:
        if "integer overflow" in str(error):
            raise IntegerOverflow from None
        raise _not_json(file.name, error) from None


def _as_orjson(value: Any) -> Any:
    """``value`` as orjson would have parsed it (and as every backend stores it): integers beyond 64 bits are floats."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        value = _narrow(value)
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError as error:
            raise StorageCorrupt(f"a value cannot be stored: {error}") from None
    return value


def _narrow(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _narrow(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_narrow(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        return float(value)
    return value


# -- writing ---------------------------------------------------------------------------------------


class Encoder:
    """The file's bytes, piece by piece: two-space indented like json-server writes it.

    Keys come in document order, each as one value (:meth:`value`) or as an array whose records
    arrive in batches (:meth:`open_array`, :meth:`records`, :meth:`close_array`); :meth:`close` ends it.
    A batch is one orjson call: fast, and the whole document is never in memory at once.
    """

    def __init__(self) -> None:
        self._keys = 0
        self._records = 0

    def value(self, name: str, value: JSONValue) -> bytes:
        """A whole top-level key."""
        return self._key(name) + orjson.dumps(value, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")

    def open_array(self, name: str) -> bytes:
        """The key of an array whose records follow."""
        self._records = 0
        return self._key(name)

    def records(self, batch: list[Record]) -> bytes:
        """The next records of the open array (``batch`` must not be empty)."""
        inner = orjson.dumps(batch, option=orjson.OPT_INDENT_2)[1:-2]  # without "[" and "\n]"
        start = b"[" if self._records == 0 else b","
        self._records += len(batch)
        return start + inner.replace(b"\n", b"\n  ")

    def close_array(self) -> bytes:
        """The end of the open array."""
        return b"\n  ]" if self._records else b"[]"

    def close(self) -> bytes:
        """The end of the document."""
        return b"\n}\n" if self._keys else b"{}\n"

    def _key(self, name: str) -> bytes:
        self._keys += 1
        return (b"{\n  " if self._keys == 1 else b",\n  ") + orjson.dumps(name) + b": "


def encode_document(document: dict[str, JSONValue]) -> bytes:
    """The file's content for ``document``."""
    return b"".join(encode_parts(document))


def encode_parts(document: dict[str, JSONValue]) -> Iterator[bytes]:
    """:func:`encode_document`'s bytes in parts of at most ``CHUNK`` records, encoded as they are asked for.

    A writer thread consuming them holds the GIL for one part at a time, so the event loop keeps
    answering while a large file is rewritten, and the whole file is never in memory at once.
    """
    encoder = Encoder()
    for name, value in document.items():
        if not (isinstance(value, list) and value):
            yield encoder.value(name, value)
            continue
        yield encoder.open_array(name)
        for start in range(0, len(value), CHUNK):
            yield encoder.records(value[start : start + CHUNK])  # type: ignore[arg-type]
        yield encoder.close_array()
    yield encoder.close()

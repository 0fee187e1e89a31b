"""The ``jsonfile`` backend: the user's JSON file stays the source of truth, writes are durable.

How a write becomes durable (see ``docs/storage.md``):

1. it is applied in memory (atomic on the event loop) and queued as one journal line;
2. one writer task appends every queued line and fsyncs once (group commit); only then does each
   write's request get its 2xx — so an acknowledged write survives ``kill -9`` or power loss;
3. a compactor rewrites the JSON file (temp + fsync + rename + fsync of the folder) within about a
   second of a write and at shutdown, then starts a new journal. The file therefore always parses.

After a clean shutdown whose last rewrite holds every write, the journal holds nothing but the
store's ``seq`` and id high-water marks: they move into an attribute of the file (:mod:`.meta`), and
the journal and the lock file are removed, leaving the user's file alone in its folder.

At start the journal is replayed on top of the file. External edits are noticed (with ``watch``, at
once; without it, before the next compaction) by the file's signature, so our own writes never
trigger a reload; an external edit is merged with the writes the file does not hold yet, and an
invalid edit keeps the last good data and refuses writes until it is fixed — the user's file is
never overwritten with stale data.

Example:
    >>> storage = JsonFileStorage(Path("db.json"), watch=True)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path

from jsonserve._types import JSONValue
from jsonserve.errors import StorageCorrupt, StorageUnavailable
from jsonserve.storage.changelog import Change
from jsonserve.storage.file.atomic import Signature, atomic_write, fsync_dir, remove_stale_temps
from jsonserve.storage.file.document import encode_document, encode_parts, naming, read_document
from jsonserve.storage.file.journal import Journal, Op, encode_line, journal_path, lock_for, read_journal
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.storage.file.meta import Meta, read_meta, write_meta
from jsonserve.storage.file.snapshot import load as load_snapshot
from jsonserve.storage.file.snapshot import refresh_later
from jsonserve.storage.file.watch import watch_file
from jsonserve.storage.ids import IdFactory, random_id

log = logging.getLogger("jsonserve.storage")

COMPACT_IDLE = 0.2  # seconds without writes before the file is rewritten
COMPACT_MAX = 1.0  # ... or at the latest this long after the first unsaved write
COMPACT_RETRY = 1.0  # after a failed rewrite, wait at least this long before the next attempt
COMPACT_SHARE = 10  # a large file is rewritten at most every 10x the time its last rewrite took


class JsonFileStorage(MemoryStorage):
    """Memory storage made durable by a journal and kept in sync with its JSON file."""

    def __init__(
        self,
        path: Path,
        *,
        watch: bool = False,
        id_field: str = "id",
        id_factory: IdFactory = random_id,
        clock: Callable[[], float] = time.time,
        seed: dict[str, JSONValue] | None = None,
    ) -> None:
        super().__init__(None, id_field=id_field, id_factory=id_factory, clock=clock)
        self.path = path.resolve()
        self.watch = watch
        self._seed = seed  # what a missing file is created with at open (else it is an error)
        self._journal = Journal(journal_path(self.path))
        self._lock = lock_for(self.path)
        self._queue: list[tuple[bytes, list[Change], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._unsaved: list[Change] = []  # applied since the data file was last written
        self._tail: list[tuple[int, bytes]] = []  # journal lines since the last compaction
        self._first_unsaved: float | None = None
        self._compaction_cost = 0.0  # seconds the last rewrite of the file took
        self._last_write = 0.0
        self._known: Signature | None = None
        self._failed: str | None = None
        self._invalid_edit: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._compactor: asyncio.Task[None] | None = None
        self._journal_lock = asyncio.Lock()  # appends and the journal swap never overlap
        self._closing = False
        self._open = False
        self._created_journal = False  # by this open: nothing was there to replay
        self.reloads = 0
        self._snapshot_stale = False  # the file was parsed: a snapshot is made for the next start

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Lock, load the file (created from the seed if missing), replay the journal, and start the writer."""
        if not self.path.parent.is_dir():
            raise StorageCorrupt(f"cannot open {self.path}: the folder {self.path.parent} does not exist")
        self._lock.acquire()
        loading = asyncio.ensure_future(asyncio.to_thread(self._load_and_replay))
        try:
            await asyncio.shield(loading)
        except BaseException:
            await self._abandon(loading)
            raise
        self.start_log()  # seq goes on from the journal's; the changes before this start are not retained
        # The records live as long as the process: keep them out of the cyclic GC's full collections
        # (which would otherwise scan every record, a pause of a good part of a second at 100k posts).
        gc.freeze()
        if self._snapshot_stale:
            refresh_later(self.path)  # a separate process, after the file has settled; large files only
        self._tasks.append(asyncio.create_task(self._writer(), name="jsonserve-writer"))
        if self.watch:
            self._tasks.append(asyncio.create_task(self._watcher(), name="jsonserve-watcher"))
        self._open = True

    async def aclose(self) -> None:
        """Flush queued writes, write the file a last time, and release the lock (removing its file).

        When the file then holds every write, the journal is retired too (:meth:`_retire_journal`).
        """
        self._closing = True
        self._wake.set()
        for task in self._tasks:
            if task.get_name() == "jsonserve-watcher":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._open and not (self._queue or self._unsaved or self._failed or self._invalid_edit):
            await asyncio.to_thread(self._retire_journal)
        self._open = False
        self._journal.close()
        self._lock.release()

    def generation(self) -> int:
        """How many times the file was reloaded after an outside edit."""
        return self.reloads

    async def readiness(self) -> str | None:
        """Why writes cannot be made durable now (an I/O error, an invalid edit, a closed journal), or ``None``."""
        if self._failed:
            return f"the journal failed ({self._failed}); writes are refused until restart"
        if self._invalid_edit:
            return f"{self.path.name} was edited into invalid JSON; writes are refused until it is fixed"
        if not self._open or not self._journal.is_open or any(task.done() for task in self._tasks):
            return f"the storage of {self.path.name} is not open"
        return None

    def observe_syncs(self, observer: Callable[[float], None]) -> None:
        """Report each journal fsync's duration (a group commit) to ``observer``."""
        self._journal.on_sync = observer

    async def _abandon(self, loading: asyncio.Future[None]) -> None:
        """An open that failed, or was cancelled (Ctrl+C while a large file loads): release the lock.

        A cancelled open leaves its loading thread running, and the thread may still write the
        journal: the lock is released only once it has ended, or a server started meanwhile could
        have its journal replaced. A journal this open created (it holds only what the file and its
        attribute say) is removed again; one that existed, or that a replay rewrote, stays.
        """
        with contextlib.suppress(BaseException):  # its own error is the one being raised
            await loading
        self._journal.close()
        if self._created_journal:
            self._journal.path.unlink(missing_ok=True)
        self._lock.release()

    def _retire_journal(self) -> None:
        """Move the journal's numbers into the file's attribute, then remove the journal (and make that durable).

        Called once the last rewrite holds every write, so the journal holds nothing else. Where the
        file system keeps no attributes the journal stays. A crash in between leaves both, which agree.
        """
        self._journal.close()
        if not write_meta(self.path, Meta(self.seq, self.high_water())):
            return
        self._journal.path.unlink(missing_ok=True)
        fsync_dir(self.path.parent)

    def _read(self) -> JSONValue:
        """The file's document: from its snapshot when one matches it, else parsed (``storage/file/snapshot.py``).

        The cyclic GC is off meanwhile: building a large file's millions of objects would otherwise run
        many collections that find nothing (the records are frozen out of its reach once loaded).
        """
        gc.disable()
        try:
            document = load_snapshot(self.path)
            if document is None:
                document = read_document(self.path)
                self._snapshot_stale = True
            return document
        finally:
            gc.enable()

    def _load_and_replay(self) -> None:
        for stale in [*remove_stale_temps(self.path), *remove_stale_temps(self._journal.path)]:
            log.info("removed %s left by an interrupted write", stale.name)
        if self._seed is not None and not self.path.exists():  # under the lock, once the port is bound
            atomic_write(self.path, encode_document(self._seed))
            log.warning("%s did not exist: created it with sample data", self.path.name)
        self._known = Signature.of(self.path)
        with naming(self.path):
            self.load(self._read())
        replay = read_journal(self._journal.path)
        # The numbers a clean shutdown left in the file's attribute; the journal's are newer once it exists,
        # but both only grow, so the larger of each is right either way.
        kept = read_meta(self.path).merged(Meta(replay.seq, replay.high))
        for name, high in kept.high.items():
            if name in self._tables:
                self._tables[name].high = max(self._tables[name].high, high)
        for seq, ops in replay.commits:
            self._apply_ops(ops)
            self.seq = max(self.seq, seq)
        self.seq = max(self.seq, kept.seq)
        if replay.commits:
            log.info("replayed %d journaled writes into %s", len(replay.commits), self.path.name)
        if replay.commits or replay.torn:
            self._save_now()
        elif not self._journal.path.exists():
            # First start on this file: only the journal is created; the user's file is left as it is.
            self._journal.replace(self.seq, self.high_water(), ())
            self._created_journal = True
        self._journal.open()

    def _apply_ops(self, ops: list[Op]) -> None:
        for kind, name, value in ops:
            if kind == "put":
                self.apply(name, None, value)  # type: ignore[arg-type]
            else:
                self.apply(name, value, None)  # type: ignore[arg-type]

    def _save_now(self) -> None:
        """Synchronous compaction used at start (nothing else runs yet)."""
        signature = atomic_write(self.path, encode_document(self.document()))
        self._known = signature
        self._journal.replace(self.seq, self.high_water(), ())

    # -- the write path ----------------------------------------------------------------------

    async def _before_write(self) -> None:
        # Before the write touches memory: a reload here must not drop it, a refusal must leave no trace.
        if self._failed:
            raise StorageUnavailable(f"writes are refused until restart after an I/O error: {self._failed}")
        if self._invalid_edit and Signature.of(self.path) != self._known:
            await self._reload("edited again")
        if self._invalid_edit:
            raise StorageUnavailable(f"{self.path.name} was edited into invalid JSON; fix the file to allow writes")

    async def _commit(self, changes: list[Change]) -> None:
        line = encode_line(changes[-1].seq, [_op(change) for change in changes])
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((line, changes, future))
        self._unsaved.extend(changes)
        now = time.monotonic()
        self._first_unsaved = self._first_unsaved or now
        self._last_write = now
        self._wake.set()
        # Shielded: a client that disconnects must not cancel a write that is already queued.
        await asyncio.shield(future)

    async def _writer(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._compact_wait())
            self._wake.clear()
            if self._queue:
                await self._flush()
            if self._compaction_due():
                # Its own task, so that writes keep being flushed while the file is rewritten.
                self._compactor = asyncio.create_task(self._compact(), name="jsonserve-compactor")
            if self._closing and not self._queue:
                await self._final_compaction()
                return

    async def _final_compaction(self) -> None:
        if self._compactor is not None:
            await self._compactor
        if self._unsaved and not self._invalid_edit and not self._failed:
            await self._compact()

    async def _flush(self) -> None:
        batch, self._queue = self._queue, []
        data = b"".join(line for line, _, _ in batch)
        try:
            async with self._journal_lock:
                await asyncio.to_thread(self._journal.append, data)
        except OSError as error:
            self._fail(batch, error)
            return
        for line, changes, future in batch:
            self._tail.append((changes[-1].seq, line))
            self.publish(changes)  # here, not in the writer's task: a cancelled request's write is durable too
            if not future.done():
                future.set_result(None)

    def _fail(self, batch: list[tuple[bytes, list[Change], asyncio.Future[None]]], error: OSError) -> None:
        """An append or fsync failed: refuse writes until restart, undo the batch, tell every writer."""
        self._failed = error.strerror or str(error)
        log.error("journal write failed (%s); refusing writes until restart", self._failed)
        batch = batch + self._queue
        self._queue = []
        failed = {id(change) for _, changes, _ in batch for change in changes}
        self._unsaved = [change for change in self._unsaved if id(change) not in failed]
        for _, changes, _ in reversed(batch):
            self.undo(changes)
        # The failed writes hold the newest seqs (every later write queued behind them): give them back,
        # so that the seq of the next durable change follows the last one (no gap a reader could see).
        self.seq = batch[0][1][0].seq - 1
        for _, _, future in batch:
            if not future.done():
                future.set_exception(StorageUnavailable(f"the write could not be made durable: {self._failed}"))

    # -- compaction --------------------------------------------------------------------------

    def _compact_wait(self) -> float | None:
        if self._first_unsaved is None or (self._compactor is not None and not self._compactor.done()):
            return None  # a running compaction wakes the writer when it ends
        return max(0.01, self._compaction_time(self._first_unsaved) - time.monotonic())

    def _compaction_due(self) -> bool:
        if self._first_unsaved is None or self._invalid_edit or self._failed:
            return False
        if self._compactor is not None and not self._compactor.done():
            return False
        return time.monotonic() >= self._compaction_time(self._first_unsaved)

    def _compaction_time(self, first_unsaved: float) -> float:
        """When the file is next rewritten: soon after writes pause, and within a bounded time anyway.

        A small file is rewritten 0.2 s after the last write, or 1 s after the first unsaved one.
        A large one waits longer, so that rewriting takes at most about a tenth of the server's
        time: its writes are durable in the journal meanwhile.
        """
        idle = max(COMPACT_IDLE, 2 * self._compaction_cost)
        spacing = max(COMPACT_MAX, COMPACT_SHARE * self._compaction_cost)
        return min(self._last_write + idle, first_unsaved + spacing)

    async def _compact(self) -> None:
        began = time.monotonic()
        try:
            await self._compact_once()
        finally:
            self._compaction_cost = time.monotonic() - began
            self._wake.set()

    async def _compact_once(self) -> None:
        seq, document, high, known = self.seq, self.document(), self.high_water(), self._known
        try:  # compare with the signature the snapshot was taken against, not one a reload set meanwhile
            signature = await asyncio.to_thread(
                atomic_write, self.path, encode_parts(document), lambda: Signature.of(self.path) == known
            )
        except OSError as error:
            log.error("could not rewrite %s (%s); writes stay safe in the journal", self.path.name, error)
            self._first_unsaved = self._last_write = time.monotonic() + COMPACT_RETRY  # no hot retry loop
            return
        if signature is None:
            await self._reload("changed on disk before it was rewritten")
            return
        self._known = signature
        try:
            async with self._journal_lock:
                tail = [line for line_seq, line in self._tail if line_seq > seq]
                await asyncio.to_thread(self._journal.replace, seq, high, tail)
        except OSError as error:
            log.error("could not start a new journal (%s); the old one stays valid", error)
            self._first_unsaved = self._last_write = time.monotonic() + COMPACT_RETRY
            return
        self._tail = [(s, line) for s, line in self._tail if s > seq]
        self._unsaved = [change for change in self._unsaved if change.seq > seq]
        self._first_unsaved = time.monotonic() if self._unsaved else None

    # -- external edits ------------------------------------------------------------------------

    async def _watcher(self) -> None:
        async for _ in watch_file(self.path):
            if Signature.of(self.path) != self._known:
                await self._reload("edited")

    async def _reload(self, why: str) -> None:
        """Load the file as edited, then re-apply the writes it does not hold yet.

        Each resource the edit changed gets one ``reset`` change (realtime clients re-read it), queued
        behind the writes before it and journaled like them, so that ``seq`` stays in order.
        """
        signature = Signature.of(self.path)
        before = self._contents()
        try:
            document = await asyncio.to_thread(read_document, self.path)
            with naming(self.path):
                self.load(document)
        except StorageCorrupt as error:
            if self._invalid_edit is None:
                log.error("%s; keeping the last good data and refusing writes until it is fixed", error)
            self._invalid_edit = str(error)
            self._known = signature
            return
        for change in self._unsaved:
            self.apply(change.collection, change.id, change.record)
        self._queue_resets(before)
        self._known = signature
        self._invalid_edit = None
        self.reloads += 1
        gc.freeze()
        log.info("%s was %s; reloaded (%d unsaved writes kept)", self.path.name, why, len(self._unsaved))
        if self._unsaved:
            self._first_unsaved = self._first_unsaved or time.monotonic()
            self._wake.set()

    def _contents(self) -> dict[str, object]:
        """Each resource's contents (the records by id, or the object), to tell what a reload changed."""
        return {**{name: table.records for name, table in self._tables.items()}, **self._singulars}

    def _queue_resets(self, before: dict[str, object]) -> None:
        """Queue a ``reset`` for every resource whose contents a reload changed (published once journaled)."""
        after = self._contents()
        changed = [name for name in after if before.get(name) != after[name]]
        changed += [name for name in before if name not in after]
        if not changed:
            return
        resets = [self._change(name, "reset", None, None, None, None) for name in changed]
        line = encode_line(resets[-1].seq, [])
        # No writer waits for it: the writer task journals it in order, then publish() announces it.
        self._queue.append((line, resets, asyncio.get_running_loop().create_future()))
        self._wake.set()


def _op(change: Change) -> Op:
    if change.record is None:
        return ("del", change.collection, change.id)
    return ("put", change.collection, change.record)

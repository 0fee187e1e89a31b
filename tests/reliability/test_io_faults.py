"""D4 (injected I/O faults) and D5 for SQLite (damaged database files), on a real server process.

D4, jsonfile and sqlite: ``faultfs.c``, an ``LD_PRELOAD`` shim compiled here, makes ``write``/``pwrite``/
``writev``, ``fsync``/``fdatasync`` or ``rename``/``renameat`` fail with ``ENOSPC`` or ``EIO`` for files
in the data folder only, armed mid-run through a control file: once, or forever after ``N`` calls (N
swept). Each trial checks that

* no failing write gets a 2xx: it gets a clean 503/507 problem+json (no 500, no trace), and a write
  that was refused is not visible to reads; reads keep answering 200 throughout;
* the shim really fired (its log), so that no trial passes vacuously;
* after a failed journal / WAL ``fsync`` (or any journal I/O error for jsonfile, any SQLite I/O error)
  writes stay refused even once the fault is gone, until restart (no blind retry);
* a failing compaction rename leaves ``db.json`` exactly as it was, and is retried at a calm pace;
* after ``kill -9`` the data is intact (``db.json`` parses and holds no refused write; SQLite's
  ``PRAGMA integrity_check`` is ok), and after a restart every acknowledged write is there and new
  writes succeed. On jsonfile a refused write never reappears after the restart (the journal is cut
  back to before the failed batch); on SQLite it may ("phantom": its frames reached the WAL before
  the failing fsync), and is counted, not failed.

Also: 8 concurrent writes while the first fsync fails are all refused (none queued behind it goes
ahead), a failed fsync in SQLite's background WAL checkpoint refuses writes until restart as a
commit's does, and a graceful stop whose final compaction cannot write leaves the old ``db.json``
intact. Faults are armed on a quiet store (journal compacted, WAL checkpointed), so that the first
fsync they meet is the one the trial means.

D4, postgres (its disk is not ours): the database's side fails instead — its connections terminated
under a write load, the database made read-only, the database refusing connections. Failing writes
get 503 problem+json (never 2xx, never 500), reads keep working where the database still allows
them, and once the fault is lifted writes succeed with every acknowledged write intact.

D5, sqlite: an empty, truncated or garbage ``.db`` file makes ``jsonserve app.db`` exit != 0 with one
line naming the file, and leaves it byte-identical.

The D4 figures go to :mod:`tests.reliability.results` (one line per test run). There
``server_errors`` counts the 5xx *other than* the 503/507 a refused write must get (those, and any
phantoms, are in the detail).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.helpers import problem_errors, read_json_file, run_to_exit, start, temp_leftovers, wait_until
from tests.reliability.results import Figures, tally
from tests.reliability.stores import Store, admin, database_name
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POSTGRES_PREFIX = "jsonserve_iof"
SHIM_SOURCE = Path(__file__).with_name("faultfs.c")
REFUSED = (503, 507)  # Service Unavailable, Insufficient Storage
SEED: dict[str, Any] = {"posts": [{"id": 1, "title": "seed"}], "profile": {"name": "p"}}
BEFORE = 3  # acknowledged writes before the fault is armed
DURING = 6  # writes sent while it is armed
FOREVER = -1


# -- the shim ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def faultfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``faultfs.so`` built from ``faultfs.c``; skips without Linux or a C compiler (fails under ``CI=true``)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    why = None
    if not sys.platform.startswith("linux"):
        why = "the LD_PRELOAD fault shim needs Linux (/proc/self/fd, glibc)"
    elif compiler is None:
        why = "no C compiler (cc/gcc) to build the LD_PRELOAD fault shim"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; it is required under CI=true")
        pytest.skip(why)
    assert compiler is not None
    library = tmp_path_factory.mktemp("faultfs") / "faultfs.so"
    built = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM_SOURCE), "-ldl", "-lpthread"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, f"building the fault shim failed:\n{built.stderr}"
    return library


@dataclass
class Fault:
    """The shim's configuration for one server: its data folder, control file and log of injected failures."""

    library: Path
    folder: Path
    control: Path
    log: Path
    generation: int = 0

    def env(self) -> dict[str, str]:
        """The server's extra environment."""
        return {
            "LD_PRELOAD": str(self.library),
            "FAULTFS_DIR": str(self.folder.resolve()),
            "FAULTFS_CONTROL": str(self.control),
            "FAULTFS_LOG": str(self.log),
        }

    def arm(self, op: str, error: int, *, after: int = 0, count: int = 1, match: str = "-") -> None:
        """Fail the ``op`` calls (``write``, ``fsync``, ``rename``) after ``after`` of them, ``count`` times."""
        self.generation += 1
        temp = self.control.with_name(self.control.name + ".new")
        temp.write_text(f"{self.generation} {op} {error} {after} {count} {match}\n")
        os.replace(temp, self.control)

    def disarm(self) -> None:
        self.control.unlink(missing_ok=True)

    def fired(self) -> list[tuple[str, int, str]]:
        """Every injected failure so far: (op, errno, path)."""
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text().splitlines():
            op, number, path = line.split(" ", 2)
            found.append((op, int(number), path))
        return found


# -- D4 on jsonfile and sqlite ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One injected fault: which calls fail, with which errno, after how many, how often."""

    op: str
    error: int
    after: int
    count: int  # FOREVER or a number of failures
    match: str = "-"  # only paths containing this

    @property
    def id(self) -> str:
        mode = "once" if self.count == 1 else "forever" if self.count == FOREVER else f"{self.count}x"
        where = "" if self.match == "-" else f"-{self.match.strip('.-')}"
        return f"{self.op}{where}-{errno.errorcode[self.error]}-{mode}-after{self.after}"


CASES: dict[str, list[Case]] = {
    "jsonfile": [
        Case("write", errno.ENOSPC, 0, 1),
        Case("write", errno.EIO, 0, FOREVER),
        Case("write", errno.ENOSPC, 2, FOREVER),
        Case("write", errno.EIO, 5, FOREVER),
        Case("fsync", errno.EIO, 0, 1, ".journal"),
        Case("fsync", errno.EIO, 1, FOREVER),
        Case("fsync", errno.ENOSPC, 3, FOREVER),
        Case("rename", errno.EIO, 0, FOREVER),
        Case("rename", errno.ENOSPC, 0, 1),
    ],
    "sqlite": [
        Case("write", errno.ENOSPC, 0, 1),
        Case("write", errno.EIO, 0, FOREVER),
        Case("write", errno.EIO, 12, FOREVER),  # a commit writes several WAL frames: N=12 lets a few through
        Case("write", errno.ENOSPC, 25, FOREVER),
        Case("fsync", errno.EIO, 0, 1, "-wal"),
        Case("fsync", errno.EIO, 1, FOREVER),
        Case("fsync", errno.ENOSPC, 3, FOREVER),
    ],
}
PARAMS = [pytest.param(kind, case, id=f"{kind}-{case.id}") for kind, cases in CASES.items() for case in cases]


@dataclass
class Trial:
    """What one trial's writes got (kept in step with its recorded figures)."""

    figures: Figures
    acknowledged: list[str] = field(default_factory=list)  # titles of 2xx POSTs
    refused: list[str] = field(default_factory=list)  # titles of 503/507 POSTs
    problems: list[str] = field(default_factory=list)


def titles(document: Any) -> list[str]:
    return [post["title"] for post in document["posts"]]


def post(http: httpx.Client, title: str, trial: Trial) -> int:
    """POST one record and file the answer: acknowledged, refused (clean problem+json) or a problem."""
    response = http.post("/posts", json={"title": title})
    if response.is_success:
        trial.acknowledged.append(title)
        trial.figures.acknowledged += 1
    elif response.status_code in REFUSED:
        trial.refused.append(title)
        trial.problems += [
            f"{title}: {error}"
            for error in problem_errors(
                response.status_code, response.headers.get("content-type", ""), response.content, REFUSED
            )
        ]
    else:
        trial.problems.append(f"{title}: status {response.status_code}: {response.text[:300]}")
        trial.figures.server_errors = (trial.figures.server_errors or 0) + (response.status_code >= 500)
    return response.status_code


def check_reads(http: httpx.Client, trial: Trial, when: str) -> None:
    """Reads answer 200, show every acknowledged write and no refused one."""
    response = http.get("/posts")
    if response.status_code != 200:
        trial.problems.append(f"read {when}: status {response.status_code}: {response.text[:300]}")
        trial.figures.server_errors = (trial.figures.server_errors or 0) + (response.status_code >= 500)
        return
    seen = {post["title"] for post in response.json()}
    if missing := [title for title in trial.acknowledged if title not in seen]:
        trial.problems.append(f"read {when}: acknowledged writes not visible: {missing}")
    if visible := [title for title in trial.refused if title in seen]:
        trial.problems.append(f"read {when}: refused writes visible: {visible}")
    if http.get("/profile").status_code != 200:
        trial.problems.append(f"read {when}: GET /profile failed")


def journal_compacted(store: Store) -> bool:
    journal = store.path.with_name(f".{store.path.name}.journal")
    return journal.exists() and journal.read_bytes().count(b"\n") == 1


def wal_checkpointed(store: Store) -> bool:
    """Whether every frame of SQLite's write-ahead log has been copied into the database (a quiet server).

    Read from the WAL index (``-shm``, native byte order): its header's ``mxFrame`` (offset 16) and its
    checkpoint information's ``nBackfill`` (offset 96); see https://sqlite.org/walformat.html.
    """
    shm = store.path.with_name(f"{store.path.name}-shm")
    try:
        header = shm.read_bytes()[:100]
    except FileNotFoundError:
        return False
    if len(header) < 100:
        return False
    (last_frame,), (copied,) = struct.unpack_from("=I", header, 16), struct.unpack_from("=I", header, 96)
    return bool(last_frame > 0 and copied == last_frame)


def arm_on_a_quiet_store(store: Store) -> None:
    """Wait until no fsync of the store's own housekeeping can meet a fault armed next.

    jsonfile: the journal compacted into ``db.json``; sqlite: the checkpoint a commit starts has copied
    the log (else the fault armed for a commit's WAL fsync could fail the checkpoint's instead).
    """
    settled = journal_compacted if store.kind == "jsonfile" else wal_checkpointed
    assert wait_until(lambda: settled(store), 5.0) is not None, f"no {settled.__name__} in 5 s"


def refused_until_restart(kind: str, fired: list[tuple[str, int, str]]) -> bool:
    """Whether the injected failures must leave writes refused until restart (else they must work again).

    Required after a failed fsync of the journal / WAL; the backends go further: jsonfile after any
    failed journal append, sqlite after any I/O error (but not "disk full", which SQLite rolls back
    cleanly). A failed compaction (temporary file, rename) leaves jsonfile writing to its journal.
    """
    if kind == "jsonfile":
        return any(path.endswith(".journal") and op in ("write", "fsync") for op, _, path in fired)
    return any(op == "fsync" or number == errno.EIO for op, number, _ in fired)


@pytest.mark.parametrize(("kind", "case"), PARAMS)
def test_injected_io_fault(kind: str, case: Case, tmp_path: Path, faultfs: Path) -> None:
    """D4: one injected fault on a running server; see the module docstring for what must hold."""
    with tally("D4", kind, f"faultfs {case.id}, {DURING} POSTs during the fault") as figures:
        run_fault_trial(kind, case, tmp_path, faultfs, Trial(figures))


def run_fault_trial(kind: str, case: Case, tmp_path: Path, faultfs: Path, trial: Trial) -> None:
    store = Store(kind, tmp_path / "data")
    store.folder.mkdir()
    store.seed(SEED)
    fault = Fault(faultfs, store.folder, tmp_path / "faultfs.control", tmp_path / "faultfs.log")
    args = [str(store.path), "--no-static"]
    server = start(args, tmp_path, env=fault.env())
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for n in range(BEFORE):
                assert post(http, f"before-{n}", trial) in (200, 201), trial.problems
            arm_on_a_quiet_store(store)
            before = store.path.read_bytes()
            fault.arm(case.op, case.error, after=case.after, count=case.count, match=case.match)
            for n in range(DURING):
                post(http, f"during-{n}", trial)
                check_reads(http, trial, f"after write during-{n}")
            if case.op == "rename" and case.count == FOREVER:  # a compaction renames: let it try, more than once
                time.sleep(2.0)
                assert store.path.read_bytes() == before, "db.json changed although every rename failed"
            elif case.op == "rename":  # failed once, then retried: db.json catches up
                assert wait_until(lambda: journal_compacted(store), 5.0) is not None, "no compaction after the fault"
                assert titles(read_json_file(store.path)) == ["seed", *trial.acknowledged]
            fired = fault.fired()
            trial.figures.note(f"{len(fired)} faults injected, {len(trial.refused)} writes refused")
            assert fired, f"the fault never fired ({case.id}): the trial proves nothing"
            if case.op == "rename":
                assert len(fired) <= 4, f"{len(fired)} compaction attempts in 2 s: a hot retry loop"
            fault.disarm()
            status = post(http, "after-fault", trial)
            if refused_until_restart(kind, fired):
                assert status in REFUSED, f"a write after the I/O error got {status}: writes must stay refused"
            else:
                assert status == 201, f"a write once the fault is gone got {status}"
            check_reads(http, trial, "after the fault")
    finally:
        fault.disarm()
        server.kill()  # kill -9, whatever the fault left behind
    assert not trial.problems, trial.problems
    assert "Traceback" not in server.output(), server.output()[-3000:]
    # The data as the crash left it: intact, and (jsonfile) no refused write ever reached db.json.
    if kind == "jsonfile":
        on_disk = titles(read_json_file(store.path))
        assert not set(on_disk) & set(trial.refused), "a refused write was written into db.json"
    assert store.damage() == []
    # Restart without the shim: every acknowledged write is there, and writes work again.
    restarted = start(args, tmp_path)
    try:
        with httpx.Client(base_url=restarted.url, timeout=10) as http:
            served = titles(http.get("/db").json())
            assert http.post("/posts", json={"title": "after-restart"}).status_code == 201
    finally:
        restarted.stop()
    lost = [title for title in ["seed", *trial.acknowledged] if title not in served]
    unknown = [title for title in served if title not in ["seed", *trial.acknowledged, *trial.refused]]
    trial.figures.lost = len(lost)
    if phantoms := sum(1 for title in served if title in trial.refused):
        trial.figures.note(f"{phantoms} refused writes present after the restart")
    # jsonfile cuts its journal back to before a batch whose write or fsync failed; SQLite's WAL may
    # still hold the frames of a write whose fsync failed, so there a refused write can come back.
    assert not (kind == "jsonfile" and phantoms), f"{phantoms} refused writes came back after the restart"
    assert not lost, f"acknowledged writes lost: {lost}"
    assert not unknown, f"records nobody wrote: {unknown}"
    assert served.count("seed") == 1 and len(served) == len(set(served)), served
    stored = titles(store.read())
    assert stored == [*served, "after-restart"], "the stored data differs from what was served"
    if kind == "jsonfile":
        assert temp_leftovers(store.folder) == []


@pytest.mark.parametrize("kind", ["jsonfile", "sqlite"])
def test_writes_queued_behind_a_failed_fsync_are_refused(kind: str, tmp_path: Path, faultfs: Path) -> None:
    """D4: concurrent writes while the first fsync after arming fails: every one is refused, none retried blindly.

    Every write needs an fsync and the first one fails, so no write sent after arming may succeed
    (a write queued behind the failing one must not go ahead on the same disk).
    """
    with tally("D4", kind, "8 concurrent POSTs, the first journal/WAL fsync fails") as figures:
        store = Store(kind, tmp_path / "data")
        store.folder.mkdir()
        store.seed(SEED)
        fault = Fault(faultfs, store.folder, tmp_path / "faultfs.control", tmp_path / "faultfs.log")
        trial = Trial(figures)
        server = start([str(store.path), "--no-static"], tmp_path, env=fault.env())
        try:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                assert post(http, "before", trial) == 201
                arm_on_a_quiet_store(store)
                fault.arm("fsync", errno.EIO, count=1, match=".journal" if kind == "jsonfile" else "-wal")
                barrier = threading.Barrier(8)

                def write(index: int) -> None:
                    with httpx.Client(base_url=server.url, timeout=10) as client:
                        barrier.wait()
                        post(client, f"concurrent-{index}", trial)

                threads = [threading.Thread(target=write, args=(index,)) for index in range(8)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(30)
                assert len(fault.fired()) == 1
                check_reads(http, trial, "after the concurrent writes")
        finally:
            fault.disarm()
            server.kill()
        assert not trial.problems, trial.problems
        assert trial.acknowledged == ["before"], f"acknowledged after the failed fsync: {trial.acknowledged}"
        assert len(trial.refused) == 8
        assert store.damage() == []


# -- D4 on postgres: the database fails instead of the disk ------------------------------------------


@dataclass
class Outcomes:
    """Statuses seen under a database fault, thread-safe (kept in step with the recorded figures)."""

    figures: Figures
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    reads_ok: int = 0
    reads_refused: int = 0
    problems: list[str] = field(default_factory=list)

    def write(self, http: httpx.Client, title: str) -> int:
        response = http.post("/posts", json={"title": title})
        with self.lock:
            if response.is_success:
                self.acknowledged.append(title)
                self.figures.acknowledged += 1
            elif self._refused_or_wrong(response, f"write {title}"):
                self.refused.append(title)
        return response.status_code

    def read(self, http: httpx.Client) -> int:
        response = http.get("/posts")
        with self.lock:
            if response.status_code == 200:
                self.reads_ok += 1
            elif self._refused_or_wrong(response, "read"):
                self.reads_refused += 1
        return response.status_code

    def _refused_or_wrong(self, response: httpx.Response, what: str) -> bool:
        """True for a refusal (whose body must be problem+json); otherwise record the wrong status."""
        status = response.status_code
        if status in REFUSED:
            self.problems += problem_errors(status, response.headers.get("content-type", ""), response.content, REFUSED)
            return True
        self.problems.append(f"{what}: status {status}: {response.text[:300]}")
        self.figures.server_errors = (self.figures.server_errors or 0) + (status >= 500)
        return False


@pytest.fixture
def pg_store(postgres_database: str, tmp_path: Path) -> Iterator[Store]:
    """A seeded PostgreSQL store in the module's database; its per-database settings are reset afterwards."""
    store = Store("postgres", tmp_path, postgres_database)
    store.seed(SEED)
    name = database_name(postgres_database)
    try:
        yield store
    finally:
        admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')


def terminate(name: str) -> int:
    """``pg_terminate_backend`` every connection to database ``name``; how many there were."""
    query = f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"  # noqa: S608
    rows = admin(query)
    return int(rows[0][0])


def audit_postgres(store: Store, server: Server, outcomes: Outcomes) -> None:
    """After the fault is lifted: writes succeed, every acknowledged write is stored, no 500 anywhere."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        recovered = wait_until(lambda: http.post("/posts", json={"title": "after"}).status_code == 201, 10.0, 0.1)
        assert recovered is not None, "writes did not succeed again once the fault was lifted"
        served = titles(http.get("/db").json())
    stored = titles(store.read())
    assert stored == served
    lost = [title for title in ["seed", *outcomes.acknowledged] if title not in stored]
    outcomes.figures.lost = len(lost)
    phantoms = sum(1 for title in stored if title in outcomes.refused)
    outcomes.figures.note(
        f"{len(outcomes.refused)} writes and {outcomes.reads_refused} reads refused, {outcomes.reads_ok} reads ok"
        + (f", {phantoms} refused writes present afterwards" if phantoms else "")
    )
    assert not outcomes.problems, outcomes.problems[:10]
    assert not lost, f"acknowledged writes lost: {lost}"
    assert "Traceback" not in server.output(), server.output()[-3000:]


def test_postgres_connections_terminated_under_writes(pg_store: Store, tmp_path: Path) -> None:
    """D4 (postgres): backends killed by ``pg_terminate_backend`` while 3 clients write and 1 reads."""
    detail = "pg_terminate_backend every 30 ms under 3 writers x 40 POSTs + 1 reader"
    with tally("D4", "postgres", detail) as figures:
        name = database_name(pg_store.source)
        outcomes = Outcomes(figures)
        server = start([pg_store.source, "--no-static"], tmp_path)
        stop = threading.Event()
        terminated = 0

        def writer(index: int) -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                for n in range(40):
                    outcomes.write(http, f"w{index}-{n}")

        def reader() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                while not stop.is_set():
                    outcomes.read(http)

        try:
            threads = [threading.Thread(target=writer, args=(index,)) for index in range(3)]
            threads.append(threading.Thread(target=reader))
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads[:3]):
                terminated += terminate(name)
                time.sleep(0.03)
            stop.set()
            for thread in threads:
                thread.join(30)
            figures.note(f"{terminated} connections terminated")
            assert terminated >= 5, f"only {terminated} connections terminated: the trial proves little"
            audit_postgres(pg_store, server, outcomes)
            reads = outcomes.reads_ok + outcomes.reads_refused
            assert outcomes.reads_ok >= 0.75 * reads, f"{outcomes.reads_refused} of {reads} reads refused"
        finally:
            stop.set()
            server.kill()


@contextlib.contextmanager
def database_turned(pg_store: Store, tmp_path: Path, what: str) -> Iterator[tuple[str, Outcomes, httpx.Client]]:
    """A server on ``pg_store`` with BEFORE records written; yields (database name, outcomes, client).

    The caller changes the database (then calls ``terminate``); afterwards the audit checks that every
    acknowledged write is stored and no refused one is.
    """
    with tally("D4", "postgres", what) as figures:
        name = database_name(pg_store.source)
        outcomes = Outcomes(figures)
        server = start([pg_store.source, "--no-static"], tmp_path)
        try:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                for n in range(BEFORE):
                    assert outcomes.write(http, f"before-{n}") == 201
                yield name, outcomes, http
            audit_postgres(pg_store, server, outcomes)
        finally:
            server.kill()


def test_postgres_read_only_database(pg_store: Store, tmp_path: Path) -> None:
    """D4 (postgres): the database turned read-only (and its sessions restarted): writes 503, reads 200."""
    what = "database set default_transaction_read_only, sessions terminated"
    with database_turned(pg_store, tmp_path, what) as (name, outcomes, http):
        admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        terminate(name)
        for n in range(DURING):
            assert outcomes.write(http, f"during-{n}") in REFUSED, outcomes.problems
            assert outcomes.read(http) == 200, outcomes.problems
        assert http.patch("/profile", json={"name": "ro"}).status_code in REFUSED
        assert http.delete("/posts/1").status_code in REFUSED
        admin(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        terminate(name)
        assert outcomes.refused == [f"during-{n}" for n in range(DURING)]


def test_postgres_database_refusing_connections(pg_store: Store, tmp_path: Path) -> None:
    """D4 (postgres): the database stops accepting connections: reads and writes 503 (not 500), then recover."""
    what = "database ALLOW_CONNECTIONS false, sessions terminated"
    with database_turned(pg_store, tmp_path, what) as (name, outcomes, http):
        admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        terminate(name)
        for n in range(3):
            assert outcomes.write(http, f"during-{n}") in REFUSED, outcomes.problems
            assert outcomes.read(http) in REFUSED, outcomes.problems
        admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        assert outcomes.read(http) == 200, outcomes.problems


# -- D5 on sqlite: damaged database files -------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real jsonserve SQLite database of ~40 pages (seeded, checkpointed, closed)."""
    store = Store("sqlite", tmp_path_factory.mktemp("sqlite-d5"))
    store.seed({"posts": [{"id": n, "title": "x" * 200} for n in range(1, 400)], "profile": {"name": "p"}})
    with contextlib.suppress(FileNotFoundError):
        assert store.path.with_name(store.path.name + "-wal").stat().st_size == 0
    return store.path.read_bytes()


DAMAGED_SQLITE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda good: b"",
    "garbage-text": lambda good: b"this is not a database\n" * 20,
    "garbage-binary": lambda good: bytes(range(256)) * 32,
    "a-json-file": lambda good: b'{"posts": []}\n',
    "header-only": lambda good: good[:100],
    "first-page-only": lambda good: good[:4096],
    "truncated-half": lambda good: good[: len(good) // 2],
    "truncated-mid-page": lambda good: good[: len(good) // 2 + 1000],
    "last-page-missing": lambda good: good[:-4096],
}


@pytest.mark.parametrize("damage", list(DAMAGED_SQLITE), ids=list(DAMAGED_SQLITE))
def test_damaged_sqlite_file_is_refused_and_left_alone(tmp_path: Path, sqlite_database: bytes, damage: str) -> None:
    """D5 (sqlite): exit != 0 with one line naming the file; the file byte-identical, nothing created beside it."""
    content = DAMAGED_SQLITE[damage](sqlite_database)
    path = tmp_path / "app.db"
    path.write_bytes(content)
    result = run_to_exit([path.name, "--no-static"], tmp_path)
    assert result.returncode not in (0, -999), result
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {result.output!r}"
    assert "cannot start:" in lines[0] and "app.db" in lines[0], lines[0]
    assert "Traceback" not in result.output and "sqlalche.me" not in result.output, result.output
    assert path.read_bytes() == content, "the damaged database file was modified"
    assert sorted(os.listdir(tmp_path)) == ["app.db"], os.listdir(tmp_path)


def test_missing_sqlite_file_still_starts_a_new_database(tmp_path: Path) -> None:
    """The D5 refusal is for damaged files only: a database that does not exist yet is created and seeded."""
    server = start(["app.db", "--no-static"], tmp_path)
    try:
        assert httpx.get(server.url + "/db").json(), "a new database starts with the sample data"
    finally:
        server.stop()
    assert (tmp_path / "app.db").stat().st_size > 0


def test_sigterm_under_fault_is_clean(tmp_path: Path, faultfs: Path) -> None:
    """jsonfile: a graceful stop while every write fails loses no acknowledged write and leaves db.json parseable."""
    store = Store("jsonfile", tmp_path / "data")
    store.folder.mkdir()
    store.seed(SEED)
    fault = Fault(faultfs, store.folder, tmp_path / "faultfs.control", tmp_path / "faultfs.log")
    server = start([str(store.path), "--no-static"], tmp_path, env=fault.env())
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            acknowledged = [f"n{n}" for n in range(5) if http.post("/posts", json={"title": f"n{n}"}).is_success]
        fault.arm("write", errno.ENOSPC, count=FOREVER, match=".tmp-")  # the final compaction cannot write
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(10)
    finally:
        fault.disarm()
        server.kill()
    assert len(acknowledged) == 5
    assert fault.fired(), "the final compaction was never attempted"
    assert "Traceback" not in server.output(), server.output()
    assert titles(read_json_file(store.path)) == ["seed"], "db.json must be the old file, intact"
    assert temp_leftovers(store.folder) == []
    restarted = start([str(store.path), "--no-static"], tmp_path)
    try:
        assert titles(httpx.get(restarted.url + "/db").json()) == ["seed", *acknowledged]
    finally:
        restarted.stop()


def test_a_failed_checkpoint_fsync_refuses_writes_until_restart(tmp_path: Path, faultfs: Path) -> None:
    """D4, sqlite: the fsync of the database file in a WAL checkpoint fails: writes stay refused until restart.

    That write's own commit had succeeded (its WAL fsync did), so it is acknowledged and kept; every
    later one is refused, as after a failed commit, since a retried fsync can succeed in vain.
    """
    with tally("D4", "sqlite", "the database file's fsync in a WAL checkpoint fails once") as figures:
        store = Store("sqlite", tmp_path / "data")
        store.folder.mkdir()
        store.seed(SEED)
        fault = Fault(faultfs, store.folder, tmp_path / "faultfs.control", tmp_path / "faultfs.log")
        trial = Trial(figures)
        args = [str(store.path), "--no-static"]
        server = start(args, tmp_path, env=fault.env())
        try:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                assert post(http, "before", trial) == 201
                arm_on_a_quiet_store(store)
                fault.arm("fsync", errno.EIO, count=1, match=f"/{store.path.name}$")  # not its -wal
                assert post(http, "checkpointed", trial) == 201  # its checkpoint starts within a second
                assert wait_until(lambda: bool(fault.fired()), 5.0) is not None, "no checkpoint fsynced the database"
                fault.disarm()
                # The failure reaches the server's event loop a moment after the shim logged it.
                tries = iter(range(500))
                assert wait_until(lambda: post(http, f"after-{next(tries)}", trial) in REFUSED, 5.0) is not None
                assert post(http, "once-refused", trial) in REFUSED, "writes must stay refused until restart"
                check_reads(http, trial, "after the failed checkpoint")
        finally:
            fault.disarm()
            server.kill()
        assert [(op, path) for op, _, path in fault.fired()] == [("fsync", str(store.path.resolve()))]
        assert not trial.problems, trial.problems
        assert trial.acknowledged[:2] == ["before", "checkpointed"]
        figures.note(f"{len(trial.acknowledged) - 2} writes acknowledged between the failure and the refusals")
        assert store.damage() == []
        restarted = start(args, tmp_path)
        try:
            with httpx.Client(base_url=restarted.url, timeout=10) as http:
                assert titles(http.get("/db").json()) == ["seed", *trial.acknowledged]
                assert post(http, "after-restart", trial) == 201
        finally:
            restarted.stop()

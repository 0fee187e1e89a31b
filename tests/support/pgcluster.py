"""A throw-away PostgreSQL server (``initdb`` + ``pg_ctl`` on a free port) that a test may stop and start.

The shared server on 5432 serves every other test and is never stopped; this one lives in a temporary
folder and is gone afterwards. PostgreSQL refuses to run as root, so under root its commands run as
the ``postgres`` user (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (the newest installed PostgreSQL), or ``None``."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


@dataclass
class Cluster:
    """A running throw-away server: its URL, and how to stop and start it again."""

    bin: Path
    data: Path
    port: int
    user: str | None  # run the commands as this user (under root), else as ourselves

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data.parent / "postgres.log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A new PostgreSQL server, started; stopped and deleted on the way out."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="jsonserve-pg-"))
    try:
        if user is not None:
            record = pwd.getpwnam(user)
            os.chown(folder, record.pw_uid, record.pw_gid)
        cluster = Cluster(bin_dir, folder / "data", free_port(), user)
        cluster._run(str(bin_dir / "initdb"), "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync")
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.stop("immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

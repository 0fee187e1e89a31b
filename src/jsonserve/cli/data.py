"""``jsonserve init`` (a starter data file) and ``jsonserve import|export`` (copy between backends).

Example:
    >>> typer.main.get_command(transfer_app).main(["db.json", "app.db"], prog_name="jsonserve import")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from jsonserve.cli import HELP_OPTIONS
from jsonserve.cli.options import INDEX_HELP, console, err, index_specs, not_empty
from jsonserve.cli.typerutil import typer_check, typer_errors
from jsonserve.demo import STARTER
from jsonserve.errors import BackendUnavailable, StorageCorrupt, StorageLocked
from jsonserve.server import run_coroutine
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.transfer import TransferError, transfer

if TYPE_CHECKING:
    from jsonserve.storage.transfer import Tally

init_app = typer.Typer(add_completion=False, context_settings=HELP_OPTIONS, help="Write a starter data file.")
transfer_app = typer.Typer(
    add_completion=False, context_settings=HELP_OPTIONS, help="Copy all data from SOURCE to TARGET."
)


@init_app.command()
def init(
    file: Annotated[Path, typer.Argument(help="Where to write the starter data.")] = Path("db.json"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter db.json (posts, comments, users and a profile)."""
    if file.exists() and not force:
        err.print(f"[red]{escape(str(file))} already exists[/] (use --force to overwrite it)")
        raise typer.Exit(1)
    try:
        if not file.parent.is_dir():
            raise NotADirectoryError(f"the folder {file.parent} does not exist")
        file.write_bytes(encode_document(STARTER))
    except OSError as error:
        err.print(f"[red]cannot write {escape(str(file))}:[/] {escape(error.strerror or str(error))}")
        raise typer.Exit(1) from None
    console.print(f"wrote {escape(str(file))}; serve it with: jsonserve {escape(str(file))}")


@transfer_app.command()
def copy_data(
    source: Annotated[
        str, typer.Argument(help="A .json file, a SQLite file (.db, sqlite:///...) or a PostgreSQL URL.")
    ],
    target: Annotated[str, typer.Argument(help="Where to copy to (the same kinds of location).")],
    force: Annotated[bool, typer.Option("--force", help="Replace a target that already holds data.")] = False,
    index: Annotated[list[str] | None, typer.Option("--index", metavar="COLLECTION.FIELD", help=INDEX_HELP)] = None,
    id_field: Annotated[str, typer.Option("--id", "-i", callback=typer_check(not_empty), help="The id field.")] = "id",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Copy every collection, record and singular object from SOURCE to TARGET, streaming."""
    with typer_errors():
        indexes = index_specs(index)
    started = time.perf_counter()
    try:
        with _progress_bar(quiet) as report:
            copy = transfer(source, target, force=force, id_field=id_field, indexes=indexes, progress=report)
            summary = run_coroutine(copy)
    except (TransferError, StorageCorrupt, StorageLocked, BackendUnavailable, OSError) as error:
        err.print(f"[red]jsonserve: cannot copy:[/] {escape(str(error))}")
        raise typer.Exit(1) from None
    if not quiet:
        seconds = time.perf_counter() - started
        plural = "" if summary.resources == 1 else "s"
        err.print(
            f"copied {summary.records:,} records ({summary.resources} resource{plural}) to {target} in {seconds:.1f} s"
        )


@contextlib.contextmanager
def _progress_bar(quiet: bool) -> Iterator[Any]:
    """A progress callback that shows a Rich bar from its first report (an early error shows none)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]copying"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[records]:,} records"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    progress = Progress(*columns, console=err)
    task = progress.add_task("copy", total=None, records=0)

    def report(tally: Tally) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=tally.done, total=tally.total, records=tally.records)

    try:
        yield None if quiet else report
    finally:
        if progress.live.is_started:
            progress.stop()

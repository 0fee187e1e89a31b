"""The ``jsonserve`` command: parse options -> Settings -> run.

jsonserve [SOURCE] [options]     serve SOURCE (a .json file), or the built-in demo data
jsonserve init [FILE]            write a starter db.json
jsonserve import SOURCE TARGET   copy all data between backends (json, sqlite, postgresql)
jsonserve export SOURCE TARGET   the same copy, named for the other direction
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from jsonserve import __version__
from jsonserve.config import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    Settings,
)
from jsonserve.demo import STARTER
from jsonserve.errors import BackendUnavailable, StorageCorrupt, StorageLocked
from jsonserve.protocol import limit_concurrency, protocol_factory
from jsonserve.schema.declared import SchemaFileError
from jsonserve.service import build_service
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.registry import backend_name
from jsonserve.web.app import create_app

if TYPE_CHECKING:
    from jsonserve.storage.transfer import Tally

# Imported where they are used, not here: the copy command's modules (and Rich's progress bar) and the
# one-shot GET's httpx cost ~40 ms of every server's start-up, which needs neither.

T = TypeVar("T")
console = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_INDEX = re.compile(r"^[^.]+(\.[^.]+)+$")
SQL_BACKENDS = ("sqlite", "postgresql")

serve_app = typer.Typer(add_completion=False, help="Serve a JSON file as a REST API (json-server's dialect).")
init_app = typer.Typer(add_completion=False, help="Write a starter data file.")
transfer_app = typer.Typer(add_completion=False, help="Copy all data from SOURCE to TARGET.")
INDEX_HELP = (
    "Expression index on a filtered or sorted field, COLLECTION.FIELD (dotted paths allowed; repeatable). "
    "SQLite and PostgreSQL only; accepted and ignored for JSON files and the demo data."
)


def parse_size(text: str) -> int:
    """``1MiB``, ``512k``, ``1048576`` -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a size such as 1MiB, 512k or 1048576")
    unit = (match.group(2) or "b").lower()[0]
    return int(match.group(1)) * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def load_routes(path: Path | None) -> dict[str, str]:
    """The rewrite rules of a ``--routes`` file (a JSON object of strings)."""
    if path is None:
        return {}
    try:
        rules = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise typer.BadParameter(f"cannot read routes from {path}: {error}") from None
    if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
        raise typer.BadParameter(f"{path} must hold a JSON object mapping patterns to paths")
    return rules


def index_specs(values: list[str] | None) -> tuple[str, ...]:
    """Validate ``--index`` values (``posts.userId``, ``posts.author.name``)."""
    for value in values or ():
        if not _INDEX.match(value):
            raise typer.BadParameter(f"{value!r} is not COLLECTION.FIELD, e.g. posts.userId", param_hint="--index")
    return tuple(dict.fromkeys(values or ()))


@serve_app.command()
def serve(
    source: Annotated[str | None, typer.Argument(help="A .json file; without it, the built-in demo data.")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 3000,
    watch: Annotated[bool | None, typer.Option("--watch/--no-watch", "-w", help="Reload on external edits.")] = None,
    static: Annotated[
        Path | None, typer.Option("--static", "-s", help="Static files folder (default ./public).")
    ] = None,
    no_static: Annotated[bool, typer.Option("--no-static", help="Serve no static files.")] = False,
    read_only: Annotated[bool, typer.Option("--read-only", "--ro", help="Allow only GET, HEAD, OPTIONS.")] = False,
    delay: Annotated[int, typer.Option("--delay", "-d", min=0, max=60_000, help="Delay every API response (ms).")] = 0,
    base: Annotated[str, typer.Option(help="Serve the API under this path, e.g. /api/v1.")] = "",
    routes: Annotated[Path | None, typer.Option("--routes", "-r", help="JSON file of rewrite rules.")] = None,
    id_field: Annotated[str, typer.Option("--id", "-i", help="The id field.")] = "id",
    fks: Annotated[str, typer.Option("--fks", help="Foreign-key suffix.")] = "Id",
    compat: Annotated[str, typer.Option(help="Dialect defaults: 0.17 or 1.")] = "0.17",
    get: Annotated[str | None, typer.Option("--get", help="Answer one GET in-process, print it, exit.")] = None,
    cors: Annotated[str, typer.Option(help="Allowed origins, comma-separated ('*' = any, no credentials).")] = "*",
    no_cors: Annotated[bool, typer.Option("--no-cors", help="Send no CORS headers.")] = False,
    max_body: Annotated[str, typer.Option(help="Largest accepted request body.")] = "1MiB",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No banner, no access log.")] = False,
    index: Annotated[list[str] | None, typer.Option("--index", metavar="COLLECTION.FIELD", help=INDEX_HELP)] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes sharing the data (SQLite and PostgreSQL sources only).")
    ] = 1,
    schema: Annotated[
        Path | None,
        typer.Option("--schema", help="JSON file mapping collections to JSON Schemas; writes are validated."),
    ] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", help="Stamp createdAt/updatedAt on records.")] = False,
    auto_create: Annotated[
        bool, typer.Option("--auto-create", help="A POST to a collection that does not exist creates it.")
    ] = False,
    no_docs: Annotated[bool, typer.Option("--no-docs", help="Serve no /openapi.json, /docs or /redoc.")] = False,
    header_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds a client has to send a request's headers (0: no limit).")
    ] = DEFAULT_HEADER_TIMEOUT,
    body_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds from a request's headers to the end of its body (0: no limit).")
    ] = DEFAULT_BODY_TIMEOUT,
    max_connections: Annotated[
        int, typer.Option(min=0, help="Open connections served per process; beyond it 503 (0: no limit).")
    ] = DEFAULT_MAX_CONNECTIONS,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Serve SOURCE as a REST API on http://HOST:PORT."""
    if version:
        console.print(f"jsonserve {__version__}")
        raise typer.Exit
    if compat not in ("0.17", "1"):
        raise typer.BadParameter("--compat takes 0.17 or 1")
    settings = Settings(
        source=source, host=host, port=port, watch=watch, static_dir=static, no_static=no_static,
        read_only=read_only, delay_ms=delay, base=_base(base), routes=load_routes(routes), id_field=id_field,
        fk_suffix=fks, compat=_compat(compat), cors_origins=None if no_cors else tuple(_origins(cors)),
        max_body=parse_size(max_body), quiet=quiet, indexes=index_specs(index), workers=workers,
        schema_file=schema, timestamps=timestamps, auto_create=auto_create, docs=not no_docs,
        header_timeout=header_timeout, body_timeout=body_timeout, max_connections=max_connections,
    )  # fmt: skip
    if workers > 1 and get is None:
        _check_shareable(source)
    _configure_logging(quiet)
    if source is not None and source.lower().endswith(".json") and not Path(source).exists():
        Path(source).write_bytes(encode_document(STARTER))
        err.print(f"[yellow]{source} did not exist: created it with sample data[/]")
    if get is not None:
        code = _run(_one_shot(settings, get))
    else:
        code = _serve_workers(settings) if workers > 1 else _run(_serve(settings))
    raise typer.Exit(code)


@init_app.command()
def init(
    file: Annotated[Path, typer.Argument(help="Where to write the starter data.")] = Path("db.json"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter db.json (posts, comments, users and a profile)."""
    if file.exists() and not force:
        err.print(f"[red]{escape(str(file))} already exists[/] (use --force to overwrite it)")
        raise typer.Exit(1)
    file.write_bytes(encode_document(STARTER))
    console.print(f"wrote {file}; serve it with: jsonserve {file}")


@transfer_app.command()
def copy_data(
    source: Annotated[
        str, typer.Argument(help="A .json file, a SQLite file (.db, sqlite:///...) or a PostgreSQL URL.")
    ],
    target: Annotated[str, typer.Argument(help="Where to copy to (the same kinds of location).")],
    force: Annotated[bool, typer.Option("--force", help="Replace a target that already holds data.")] = False,
    index: Annotated[list[str] | None, typer.Option("--index", metavar="COLLECTION.FIELD", help=INDEX_HELP)] = None,
    id_field: Annotated[str, typer.Option("--id", "-i", help="The id field.")] = "id",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Copy every collection, record and singular object from SOURCE to TARGET, streaming."""
    from jsonserve.storage.transfer import TransferError, transfer

    indexes = index_specs(index)
    started = time.perf_counter()
    try:
        with _progress_bar(quiet) as report:
            summary = _run(transfer(source, target, force=force, id_field=id_field, indexes=indexes, progress=report))
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


def _base(base: str) -> str:
    base = base.strip().rstrip("/")
    return "" if not base else base if base.startswith("/") else "/" + base


def _compat(value: str) -> Literal["0.17", "1"]:
    return "1" if value == "1" else "0.17"


def _origins(cors: str) -> list[str]:
    return [origin.strip() for origin in cors.split(",") if origin.strip()] or ["*"]


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(levelname)s: %(message)s")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


async def _open(settings: Settings) -> Any:
    try:
        service = build_service(settings)
        await service.storage.open()
    except (StorageCorrupt, StorageLocked, BackendUnavailable, SchemaFileError, OSError) as error:
        err.print(f"[red]jsonserve: cannot start:[/] {escape(str(error))}")
        return None
    return service


async def _serve(settings: Settings) -> int:
    import uvicorn

    service = await _open(settings)
    if service is None:
        return 1
    app = create_app(settings, service, manage_storage=False)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, lifespan="on", access_log=not settings.quiet,
        log_level="warning" if settings.quiet else "info", server_header=False, **_protocol_options(settings),
    )  # fmt: skip
    server = _graceful(uvicorn.Server)(config)
    try:
        if not settings.quiet:
            _banner(settings, service.kinds())
        await server.serve()
    finally:
        await service.storage.aclose()
    return 0 if server.started or not server.should_exit else 1


def _protocol_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options of our HTTP protocol: problem+json errors, read deadlines, the connection limit."""
    return {
        "http": protocol_factory(settings.header_timeout, settings.body_timeout),
        "limit_concurrency": limit_concurrency(settings.max_connections),
    }


def _check_shareable(source: str | None) -> None:
    try:
        shareable = source is not None and backend_name(source) in SQL_BACKENDS
    except StorageCorrupt:
        return  # reported as the server starts
    if not shareable:
        raise typer.BadParameter(
            "several workers need a SQLite or PostgreSQL source; a JSON file (or the demo data) is owned by one "
            "process. Import it first: jsonserve import db.json app.db",
            param_hint="--workers",
        )


def _serve_workers(settings: Settings) -> int:
    """Several uvicorn worker processes, each opening its own connection to the shared database."""
    import uvicorn

    from jsonserve.web.factory import ENV, encode_settings

    kinds = _run(_prepare(settings))  # create the tables, seed, indexes once, and report problems now
    if kinds is None:
        return 1
    if not settings.quiet:
        _banner(settings, kinds)
        console.print(f"[dim]{settings.workers} workers[/]\n")
    os.environ[ENV] = encode_settings(settings)
    uvicorn.run(
        "jsonserve.web.factory:app_from_env", factory=True, workers=settings.workers, host=settings.host,
        port=settings.port, lifespan="on", access_log=not settings.quiet, server_header=False,
        log_level="warning" if settings.quiet else "info", **_protocol_options(settings),
    )  # fmt: skip
    return 0


async def _prepare(settings: Settings) -> dict[str, Any] | None:
    service = await _open(settings)
    if service is None:
        return None
    await service.storage.aclose()
    return service.kinds()  # type: ignore[no-any-return]


def _graceful(base: Any) -> Any:
    """A ``uvicorn.Server`` subclass that returns normally after SIGINT/SIGTERM.

    uvicorn re-raises the signal once it has shut down, which kills the process before the storage
    is flushed (and exits with a signal status); we handle the signals the same way but return.
    """

    class GracefulServer(base):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            handlers = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)

    return GracefulServer


async def _one_shot(settings: Settings, url: str) -> int:
    from jsonserve.web.inprocess import open_client

    service = await _open(settings)
    if service is None:
        return 1
    app = create_app(settings, service, manage_storage=False)
    try:
        async with open_client(app, f"http://{settings.host}:{settings.port}") as client:
            response = await client.get(url if url.startswith("/") or "://" in url else "/" + url)
    finally:
        await service.storage.aclose()
    err.print(f"{response.status_code} {response.reason_phrase}")
    sys.stdout.write(response.text + ("" if response.text.endswith("\n") else "\n"))
    return 0 if response.status_code < 400 else 1


def _banner(settings: Settings, kinds: dict[str, Any]) -> None:
    root = f"http://{settings.host}:{settings.port}{settings.base}"
    console.print(f"\n[bold cyan]jsonserve {__version__}[/]  [dim]{settings.source or 'built-in demo data'}[/]\n")
    console.print("[bold]Resources[/]")
    for name in kinds:
        console.print(f"  {root}/{name}")
    console.print(f"\n[bold]Home[/]      {root}/")
    console.print(f"[bold]Database[/]  {root}/db")
    if settings.docs:
        console.print(f"[bold]Docs[/]      {root}/docs  [dim]{root}/redoc  {root}/openapi.json[/]")
    switches = (
        ("watching", settings.watching),
        ("read-only", settings.read_only),
        (f"schemas from {settings.schema_file}", settings.schema_file is not None),
        ("timestamps", settings.timestamps),
        ("auto-create", settings.auto_create),
    )
    flags = [f"compat {settings.compat}"] + [label for label, on in switches if on]
    console.print(f"[dim]{', '.join(flags)}[/]\n")


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``jsonserve init ...``, ``jsonserve import|export ...`` or ``jsonserve [SOURCE] [options]``."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "init":
        typer.main.get_command(init_app).main(args[1:], prog_name="jsonserve init")
    elif args and args[0] in ("import", "export"):
        typer.main.get_command(transfer_app).main(args[1:], prog_name=f"jsonserve {args[0]}")
    else:
        typer.main.get_command(serve_app).main(args, prog_name="jsonserve")

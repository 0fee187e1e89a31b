"""The ``jsonserve`` command: parse options -> Settings -> run.

jsonserve [SOURCE] [options]     serve SOURCE (a .json file), or the built-in demo data
jsonserve init [FILE]            write a starter db.json
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import typer
from rich.console import Console

from jsonserve import __version__
from jsonserve.config import Settings
from jsonserve.errors import BackendUnavailable, StorageCorrupt, StorageLocked
from jsonserve.service import build_service
from jsonserve.storage.demo import STARTER
from jsonserve.storage.jsonfile import encode_document
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client

console = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)

serve_app = typer.Typer(add_completion=False, help="Serve a JSON file as a REST API (json-server's dialect).")
init_app = typer.Typer(add_completion=False, help="Write a starter data file.")


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
        max_body=parse_size(max_body), quiet=quiet,
    )  # fmt: skip
    _configure_logging(quiet)
    if source is not None and source.lower().endswith(".json") and not Path(source).exists():
        Path(source).write_bytes(encode_document(STARTER))
        err.print(f"[yellow]{source} did not exist: created it with sample data[/]")
    code = _run(_one_shot(settings, get) if get is not None else _serve(settings))
    raise typer.Exit(code)


@init_app.command()
def init(
    file: Annotated[Path, typer.Argument(help="Where to write the starter data.")] = Path("db.json"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter db.json (posts, comments, users and a profile)."""
    if file.exists() and not force:
        err.print(f"[red]{file} already exists[/] (use --force to overwrite it)")
        raise typer.Exit(1)
    file.write_bytes(encode_document(STARTER))
    console.print(f"wrote {file}; serve it with: jsonserve {file}")


def _base(base: str) -> str:
    base = base.strip().rstrip("/")
    return "" if not base else base if base.startswith("/") else "/" + base


def _compat(value: str) -> Literal["0.17", "1"]:
    return "1" if value == "1" else "0.17"


def _origins(cors: str) -> list[str]:
    return [origin.strip() for origin in cors.split(",") if origin.strip()] or ["*"]


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(levelname)s: %(message)s")


def _run(coroutine: Any) -> int:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)  # type: ignore[no-any-return]


async def _open(settings: Settings) -> Any:
    try:
        service = build_service(settings)
        await service.storage.open()
    except (StorageCorrupt, StorageLocked, BackendUnavailable, OSError) as error:
        err.print(f"[red]jsonserve: cannot start:[/] {error}")
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
        log_level="warning" if settings.quiet else "info", http="httptools", server_header=False,
    )  # fmt: skip
    server = _graceful(uvicorn.Server)(config)
    try:
        if not settings.quiet:
            _banner(settings, service.kinds())
        await server.serve()
    finally:
        await service.storage.aclose()
    return 0 if server.started or not server.should_exit else 1


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
    console.print(f"[bold]Docs[/]      {root}/docs [dim](coming: OpenAPI and Swagger UI)[/]")
    flags = [f"compat {settings.compat}"] + [
        label for label, on in (("watching", settings.watching), ("read-only", settings.read_only)) if on
    ]
    console.print(f"[dim]{', '.join(flags)}[/]\n")


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``jsonserve init ...`` or ``jsonserve [SOURCE] [options]``."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "init":
        typer.main.get_command(init_app).main(args[1:], prog_name="jsonserve init")
    else:
        typer.main.get_command(serve_app).main(args, prog_name="jsonserve")

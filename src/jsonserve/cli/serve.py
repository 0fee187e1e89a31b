"""``jsonserve [SOURCE] [options]``: options -> :class:`~jsonserve.config.Settings` -> ``server.run(settings)``.

The server binds the port, opens the data, calls back (the banner) and serves; a port in use or
an error opening the data is one line, ``jsonserve: cannot start: ...``, and exit status 1, before
any banner. Mistakes in the options are Typer's usage errors (exit status 2); none is a traceback.

Example:
    >>> typer.main.get_command(serve_app).main(["db.json", "--port", "3001"], prog_name="jsonserve")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.markup import escape

from jsonserve import __version__
from jsonserve.cli import COMMANDS, HELP_OPTIONS
from jsonserve.cli.operations import (
    RATE_LIMIT_HELP,
    chaos_latency,
    operations_banner,
    proxies,
    rate_limit,
    redis_url,
    tls_banner,
    with_operations,
    with_tls,
)
from jsonserve.cli.options import (
    INDEX_HELP,
    base_path,
    console,
    err,
    index_specs,
    load_routes,
    not_empty,
    on_off,
    one_of,
    one_url,
    origins,
    parse_size,
    port_number,
    validated,
)
from jsonserve.cli.security import auth_banner, with_auth, with_token_options
from jsonserve.config import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REALTIME_PUBLISH_RATE,
    DEFAULT_REALTIME_SEND_QUEUE,
    DEFAULT_REALTIME_SUBSCRIPTIONS,
    DEFAULT_REFRESH_TTL,
    DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_SSE_KEEPALIVE,
    DEFAULT_TOKEN_TTL,
    Compat,
    Settings,
)
from jsonserve.errors import StorageCorrupt
from jsonserve.server import CannotStart, Ready, configure_logging, one_shot, run
from jsonserve.storage.registry import backend_name, masked

SQL_BACKENDS = ("sqlite", "postgresql")
OPS = "Operations (docs/operations.md)"  # their own help panel: long names, a table of their own
SOURCE_HELP = (
    "A .json file (created with sample data if missing), a SQLite file (.db, .sqlite, sqlite:///path) "
    "or a PostgreSQL URL (postgresql://user@host/db); without it, the built-in demo data."
)
_USAGES = [line for command in COMMANDS.values() for line in command.lines()]
_WIDTH = max(len(usage) for usage, _ in _USAGES)
EPILOG = "[bold]Commands[/]\n\n" + "\n".join(
    f"  [bold]jsonserve {usage:<{_WIDTH}}[/] {summary}" for usage, summary in _USAGES
)
serve_app = typer.Typer(add_completion=False, context_settings=HELP_OPTIONS, rich_markup_mode="rich")


@serve_app.command(epilog=EPILOG)
def serve(
    source: Annotated[str | None, typer.Argument(metavar="SOURCE", help=SOURCE_HELP, show_default=False)] = None,
    host: Annotated[
        str, typer.Option(callback=not_empty, help="Address to bind (0.0.0.0: every IPv4 interface).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", callback=port_number, help="Port to listen on, 1-65535 (0: any free port).")
    ] = 3000,
    watch: Annotated[bool | None, typer.Option("--watch/--no-watch", "-w", help="Reload on external edits.")] = None,
    static: Annotated[
        Path | None,
        typer.Option(
            "--static", "-s", exists=True, file_okay=False, help="Static files folder (default ./public, if it exists)."
        ),
    ] = None,
    no_static: Annotated[bool, typer.Option("--no-static", help="Serve no static files.")] = False,
    read_only: Annotated[bool, typer.Option("--read-only", "--ro", help="Allow only GET, HEAD, OPTIONS.")] = False,
    delay: Annotated[int, typer.Option("--delay", "-d", min=0, max=60_000, help="Delay every API response (ms).")] = 0,
    base: Annotated[
        str, typer.Option(callback=validated(base_path), help="Serve the API under this path, e.g. /api/v1.")
    ] = "",
    routes: Annotated[Path | None, typer.Option("--routes", "-r", help="JSON file of rewrite rules.")] = None,
    id_field: Annotated[str, typer.Option("--id", "-i", callback=not_empty, help="The id field.")] = "id",
    fks: Annotated[str, typer.Option("--fks", help="Foreign-key suffix.")] = "Id",
    compat: Annotated[str, typer.Option(callback=one_of("0.17", "1"), help="Dialect defaults: 0.17 or 1.")] = "0.17",
    get: Annotated[
        str | None, typer.Option("--get", callback=one_url, help="Answer one GET in-process, print its body, exit.")
    ] = None,
    cors: Annotated[str, typer.Option(help="Allowed origins, comma-separated ('*' = any, no credentials).")] = "*",
    no_cors: Annotated[bool, typer.Option("--no-cors", help="Send no CORS headers.")] = False,
    max_body: Annotated[
        str, typer.Option(callback=validated(parse_size), help="Largest accepted request body.")
    ] = "1MiB",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No banner, no access log.")] = False,
    index: Annotated[
        list[str] | None,
        typer.Option("--index", metavar="COLLECTION.FIELD", callback=validated(index_specs), help=INDEX_HELP),
    ] = None,
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
    no_graphql: Annotated[
        bool, typer.Option("--no-graphql", help="Serve no /graphql (nor GraphiQL).", rich_help_panel="GraphQL")
    ] = False,
    graphql_introspection: Annotated[
        str,
        typer.Option(
            callback=on_off, metavar="on|off", help="Introspection (GraphiQL's docs use it).", rich_help_panel="GraphQL"
        ),
    ] = "on",
    header_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds a client has to send a request's headers (0: no limit).")
    ] = DEFAULT_HEADER_TIMEOUT,
    body_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds from a request's headers to the end of its body (0: no limit).")
    ] = DEFAULT_BODY_TIMEOUT,
    max_connections: Annotated[
        int, typer.Option(min=0, help="Open connections served per process; beyond it 503 (0: no limit).")
    ] = DEFAULT_MAX_CONNECTIONS,
    auth: Annotated[bool, typer.Option("--auth", help="Users, login and JWT; access rules (./rules.json).")] = False,
    rules: Annotated[Path | None, typer.Option("--rules", help="Access rules file, turning --auth on.")] = None,
    jwt_secret_file: Annotated[Path | None, typer.Option(help="File holding the JWT signing key.")] = None,
    jwt_private_key: Annotated[
        Path | None, typer.Option(help="PEM RSA (RS256) or Ed25519 (EdDSA) key signing the JWTs, not HS256.")
    ] = None,
    token_ttl: Annotated[int, typer.Option(min=1, help="Seconds an access token is valid.")] = DEFAULT_TOKEN_TTL,
    refresh_ttl: Annotated[
        int, typer.Option(min=0, help="Seconds a refresh token is valid (0: no refresh tokens).")
    ] = DEFAULT_REFRESH_TTL,
    hide_forbidden: Annotated[
        bool, typer.Option("--hide-forbidden", help="404, not 403, for a record the caller may not read.")
    ] = False,
    realtime_subs: Annotated[
        int, typer.Option("--realtime-subs", min=1, help="Realtime subscriptions per connection.")
    ] = DEFAULT_REALTIME_SUBSCRIPTIONS,
    realtime_message: Annotated[
        str, typer.Option(callback=validated(parse_size), help="Largest realtime client message.")
    ] = "64KiB",
    realtime_rate: Annotated[
        int, typer.Option(min=0, help="Channel publishes per second per connection (0: no limit).")
    ] = DEFAULT_REALTIME_PUBLISH_RATE,
    realtime_queue: Annotated[
        int, typer.Option(min=1, help="Frames queued for a realtime client; beyond, it is closed (1013).")
    ] = DEFAULT_REALTIME_SEND_QUEUE,
    sse_keepalive: Annotated[
        float, typer.Option(min=0.01, help="Seconds between SSE keep-alive comments.")
    ] = DEFAULT_SSE_KEEPALIVE,
    rate_limits: Annotated[
        str,
        typer.Option("--rate-limit", metavar="SPEC", callback=rate_limit, help=RATE_LIMIT_HELP, rich_help_panel=OPS),
    ] = "",
    rate_limit_writes: Annotated[
        str,
        typer.Option(
            metavar="SPEC", callback=rate_limit, help="Writes per client on top, e.g. '20/minute'.", rich_help_panel=OPS
        ),
    ] = "",
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis",
            metavar="URL",
            callback=redis_url,
            help="Redis shared by instances (rate limits, realtime channels).",
            rich_help_panel=OPS,
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            envvar="FORWARDED_ALLOW_IPS",
            metavar="IPS",
            help="Proxies whose X-Forwarded-For is believed, comma-separated ('*': any).",
            rich_help_panel=OPS,
        ),
    ] = None,
    chaos: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1,
            metavar="FRACTION",
            help="Answer this fraction of API requests 503 (0: only _chaos=).",
            rich_help_panel=OPS,
        ),
    ] = None,
    latency: Annotated[
        str | None,
        typer.Option(
            "--chaos-latency",
            metavar="MS-MS",
            callback=validated(chaos_latency),
            help="Delay API requests at random, e.g. 50-500.",
            rich_help_panel=OPS,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(metavar="N", help="Seed the chaos's random sequence (repeatable runs).", rich_help_panel=OPS),
    ] = None,
    metrics: Annotated[
        bool, typer.Option("--metrics", help="Prometheus metrics at /metrics.", rich_help_panel=OPS)
    ] = False,
    log_format: Annotated[
        str,
        typer.Option(
            metavar="text|json",
            callback=one_of("text", "json"),
            help="Log lines as text or as JSON.",
            rich_help_panel=OPS,
        ),
    ] = "text",
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, metavar="FILE", help="HTTPS: PEM certificate (chain).", rich_help_panel=OPS
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, metavar="FILE", help="HTTPS: its PEM private key.", rich_help_panel=OPS
        ),
    ] = None,
    tls_self_signed: Annotated[
        bool,
        typer.Option(
            "--tls-self-signed", help="HTTPS with a new localhost certificate (development).", rich_help_panel=OPS
        ),
    ] = False,
    hsts: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="Strict-Transport-Security max-age on HTTPS answers (0: none).",
            rich_help_panel=OPS,
        ),
    ] = 0,
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="After SIGTERM/SIGINT, time for requests in flight (0: no limit).",
            rich_help_panel=OPS,
        ),
    ] = DEFAULT_SHUTDOWN_TIMEOUT,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Options from this TOML file (default ./jsonserve.toml; see jsonserve config).",
            rich_help_panel=OPS,
        ),
    ] = None,
    version: Annotated[bool, typer.Option("--version", "-v", help="Print the version and exit.")] = False,
) -> None:
    """Serve SOURCE as a REST API on http://HOST:PORT, in json-server's dialect."""
    if version:
        console.print(f"jsonserve {__version__}")
        raise typer.Exit
    settings = Settings(
        source=source, host=host, port=port, watch=watch, static_dir=static, no_static=no_static,
        read_only=read_only, delay_ms=delay, base=base_path(base), routes=load_routes(routes), id_field=id_field,
        fk_suffix=fks, compat=cast("Compat", compat), cors_origins=None if no_cors else tuple(origins(cors)),
        max_body=parse_size(max_body), quiet=quiet, indexes=index_specs(index), workers=workers,
        schema_file=schema, timestamps=timestamps, auto_create=auto_create, docs=not no_docs,
        header_timeout=header_timeout, body_timeout=body_timeout, max_connections=max_connections,
        realtime_subscriptions=realtime_subs, realtime_message=parse_size(realtime_message),
        realtime_publish_rate=realtime_rate, realtime_send_queue=realtime_queue, sse_keepalive=sse_keepalive,
    )  # fmt: skip
    settings = with_auth(settings, auth, rules, jwt_secret_file, token_ttl, hide_forbidden)
    settings = with_token_options(settings, jwt_private_key, refresh_ttl)
    settings = with_operations(
        settings, rate_limit=rate_limits, rate_limit_writes=rate_limit_writes, redis_url=redis,
        forwarded_allow_ips=proxies(forwarded_allow_ips), chaos=chaos, chaos_latency=chaos_latency(latency), seed=seed,
        metrics=metrics, log_format=log_format, hsts=hsts, shutdown_timeout=shutdown_timeout,
    )  # fmt: skip
    settings = with_tls(settings, tls_cert, tls_key, tls_self_signed)
    settings = settings.replace(graphql=not no_graphql, graphql_introspection=graphql_introspection == "on")
    if workers > 1 and get is None:
        _check_shareable(source)
    # httpx logs every request at INFO; --get's one is in-process, and its answer is all it prints.
    configure_logging(settings, quiet=quiet or get is not None)
    on_ready = None if quiet else functools.partial(_banner, settings)
    try:
        code = run(settings, on_ready) if get is None else _get(settings, get)
    except CannotStart as error:
        err.print(f"[red]jsonserve: cannot start:[/] {escape(str(error))}")
        code = 1
    raise typer.Exit(code)


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


def _get(settings: Settings, url: str) -> int:
    """The answer's body on stdout, nothing else (exit status 1 for a 4xx or 5xx: the body says why)."""
    reply = one_shot(settings, url)
    sys.stdout.write(reply.text + ("" if reply.text.endswith("\n") else "\n"))
    return 0 if reply.status < 400 else 1


def _banner(settings: Settings, ready: Ready) -> None:
    root = ready.url + settings.base
    source = escape(masked(settings.source)) if settings.source else "built-in demo data"
    console.print(f"\n[bold cyan]jsonserve {__version__}[/]  [dim]{source}[/]\n")
    console.print("[bold]Resources[/]")
    for name in ready.kinds:
        console.print(f"  {root}/{escape(name)}")
    console.print(f"\n[bold]Home[/]      {root}/")
    console.print(f"[bold]Database[/]  {root}/db")
    if settings.docs:
        console.print(f"[bold]Docs[/]      {root}/docs  [dim]{root}/redoc  {root}/openapi.json[/]")
    console.print(f"[bold]Realtime[/]  {root.replace('http', 'ws', 1)}/realtime  [dim]{root}/realtime/sse[/]")
    if settings.graphql:
        console.print(f"[bold]GraphQL[/]   {root}/graphql")
    switches = (
        ("watching", settings.watching),
        ("read-only", settings.read_only),
        (f"schemas from {escape(str(settings.schema_file))}", settings.schema_file is not None),
        ("timestamps", settings.timestamps),
        ("auto-create", settings.auto_create),
    )
    flags = [f"compat {settings.compat}"] + [label for label, on in switches if on]
    console.print(f"[dim]{', '.join(flags)}[/]\n")
    auth_banner(settings)
    operations_banner(settings)
    tls_banner(settings, ready)
    if settings.workers > 1:
        console.print(f"[dim]{settings.workers} workers[/]\n")

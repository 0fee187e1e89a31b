"""The options of ``jsonserve [SOURCE] [options]``, declared once, with no CLI library imported.

Two commands are built from :data:`SERVE_OPTIONS`:

* a plain Click command (:mod:`jsonserve.cli.serve`) that parses a start: serving imports neither
  Typer nor pydantic (Typer converts values through pydantic, ~0.08 s of every start before);
* the Typer command (:mod:`jsonserve.cli.servetyper`), loaded only to print ``--help`` or a usage
  error, so both look exactly as they always did, and for ``jsonserve config``.

Each entry holds what ``typer.Option`` (or ``typer.Argument``) takes; a ``callback`` is a check of
the value that raises :class:`~jsonserve.cli.options.OptionError`, wrapped for each library.

Example:
    >>> SERVE_OPTIONS[2].name, SERVE_OPTIONS[2].decls, SERVE_OPTIONS[2].default
    ('port', ('--port', '-p'), 3000)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonserve.cli import COMMANDS
from jsonserve.cli.operations import RATE_LIMIT_HELP, chaos_latency, rate_limit, redis_url
from jsonserve.cli.options import (
    INDEX_HELP,
    base_path,
    index_specs,
    not_empty,
    on_off,
    one_of,
    one_url,
    parse_size,
    port_number,
    validated,
)
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
)

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
SUMMARY = "Serve SOURCE as a REST API on http://HOST:PORT, in json-server's dialect."


@dataclass(frozen=True)
class Opt:
    """One parameter: its name, annotation (``int``, ``Path | None``...), default, declarations and Typer's keywords."""

    name: str
    annotation: Any
    default: Any
    decls: tuple[str, ...]
    argument: bool
    options: dict[str, Any]

    @property
    def base(self) -> Any:
        """The annotation without ``| None``: ``str``, ``int``, ``float``, ``bool``, ``Path`` or ``list[str]``."""
        args = [arg for arg in getattr(self.annotation, "__args__", ()) if arg is not type(None)]
        return args[0] if type(self.annotation).__name__ == "UnionType" else self.annotation

    @property
    def kind(self) -> str:
        """``bool``, ``int``, ``float``, ``str`` or ``list`` (a configuration key's type; a ``Path`` is a string)."""
        if self.base == list[str]:
            return "list"
        return {bool: "bool", int: "int", float: "float"}.get(self.base, "str")


def opt(name: str, annotation: Any, default: Any, *decls: str, argument: bool = False, **options: Any) -> Opt:
    """An :class:`Opt`; ``options`` are ``typer.Option``'s keywords (``help``, ``min``, ``callback``...)."""
    return Opt(name, annotation, default, decls, argument, options)


SERVE_OPTIONS: tuple[Opt, ...] = (
    opt("source", str | None, None, argument=True, metavar="SOURCE", help=SOURCE_HELP, show_default=False),
    opt("host", str, "127.0.0.1", callback=not_empty, help="Address to bind (0.0.0.0: every IPv4 interface)."),
    opt("port", int, 3000, "--port", "-p", callback=port_number, help="Port to listen on, 1-65535 (0: any free port)."),
    opt("watch", bool | None, None, "--watch/--no-watch", "-w", help="Reload on external edits."),
    opt(
        "static",
        Path | None,
        None,
        "--static",
        "-s",
        exists=True,
        file_okay=False,
        help="Static files folder (default ./public, if it exists).",
    ),
    opt("no_static", bool, False, "--no-static", help="Serve no static files."),
    opt("read_only", bool, False, "--read-only", "--ro", help="Allow only GET, HEAD, OPTIONS."),
    opt("delay", int, 0, "--delay", "-d", min=0, max=60000, help="Delay every API response (ms)."),
    opt("base", str, "", callback=validated(base_path), help="Serve the API under this path, e.g. /api/v1."),
    opt("routes", Path | None, None, "--routes", "-r", help="JSON file of rewrite rules."),
    opt("id_field", str, "id", "--id", "-i", callback=not_empty, help="The id field."),
    opt("fks", str, "Id", "--fks", help="Foreign-key suffix."),
    opt("compat", str, "0.17", callback=one_of("0.17", "1"), help="Dialect defaults: 0.17 or 1."),
    opt("get", str | None, None, "--get", callback=one_url, help="Answer one GET in-process, print its body, exit."),
    opt("cors", str, "*", help="Allowed origins, comma-separated ('*' = any, no credentials)."),
    opt("no_cors", bool, False, "--no-cors", help="Send no CORS headers."),
    opt("max_body", str, "1MiB", callback=validated(parse_size), help="Largest accepted request body."),
    opt("quiet", bool, False, "--quiet", "-q", help="No banner, no access log."),
    opt(
        "index",
        list[str] | None,
        None,
        "--index",
        metavar="COLLECTION.FIELD",
        callback=validated(index_specs),
        help=INDEX_HELP,
    ),
    opt("workers", int, 1, min=1, help="Server processes sharing the data (SQLite and PostgreSQL sources only)."),
    opt(
        "schema",
        Path | None,
        None,
        "--schema",
        help="JSON file mapping collections to JSON Schemas; writes are validated.",
    ),
    opt("timestamps", bool, False, "--timestamps", help="Stamp createdAt/updatedAt on records."),
    opt("auto_create", bool, False, "--auto-create", help="A POST to a collection that does not exist creates it."),
    opt("no_docs", bool, False, "--no-docs", help="Serve no /openapi.json, /docs or /redoc."),
    opt("no_graphql", bool, False, "--no-graphql", help="Serve no /graphql (nor GraphiQL).", rich_help_panel="GraphQL"),
    opt(
        "graphql_introspection",
        str,
        "on",
        callback=on_off,
        metavar="on|off",
        help="Introspection (GraphiQL's docs use it).",
        rich_help_panel="GraphQL",
    ),
    opt(
        "header_timeout",
        float,
        DEFAULT_HEADER_TIMEOUT,
        min=0,
        help="Seconds a client has to send a request's headers (0: no limit).",
    ),
    opt(
        "body_timeout",
        float,
        DEFAULT_BODY_TIMEOUT,
        min=0,
        help="Seconds from a request's headers to the end of its body (0: no limit).",
    ),
    opt(
        "max_connections",
        int,
        DEFAULT_MAX_CONNECTIONS,
        min=0,
        help="Open connections served per process; beyond it 503 (0: no limit).",
    ),
    opt("auth", bool, False, "--auth", help="Users, login and JWT; access rules (./rules.json)."),
    opt("rules", Path | None, None, "--rules", help="Access rules file, turning --auth on."),
    opt("jwt_secret_file", Path | None, None, help="File holding the JWT signing key."),
    opt(
        "jwt_private_key", Path | None, None, help="PEM RSA (RS256) or Ed25519 (EdDSA) key signing the JWTs, not HS256."
    ),
    opt("token_ttl", int, DEFAULT_TOKEN_TTL, min=1, help="Seconds an access token is valid."),
    opt(
        "refresh_ttl", int, DEFAULT_REFRESH_TTL, min=0, help="Seconds a refresh token is valid (0: no refresh tokens)."
    ),
    opt("hide_forbidden", bool, False, "--hide-forbidden", help="404, not 403, for a record the caller may not read."),
    opt(
        "realtime_subs",
        int,
        DEFAULT_REALTIME_SUBSCRIPTIONS,
        "--realtime-subs",
        min=1,
        help="Realtime subscriptions per connection.",
    ),
    opt("realtime_message", str, "64KiB", callback=validated(parse_size), help="Largest realtime client message."),
    opt(
        "realtime_rate",
        int,
        DEFAULT_REALTIME_PUBLISH_RATE,
        min=0,
        help="Channel publishes per second per connection (0: no limit).",
    ),
    opt(
        "realtime_queue",
        int,
        DEFAULT_REALTIME_SEND_QUEUE,
        min=1,
        help="Frames queued for a realtime client; beyond, it is closed (1013).",
    ),
    opt("sse_keepalive", float, DEFAULT_SSE_KEEPALIVE, min=0.01, help="Seconds between SSE keep-alive comments."),
    opt(
        "rate_limits",
        str,
        "",
        "--rate-limit",
        metavar="SPEC",
        callback=rate_limit,
        help=RATE_LIMIT_HELP,
        rich_help_panel=OPS,
    ),
    opt(
        "rate_limit_writes",
        str,
        "",
        metavar="SPEC",
        callback=rate_limit,
        help="Writes per client on top, e.g. '20/minute'.",
        rich_help_panel=OPS,
    ),
    opt(
        "redis",
        str | None,
        None,
        "--redis",
        metavar="URL",
        callback=redis_url,
        help="Redis shared by instances (rate limits, realtime channels).",
        rich_help_panel=OPS,
    ),
    opt(
        "forwarded_allow_ips",
        str | None,
        None,
        envvar="FORWARDED_ALLOW_IPS",
        metavar="IPS",
        help="Proxies whose X-Forwarded-For is believed, comma-separated ('*': any).",
        rich_help_panel=OPS,
    ),
    opt(
        "chaos",
        float | None,
        None,
        min=0,
        max=1,
        metavar="FRACTION",
        help="Answer this fraction of API requests 503 (0: only _chaos=).",
        rich_help_panel=OPS,
    ),
    opt(
        "latency",
        str | None,
        None,
        "--chaos-latency",
        metavar="MS-MS",
        callback=validated(chaos_latency),
        help="Delay API requests at random, e.g. 50-500.",
        rich_help_panel=OPS,
    ),
    opt(
        "seed",
        int | None,
        None,
        metavar="N",
        help="Seed the chaos's random sequence (repeatable runs).",
        rich_help_panel=OPS,
    ),
    opt("metrics", bool, False, "--metrics", help="Prometheus metrics at /metrics.", rich_help_panel=OPS),
    opt(
        "log_format",
        str,
        "text",
        metavar="text|json",
        callback=one_of("text", "json"),
        help="Log lines as text or as JSON.",
        rich_help_panel=OPS,
    ),
    opt(
        "tls_cert",
        Path | None,
        None,
        exists=True,
        dir_okay=False,
        metavar="FILE",
        help="HTTPS: PEM certificate (chain).",
        rich_help_panel=OPS,
    ),
    opt(
        "tls_key",
        Path | None,
        None,
        exists=True,
        dir_okay=False,
        metavar="FILE",
        help="HTTPS: its PEM private key.",
        rich_help_panel=OPS,
    ),
    opt(
        "tls_self_signed",
        bool,
        False,
        "--tls-self-signed",
        help="HTTPS with a new localhost certificate (development).",
        rich_help_panel=OPS,
    ),
    opt(
        "hsts",
        int,
        0,
        min=0,
        metavar="SECONDS",
        help="Strict-Transport-Security max-age on HTTPS answers (0: none).",
        rich_help_panel=OPS,
    ),
    opt(
        "shutdown_timeout",
        float,
        DEFAULT_SHUTDOWN_TIMEOUT,
        min=0,
        metavar="SECONDS",
        help="After SIGTERM/SIGINT, time for requests in flight (0: no limit).",
        rich_help_panel=OPS,
    ),
    opt(
        "config_file",
        Path | None,
        None,
        "--config",
        metavar="FILE",
        help="Options from this TOML file (default ./jsonserve.toml; see jsonserve config).",
        rich_help_panel=OPS,
    ),
    opt("version", bool, False, "--version", "-v", help="Print the version and exit."),
)
OPTIONS_BY_NAME = {option.name: option for option in SERVE_OPTIONS}

"""``jsonserve [SOURCE] [options]``: options -> :class:`~jsonserve.config.Settings` -> ``server.run(settings)``.

A start is parsed by a plain Click command built from :data:`~jsonserve.cli.serveopts.SERVE_OPTIONS`:
serving imports neither Typer nor pydantic. ``--help`` (and ``-h``), and any value the Click command
or :func:`prepare` refuses, go to the Typer twin of the command (:mod:`jsonserve.cli.servetyper`),
which prints the help and the usage errors (exit status 2) exactly as the command always did. The
Click command is stricter than Typer where they could differ (numbers are plain decimals, finite):
anything else is Typer's to decide, so a value is never accepted here that Typer would refuse.

The server binds the port, opens the data, calls back (the banner) and serves; a port in use or
an error opening the data is one line, ``jsonserve: cannot start: ...``, and exit status 1, before
any banner. None of it is a traceback.

Example:
    >>> serve_main(["db.json", "--port", "3001"], default_map={})  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import click
from rich.markup import escape

from jsonserve import __version__
from jsonserve.cli.operations import (
    chaos_latency,
    operations_banner,
    proxies,
    tls_banner,
    with_operations,
    with_tls,
)
from jsonserve.cli.options import (
    OptionError,
    base_path,
    console,
    err,
    index_specs,
    load_routes,
    origins,
    parse_size,
)
from jsonserve.cli.security import auth_banner, with_auth, with_token_options
from jsonserve.cli.serveopts import SERVE_OPTIONS, Opt
from jsonserve.config import Compat, Settings
from jsonserve.errors import StorageCorrupt
from jsonserve.server import CannotStart, Ready, configure_logging, one_shot, run
from jsonserve.storage.registry import backend_name, masked

SQL_BACKENDS = ("sqlite", "postgresql")
_INT = re.compile(r"^\s*-?\d+\s*$")
_FLOAT = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")


@dataclass(frozen=True)
class Plan:
    """What a start does: print the version, answer one GET, or serve with ``settings``."""

    settings: Settings
    get: str | None = None
    quiet: bool = False
    version: bool = False


def serve_main(args: list[str], default_map: Mapping[str, Any]) -> None:
    """``jsonserve ARGS`` with ``default_map`` (the configuration file's and environment's values): exits."""
    try:
        context = serve_command().make_context("jsonserve", list(args), default_map=dict(default_map))
        plan = prepare(context.params)
    except (click.ClickException, OptionError):
        from jsonserve.cli.servetyper import typer_main  # help, or a usage error: Typer prints it

        typer_main(list(args), dict(default_map))
        raise SystemExit(2) from None  # not reached: Typer exits
    raise SystemExit(execute(plan))


def prepare(params: Mapping[str, Any]) -> Plan:
    """The parsed options -> the :class:`Plan`; a value no option takes raises :class:`OptionError`."""
    p = params
    if p["version"]:
        return Plan(Settings(), version=True)
    settings = Settings(
        source=p["source"], host=p["host"], port=p["port"], watch=p["watch"], static_dir=p["static"],
        no_static=p["no_static"], read_only=p["read_only"], delay_ms=p["delay"], base=base_path(p["base"]),
        routes=load_routes(p["routes"]), id_field=p["id_field"], fk_suffix=p["fks"], compat=cast("Compat", p["compat"]),
        cors_origins=None if p["no_cors"] else tuple(origins(p["cors"])), max_body=parse_size(p["max_body"]),
        quiet=p["quiet"], indexes=index_specs(p["index"]), workers=p["workers"], schema_file=p["schema"],
        timestamps=p["timestamps"], auto_create=p["auto_create"], docs=not p["no_docs"],
        header_timeout=p["header_timeout"], body_timeout=p["body_timeout"], max_connections=p["max_connections"],
        realtime_subscriptions=p["realtime_subs"], realtime_message=parse_size(p["realtime_message"]),
        realtime_publish_rate=p["realtime_rate"], realtime_send_queue=p["realtime_queue"],
        sse_keepalive=p["sse_keepalive"],
    )  # fmt: skip
    settings = with_auth(settings, p["auth"], p["rules"], p["jwt_secret_file"], p["token_ttl"], p["hide_forbidden"])
    settings = with_token_options(settings, p["jwt_private_key"], p["refresh_ttl"])
    settings = with_operations(
        settings, rate_limit=p["rate_limits"], rate_limit_writes=p["rate_limit_writes"], redis_url=p["redis"],
        forwarded_allow_ips=proxies(p["forwarded_allow_ips"]), chaos=p["chaos"],
        chaos_latency=chaos_latency(p["latency"]), seed=p["seed"], metrics=p["metrics"], log_format=p["log_format"],
        hsts=p["hsts"], shutdown_timeout=p["shutdown_timeout"],
    )  # fmt: skip
    settings = with_tls(settings, p["tls_cert"], p["tls_key"], p["tls_self_signed"])
    settings = settings.replace(graphql=not p["no_graphql"], graphql_introspection=p["graphql_introspection"] == "on")
    if p["workers"] > 1 and p["get"] is None:
        _check_shareable(p["source"])
    return Plan(settings, get=p["get"], quiet=p["quiet"])


def execute(plan: Plan) -> int:
    """Carry out the :class:`Plan`: the exit status."""
    if plan.version:
        console.print(f"jsonserve {__version__}")
        return 0
    settings = plan.settings
    # httpx logs every request at INFO; --get's one is in-process, and its answer is all it prints.
    configure_logging(settings, quiet=plan.quiet or plan.get is not None)
    on_ready = None if plan.quiet else functools.partial(_banner, settings)
    try:
        return run(settings, on_ready) if plan.get is None else _get(settings, plan.get)
    except CannotStart as error:
        err.print(f"[red]jsonserve: cannot start:[/] {escape(str(error))}")
        return 1


# -- the plain Click command --------------------------------------------------------------------


class _Number(click.ParamType):  # type: ignore[type-arg]
    """An int or a float written as a plain decimal (``3001``, ``0.5``), and finite; else Typer decides."""

    def __init__(self, kind: type, pattern: re.Pattern[str]) -> None:
        self.kind, self.pattern, self.name = kind, pattern, kind.__name__

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.fail(f"{value!r} is not a plain number", param, ctx)
        if isinstance(value, str) and not self.pattern.match(value):
            self.fail(f"{value!r} is not a plain number", param, ctx)
        number = self.kind(value) if isinstance(value, str) else value
        if self.kind is int and not isinstance(number, int):
            self.fail(f"{value!r} is not an integer", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not finite", param, ctx)
        return self.kind(number)


def _in_range(option: Opt) -> Callable[[Any], Any] | None:
    low, high = option.options.get("min"), option.options.get("max")
    if low is None and high is None:
        return None

    def check(value: Any) -> Any:
        if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
            raise OptionError(f"{value} is out of range")
        return value

    return check


def _click_callback(*checks: Callable[[Any], Any] | None) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            for check in checks:
                if check is not None:
                    value = check(value)
        except OptionError as error:
            raise click.BadParameter(error.message, ctx, param, error.param_hint) from None
        return value

    return callback


def _click_type(option: Opt) -> Any:
    base = option.base
    if base is int:
        return _Number(int, _INT)
    if base is float:
        return _Number(float, _FLOAT)
    if base is Path:
        keys = ("exists", "file_okay", "dir_okay")
        return click.Path(path_type=Path, **{key: option.options[key] for key in keys if key in option.options})
    return click.STRING


def _click_param(option: Opt) -> click.Parameter:
    callback = _click_callback(_in_range(option), option.options.get("callback"))
    if option.argument:
        return click.Argument([option.name], required=False, default=option.default, callback=callback)
    decls = [*option.decls] or ["--" + option.name.replace("_", "-")]
    if option.base is bool:
        return click.Option([*decls, option.name], is_flag=True, default=option.default, callback=callback)
    multiple = option.base == list[str]
    return click.Option(
        [*decls, option.name], type=click.STRING if multiple else _click_type(option), multiple=multiple,
        default=option.default, envvar=option.options.get("envvar"), callback=callback,
    )  # fmt: skip


@functools.cache
def serve_command() -> click.Command:
    """The plain Click command that parses a start (no ``--help``: that is Typer's, see :func:`serve_main`)."""
    params = [_click_param(option) for option in SERVE_OPTIONS]
    return click.Command("jsonserve", params=params, add_help_option=False)


def _check_shareable(source: str | None) -> None:
    try:
        shareable = source is not None and backend_name(source) in SQL_BACKENDS
    except StorageCorrupt:
        return  # reported as the server starts
    if not shareable:
        raise OptionError(
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

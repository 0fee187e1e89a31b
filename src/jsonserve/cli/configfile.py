"""``jsonserve.toml``, ``JSONSERVE_<OPTION>`` variables and ``jsonserve config`` (docs/operations.md).

One source of truth: the keys are the server command's own parameters (``jsonserve --help``), read
from their declarations (:data:`~jsonserve.cli.serveopts.SERVE_OPTIONS`): the key of ``--rate-limit``
is ``rate-limit`` in the file and
``JSONSERVE_RATE_LIMIT`` in the environment; ``SOURCE`` is ``source``. Values from the file and the
environment reach Click as its ``default_map``, so the command line wins over both, and every check
an option has (ranges, callbacks) applies to them too. Precedence: command line > environment >
file > defaults.

Example:
    >>> layers = gather(["--port", "3001"], environ={"JSONSERVE_PORT": "4000"}, cwd=Path("/nowhere"))
    >>> layers.values["port"], layers.origins["port"]
    (4000, 'environment JSONSERVE_PORT')
"""

from __future__ import annotations

import functools
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE = "jsonserve.toml"
ENV_PREFIX = "JSONSERVE_"
ENV_CONFIG = "JSONSERVE_CONFIG"  # the file to read, as --config FILE
NOT_KEYS = frozenset({"get", "version", "config_file"})  # one-off actions, and the file itself
SECRET_VARIABLES = ("JSONSERVE_JWT_SECRET",)  # secrets read from the environment: never printed
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_TYPE_NAMES = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}


class ConfigError(Exception):
    """A configuration file or variable that cannot be used; ``str()`` is the one line to print."""


@dataclass(frozen=True)
class Key:
    """One configurable option: its key, its Click parameter and what it takes."""

    name: str  # in the file: ``rate-limit``
    param: str  # the Click parameter's name: ``rate_limits``
    kind: str  # bool, int, float, str, list
    default: Any
    help: str
    flag: str  # how the command line writes it: ``--rate-limit``, or ``SOURCE``

    @property
    def variable(self) -> str:
        """Its environment variable: ``JSONSERVE_RATE_LIMIT``."""
        return ENV_PREFIX + self.name.upper().replace("-", "_")


@dataclass
class Layers:
    """The values read from the environment and the file (by parameter name), and where each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    places: dict[str, str] = field(default_factory=dict)  # for errors: ``jsonserve.toml: port``, ``JSONSERVE_PORT``


def serve_command() -> Any:
    """The Click command Typer builds for ``jsonserve [SOURCE] [options]`` (``jsonserve config`` reads it)."""
    from jsonserve.cli.servetyper import serve_command as typer_command

    return typer_command()


@functools.cache
def keys() -> dict[str, Key]:
    """Every configurable option, by key, in the order of ``jsonserve --help``."""
    from jsonserve.cli.serveopts import SERVE_OPTIONS

    found: dict[str, Key] = {}
    for option in SERVE_OPTIONS:
        if option.name in NOT_KEYS:
            continue
        longs = [decl.split("/")[0] for decl in option.decls if decl.startswith("--")]
        if not option.argument and not longs:
            longs = ["--" + option.name.replace("_", "-")]
        name = longs[0][2:] if longs else option.name
        help_text = " ".join(str(option.options.get("help", "")).split())
        flag = longs[0] if longs else option.name.upper()
        found[name] = Key(name, option.name, option.kind, option.default, help_text, flag)
    return found


def gather(args: Sequence[str], environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Layers:
    """The file's and the environment's values for a run with ``args`` (the environment wins).

    The file is ``--config FILE`` in ``args``, else ``$JSONSERVE_CONFIG``, else ``./jsonserve.toml``
    when there is one. Raises :class:`ConfigError` for an unreadable file, an unknown key, a value
    of the wrong type or one its option's own check refuses (a port out of range, a rate limit that
    does not parse), even when the command line gives that option too. Environment variables that
    name no option are left alone (``JSONSERVE_JWT_SECRET`` is a secret, not an option).
    """
    environ = os.environ if environ is None else environ
    layers = Layers()
    cwd = cwd or Path.cwd()
    path = _config_path(args, environ, cwd)
    if path is not None:
        layers.file = path
        for name, value in _read(cwd / path, path).items():
            key = _key(name, str(path))
            place = layers.places[key.param] = f"{path}: {name}"
            layers.values[key.param] = _typed(key, value, place)
            layers.origins[key.param] = f"file {path}"
    for key in keys().values():
        if key.variable in environ:
            layers.values[key.param] = _from_text(key, environ[key.variable])
            layers.origins[key.param] = f"environment {key.variable}"
            layers.places[key.param] = key.variable
    _check(layers)
    return layers


def _check(layers: Layers) -> None:
    """Each value through its option's own check (its type and callback), as Click would put it.

    Click would check them too, but its error (a usage box) names the option (``'--port' / '-p'``),
    not the file or variable the value came from. The plain Click command checks first; a value it
    refuses is checked again by the Typer command, whose message is the one printed.
    """
    import click

    from jsonserve.cli.serve import serve_command as click_command

    command = click_command()
    context = command.context_class(command, info_name="jsonserve")
    params = {param.name: param for param in command.params}
    for name, value in layers.values.items():
        try:
            params[name].process_value(context, value)
        except click.BadParameter:
            _typer_check(name, value, layers.places[name])


def _typer_check(name: str, value: Any, place: str) -> None:
    import typer

    command = serve_command()
    context = command.context_class(command, info_name="jsonserve")
    params = {param.name: param for param in command.params}
    try:
        params[name].process_value(context, value)
    except typer.BadParameter as error:
        raise ConfigError(f"{place}: {error.message}") from None


def _config_path(args: Sequence[str], environ: Mapping[str, str], cwd: Path) -> Path | None:
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--config":
            if index + 1 >= len(args):
                raise ConfigError("--config needs a FILE")
            return _existing(Path(args[index + 1]), cwd)
        if arg.startswith("--config="):
            return _existing(Path(arg.partition("=")[2]), cwd)
    if environ.get(ENV_CONFIG):
        return _existing(Path(environ[ENV_CONFIG]), cwd)
    default = cwd / CONFIG_FILE
    return Path(CONFIG_FILE) if default.is_file() else None


def _existing(path: Path, cwd: Path) -> Path:
    if not (cwd / path).is_file():
        raise ConfigError(f"no configuration file {path}")
    return path


def _read(full: Path, path: Path) -> dict[str, Any]:
    try:
        with full.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not TOML: {error}") from None


def _key(name: str, where: str) -> Key:
    key = keys().get(name.replace("_", "-"))
    if key is None:
        raise ConfigError(f"{where}: unknown key {name!r}; the keys are: {', '.join(keys())}")
    return key


def _typed(key: Key, value: Any, where: str) -> Any:
    """A TOML value checked against the option's type (TOML's types are the option's, strictly)."""
    expected = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "list": (list,)}[key.kind]
    wrong_bool = isinstance(value, bool) and key.kind != "bool"
    if wrong_bool or not isinstance(value, expected):
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        wanted = "a list of strings" if key.kind == "list" else _TYPE_NAMES[key.kind]
        raise ConfigError(f"{where} must be {wanted}, not {shown}")
    checked: Any = value
    if key.kind == "list":
        if not all(isinstance(item, str) for item in checked):
            raise ConfigError(f"{where} must be a list of strings")
        return list(checked)
    return float(checked) if key.kind == "float" else checked


def _from_text(key: Key, text: str) -> Any:
    """An environment variable's text as the option's type."""
    where = key.variable
    try:
        if key.kind == "bool":
            lowered = text.strip().lower()
            if lowered not in _TRUE + _FALSE:
                raise ValueError
            return lowered in _TRUE
        if key.kind == "int":
            return int(text)
        if key.kind == "float":
            return float(text)
    except ValueError:
        wanted = "true or false (1, yes, on / 0, no, off)" if key.kind == "bool" else _TYPE_NAMES[key.kind]
        raise ConfigError(f"{where} must be {wanted}, not {text!r}") from None
    if key.kind == "list":
        return [item.strip() for item in text.replace(",", " ").split() if item.strip()]
    return text


def check_or_exit(args: Sequence[str]) -> Layers:
    """:func:`gather`, or the error on one line and exit status 2 (a usage error)."""
    try:
        return gather(args)
    except ConfigError as error:
        print(f"jsonserve: {error}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None

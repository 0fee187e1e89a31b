"""``jsonserve config [SOURCE] [options]``: the effective configuration, and where each value came from.

It reads the options as ``jsonserve`` would (command line > environment > file > defaults), prints
them as TOML a ``jsonserve.toml`` may hold, each with its origin, and serves nothing. Passwords in
URLs are masked, and secrets read from the environment are only said to be set.

``python -m jsonserve.cli.showconfig --write docs/operations.md`` regenerates the configuration
reference in the docs from the same options (``--check``: exit status 1 when it is out of date).

Example:
    >>> config_main(["--port", "3001"])  # doctest: +SKIP
    port = 3001                       # command line
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import orjson
import typer

from jsonserve.cli.configfile import CONFIG_FILE, SECRET_VARIABLES, Key, Layers, check_or_exit, keys, serve_command
from jsonserve.storage.registry import masked

USAGE = """Usage: jsonserve config [SOURCE] [OPTIONS]

  Print the effective configuration of `jsonserve [SOURCE] [OPTIONS]`, as TOML, with where each
  value comes from: the command line, a JSONSERVE_<OPTION> variable, the configuration file
  (--config FILE, else $JSONSERVE_CONFIG, else ./jsonserve.toml) or the default. Serves nothing.
"""
MASKED = ("source", "redis")  # URLs that may hold a password
START = "<!-- config-reference:start (generated: python -m jsonserve.cli.showconfig --write docs/operations.md) -->"
END = "<!-- config-reference:end -->"


def config_main(args: list[str]) -> None:
    """``jsonserve config ARGS``: print the configuration a server with ``ARGS`` would run with."""
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return
    layers = check_or_exit(args)
    try:
        context = serve_command().make_context("jsonserve config", list(args), default_map=layers.values)
    except typer.TyperException as error:
        error.show()  # type: ignore[attr-defined]
        raise SystemExit(getattr(error, "exit_code", 2)) from None
    lines = [_line(key, context.params[key.param], _origin(key, context, layers)) for key in keys().values()]
    width = max(len(text) for text, _ in lines) + 2
    sys.stdout.write(f"# jsonserve config: command line > environment > {layers.file or CONFIG_FILE} > defaults\n")
    for text, origin in lines:
        sys.stdout.write(f"{text:<{width}}# {origin}\n")
    for name in SECRET_VARIABLES:
        if os.environ.get(name):
            sys.stdout.write(f"# {name} is set (secret, not shown)\n")


def _origin(key: Key, context: Any, layers: Layers) -> str:
    source = context.get_parameter_source(key.param).name
    if source == "COMMANDLINE":
        return "command line"
    if source == "ENVIRONMENT":
        param = next(param for param in context.command.params if param.name == key.param)
        return f"environment {param.envvar}"
    if source == "DEFAULT_MAP":
        return layers.origins[key.param]
    return "default"


def _line(key: Key, value: Any, origin: str) -> tuple[str, str]:
    if value is None:
        return f"# {key.name} =", f"unset ({origin})"
    if key.name in MASKED and isinstance(value, str):
        value = masked(value)
    return f"{key.name} = {toml(value)}", origin


def toml(value: Any) -> str:
    """A value as TOML writes it (strings as JSON's, which TOML's basic strings accept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    return orjson.dumps(str(value)).decode()


def reference() -> str:
    """The configuration reference of docs/operations.md: one row per key, from the options themselves."""
    rows = ["| key | variable | option | default | what |", "|---|---|---|---|---|"]
    for key in keys().values():
        default = "" if key.default is None or key.default == [] else f"`{toml(key.default)}`"
        what = key.help.replace("|", "\\|")
        rows.append(f"| `{key.name}` | `{key.variable}` | `{key.flag}` | {default} | {what} |")
    return "\n".join(rows)


def updated(document: str) -> str:
    """``document`` with the text between the reference's markers replaced by :func:`reference`."""
    head, start, rest = document.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the document has no {START!r} ... {END!r} markers")
    return f"{head}{START}\n{reference()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    """``--write FILE`` regenerates the reference in FILE; ``--check FILE`` exits 1 when it is stale."""
    if len(argv) != 2 or argv[0] not in ("--write", "--check"):
        sys.stderr.write("usage: python -m jsonserve.cli.showconfig --write|--check docs/operations.md\n")
        return 2
    path = Path(argv[1])
    text = path.read_text()
    fresh = updated(text)
    if argv[0] == "--write":
        path.write_text(fresh)
        return 0
    return 0 if fresh == text else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

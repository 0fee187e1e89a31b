"""Option text -> values, and the two consoles, shared by the ``jsonserve`` commands.

Example:
    >>> parse_size("1MiB"), base_path("api/v1/"), origins(" a.test, b.test ")
    (1048576, '/api/v1', ['a.test', 'b.test'])
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from rich.console import Console

console = Console(highlight=False, emoji=False)  # a fingerprint or a path may hold ":cd:" (an emoji code)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_INDEX = re.compile(r"^[^.]+(\.[^.]+)+$")
_PATH = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")  # what a URL path may hold (RFC 3986), unencoded


class OptionError(ValueError):
    """A value an option does not take: ``message`` for the user, ``param_hint`` naming the option if given.

    Neither Click's nor Typer's ``BadParameter``: the serving path imports no Typer, and each command
    turns this into its own library's ``BadParameter`` (:mod:`jsonserve.cli.serve`, :mod:`.servetyper`).
    """

    def __init__(self, message: str, param_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


INDEX_HELP = (
    "Expression index on a filtered or sorted field, COLLECTION.FIELD (dotted paths allowed; repeatable). "
    "SQLite and PostgreSQL only; accepted and ignored for JSON files and the demo data."
)


def parse_size(text: str) -> int:
    """``1MiB``, ``512k``, ``1048576`` -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise OptionError(f"{text!r} is not a size such as 1MiB, 512k or 1048576")
    unit = (match.group(2) or "b").lower()[0]
    return int(match.group(1)) * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def port_number(port: int) -> int:
    """``--port``: 1-65535, or 0 for a free port the system chooses (a larger number is not taken modulo 65536)."""
    if not 0 <= port <= 65535:
        raise OptionError(f"{port} is not a port: give one from 1 to 65535, or 0 for any free port")
    return port


def load_routes(path: Path | None) -> dict[str, str]:
    """The rewrite rules of a ``--routes`` file (a JSON object of strings)."""
    if path is None:
        return {}
    try:
        rules = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise OptionError(f"cannot read routes from {path}: {error}") from None
    if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
        raise OptionError(f"{path} must hold a JSON object mapping patterns to paths")
    return rules


def index_specs(values: list[str] | None) -> tuple[str, ...]:
    """Validate ``--index`` values (``posts.userId``, ``posts.author.name``)."""
    for value in values or ():
        if not _INDEX.match(value):
            raise OptionError(f"{value!r} is not COLLECTION.FIELD, e.g. posts.userId", param_hint="--index")
    return tuple(dict.fromkeys(values or ()))


def base_path(base: str) -> str:
    """``--base``: ``api/v1/`` -> ``/api/v1``; empty for none."""
    base = base.strip().rstrip("/")
    if not _PATH.match(base):
        raise OptionError(f"{base!r} is not a URL path such as /api/v1", param_hint="--base")
    return "" if not base else base if base.startswith("/") else "/" + base


def not_empty(value: str) -> str:
    """``--host``, ``--id``: a value, not blank (``--host ""`` would listen everywhere and print ``http://:3000``)."""
    if not value.strip():
        raise OptionError("must not be empty")
    return value.strip()


MAX_URL = 65_536  # the request line and headers uvicorn's parser accepts (64 KiB)


def one_url(url: str | None) -> str | None:
    """``--get``: a path (``/posts?q=x``) or a URL that parses (``http://[bad`` does not)."""
    if url is None:
        return None
    if len(url) > MAX_URL:  # httpx refuses it with a traceback; no server would answer it either
        raise OptionError(f"the URL is {len(url):,} characters long; at most {MAX_URL:,} are served")
    try:
        urlsplit(url)
    except ValueError as error:
        raise OptionError(f"{url!r} is not a URL or a path such as /posts/1 ({error})") from None
    return url


def on_off(value: str) -> str:
    """``on`` or ``off`` (any case), for switches that name their state."""
    lowered = value.strip().lower()
    if lowered not in ("on", "off"):
        raise OptionError(f"takes on or off, not {value!r}")
    return lowered


def validated(check: Callable[[Any], object]) -> Callable[[Any], Any]:
    """An option callback that runs ``check`` on the value (its ``OptionError``, if any) and keeps the value as given.

    The command converts the value itself; checking it as the option is parsed also checks the value
    of a configuration file or ``JSONSERVE_`` variable, and the error then names it (``cli/configfile.py``).
    """

    def callback(value: Any) -> Any:
        check(value)
        return value

    return callback


def one_of(*choices: str) -> Callable[[Any], Any]:
    """An option callback that accepts only ``choices`` (``takes 0.17 or 1, not '2'``)."""

    def check(value: str) -> None:
        if value not in choices:
            raise OptionError(f"takes {' or '.join(choices)}, not {value!r}")

    return validated(check)


def origins(cors: str) -> list[str]:
    """``--cors``: the comma-separated origins (``*`` when none are given)."""
    return [origin.strip() for origin in cors.split(",") if origin.strip()] or ["*"]

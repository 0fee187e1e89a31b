""":class:`~jsonserve.cli.options.OptionError` in the Typer commands: their own ``BadParameter``.

Example:
    >>> typer_check(lambda value: value)("db.json")
    'db.json'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import typer

from jsonserve.cli.options import OptionError


def typer_check(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check`` as a Typer callback: its :class:`OptionError` becomes Typer's ``BadParameter``."""

    def callback(value: Any) -> Any:
        with typer_errors():
            return check(value)

    return callback


@contextlib.contextmanager
def typer_errors() -> Iterator[None]:
    """Turn an :class:`OptionError` raised inside into Typer's ``BadParameter`` (a usage error, status 2)."""
    try:
        yield
    except OptionError as error:
        raise typer.BadParameter(error.message, param_hint=error.param_hint) from None

"""The Typer twin of ``jsonserve [SOURCE] [options]``: its ``--help``, its usage errors, ``jsonserve config``.

Built from :data:`~jsonserve.cli.serveopts.SERVE_OPTIONS` as the command was always written (one
keyword parameter per option, ``Annotated[type, typer.Option(...)]``), so its help panels and its
error boxes are Typer's own. Only these paths import it (and with it pydantic); a start that parses
does not (:func:`jsonserve.cli.serve.serve_main`).

Example:
    >>> typer_main(["--help"], default_map={})  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any

import typer

from jsonserve.cli import HELP_OPTIONS
from jsonserve.cli.serveopts import EPILOG, SERVE_OPTIONS, SUMMARY, Opt
from jsonserve.cli.typerutil import typer_check, typer_errors


def _parameter(option: Opt) -> inspect.Parameter:
    keywords = dict(option.options)
    if "callback" in keywords:
        keywords["callback"] = typer_check(keywords["callback"])
    info = typer.Argument(**keywords) if option.argument else typer.Option(*option.decls, **keywords)
    annotation: Any = Annotated[option.annotation, info]  # built at run time
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=option.default, annotation=annotation)


def _serve(**params: Any) -> None:
    from jsonserve.cli.serve import execute, prepare

    with typer_errors():
        plan = prepare(params)
    raise typer.Exit(execute(plan))


@functools.cache
def serve_app() -> typer.Typer:
    """The Typer application of ``jsonserve [SOURCE] [options]``."""
    parameters = [_parameter(option) for option in SERVE_OPTIONS]

    @functools.wraps(_serve)
    def serve(**params: Any) -> None:
        _serve(**params)

    serve.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    serve.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    serve.__doc__ = SUMMARY
    del serve.__wrapped__  # the signature is the options', not _serve's
    app = typer.Typer(add_completion=False, context_settings=HELP_OPTIONS, rich_markup_mode="rich")
    app.command(epilog=EPILOG)(serve)
    return app


def serve_command() -> Any:
    """The Click command Typer builds for ``jsonserve [SOURCE] [options]``."""
    return typer.main.get_command(serve_app())


def typer_main(args: list[str], default_map: dict[str, Any]) -> None:
    """Run ``jsonserve ARGS`` through Typer (help, usage errors, or a start Typer accepts where Click did not)."""
    serve_command().main(args, prog_name="jsonserve", default_map=default_map)

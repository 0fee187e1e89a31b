"""The ``jsonserve`` command: parse options -> Settings -> ``server.run(settings)``.

jsonserve [SOURCE] [options]     serve SOURCE (a .json file), or the built-in demo data
jsonserve init [FILE]            write a starter db.json
jsonserve import SOURCE TARGET   copy all data between backends (json, sqlite, postgresql)
jsonserve export SOURCE TARGET   the same copy, named for the other direction

Each command's module is imported when it runs, not here: the copy command's (with Rich's progress
bar) costs ~40 ms of every server's start-up, which does not need it.
"""

from __future__ import annotations

import sys

import typer


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``jsonserve init ...``, ``jsonserve import|export ...`` or ``jsonserve [SOURCE] [options]``."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "init":
        from jsonserve.cli.data import init_app

        typer.main.get_command(init_app).main(args[1:], prog_name="jsonserve init")
    elif args and args[0] in ("import", "export"):
        from jsonserve.cli.data import transfer_app

        typer.main.get_command(transfer_app).main(args[1:], prog_name=f"jsonserve {args[0]}")
    else:
        from jsonserve.cli.serve import serve_app

        typer.main.get_command(serve_app).main(args, prog_name="jsonserve")

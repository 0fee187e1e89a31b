"""The ``jsonserve`` command: parse options -> Settings -> ``server.run(settings)``.

jsonserve [SOURCE] [options]          serve SOURCE (a .json file, a SQLite file or a PostgreSQL URL), or the demo data
jsonserve init [FILE]                 write a starter db.json
jsonserve import SOURCE TARGET        copy all data between backends (json, sqlite, postgresql)
jsonserve export SOURCE TARGET        the same copy, named for the other direction
jsonserve user add EMAIL [SOURCE]     add a user for --auth (--admin: an admin)
jsonserve user passwd EMAIL [SOURCE]  set a user's password (their earlier tokens stop working)
jsonserve config [SOURCE] [options]   print the effective configuration and where each value comes from
jsonserve help [COMMAND]              the help of the server, or of a command

The server's options also come from ``jsonserve.toml`` (or ``--config FILE``) and from
``JSONSERVE_<OPTION>`` variables (:mod:`jsonserve.cli.configfile`): they become Click's ``default_map``.

Each command's module is imported when it runs, not here: the copy command's (with Rich's progress
bar) costs ~40 ms of every server's start-up, which does not need it. Serving imports no Typer (nor,
with it, pydantic): the server's command is plain Click (:mod:`jsonserve.cli.serve`), and Typer is
loaded for the other commands, for ``--help`` and for usage errors only.
"""

from __future__ import annotations

import importlib
import sys
from typing import NamedTuple


class Command(NamedTuple):
    """A sub-command: its usage, what it does, and the Typer app (``module:attribute``) that runs it.

    ``more`` holds the usage and summary of its own sub-commands after the first (``user passwd``).
    """

    usage: str
    summary: str
    app: str
    more: tuple[tuple[str, str], ...] = ()

    def lines(self) -> list[tuple[str, str]]:
        """Each usage with its summary, as the help lists them."""
        return [(self.usage, self.summary), *self.more]


COMMANDS = {
    "init": Command("init [FILE]", "write a starter db.json", "jsonserve.cli.data:init_app"),
    "import": Command("import SOURCE TARGET", "copy all data between backends", "jsonserve.cli.data:transfer_app"),
    "export": Command(
        "export SOURCE TARGET", "the same copy, for the other direction", "jsonserve.cli.data:transfer_app"
    ),
    "user": Command(
        "user add EMAIL [SOURCE]",
        "add a user for --auth (--admin: an admin)",
        "jsonserve.cli.users:user_app",
        (("user passwd EMAIL [SOURCE]", "set a user's password (revokes tokens)"),),
    ),
    "config": Command(
        "config [SOURCE] [options]",
        "the effective configuration, and each value's origin",
        "jsonserve.cli.showconfig:config_main",
    ),
    "help": Command("help [COMMAND]", "this help, or a command's", ""),
}
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}  # every command's context_settings


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``jsonserve COMMAND ...`` (one of :data:`COMMANDS`), else ``jsonserve [SOURCE] [options]``."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if args and args[0] == "help":
            args = _help(args[1:])
        if args and args[0] in COMMANDS:
            module, _, attribute = COMMANDS[args[0]].app.partition(":")
            app = getattr(importlib.import_module(module), attribute)
            import typer

            if isinstance(app, typer.Typer):
                typer.main.get_command(app).main(args[1:], prog_name=f"jsonserve {args[0]}")
            else:
                app(args[1:])  # a plain function of the arguments (``config``)
        else:
            from jsonserve.cli.configfile import check_or_exit
            from jsonserve.cli.serve import serve_main

            layers = check_or_exit(args)
            serve_main(args, default_map=layers.values)
    except KeyboardInterrupt:
        # Ctrl+C before the server handles it (while modules load, say) or during a copy: no traceback.
        # A copy cleans up as the interrupt unwinds; 130 is the shell's status for SIGINT.
        raise SystemExit(130) from None


def _help(args: list[str]) -> list[str]:
    """``jsonserve help`` is ``jsonserve --help``; ``jsonserve help import`` is ``jsonserve import --help``."""
    if not args or args[0] == "help":
        return ["--help"]
    if args[0] in COMMANDS:
        return [args[0], "--help"]
    names = ", ".join(COMMANDS)
    print(f"jsonserve: no command named {args[0]!r} (commands: {names}); see: jsonserve --help", file=sys.stderr)  # noqa: T201
    raise SystemExit(2)

"""``jsonserve user add|passwd EMAIL [SOURCE]``: add a user (``--admin``: an admin), or set a user's password.

The password comes from a hidden prompt, asked twice, when stdin is a terminal; otherwise (and
always with ``--password-stdin``) it is the first line of stdin. It is checked and hashed by the
code behind ``POST /register`` and ``POST /auth/password``
(:class:`~jsonserve.service.accounts.Accounts`) and stored through the storage's ordinary write
path, as durable as any other write. A JSON file that a server is serving is locked by it: the
command refuses it, as ``import`` and ``export`` do, rather than race the server's writes; SQLite
and PostgreSQL take the write as they take a second server's.

Example:
    >>> command = typer.main.get_command(user_app)
    >>> command.main(["add", "root@example.com", "--admin"], prog_name="jsonserve user")  # doctest: +SKIP
    Password:
    Repeat for confirmation:
    added user 4: root@example.com (admin)
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from jsonserve._types import Record
from jsonserve.auth.access import RulesError
from jsonserve.auth.keys import WeakKey
from jsonserve.auth.policy import ADMIN
from jsonserve.cli import HELP_OPTIONS
from jsonserve.cli.options import console, err, not_empty
from jsonserve.cli.security import DEFAULT_RULES
from jsonserve.cli.typerutil import typer_check
from jsonserve.config import Settings
from jsonserve.errors import BackendUnavailable, JsonServeError, StorageCorrupt, StorageLocked
from jsonserve.server import run_coroutine
from jsonserve.service import build_service
from jsonserve.service.accounts import Accounts
from jsonserve.storage.base import Storage
from jsonserve.storage.registry import backend_name, load_backend, local_path

FAILURES = (JsonServeError, StorageCorrupt, StorageLocked, BackendUnavailable, RulesError, WeakKey, OSError)
SOURCE_HELP = "The data: a .json file, a SQLite file (.db, sqlite:///...) or a PostgreSQL URL."
STDIN_HELP = "Read the password from the first line of stdin, even from a terminal."

user_app = typer.Typer(
    add_completion=False,
    context_settings=HELP_OPTIONS,
    no_args_is_help=True,
    help="Add users who log in with --auth, and set their passwords.",
)

Email = Annotated[str, typer.Argument(help="The user's email (compared case-insensitively).", show_default=False)]
Source = Annotated[str, typer.Argument(help=SOURCE_HELP)]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help=STDIN_HELP)]
IdField = Annotated[str, typer.Option("--id", "-i", callback=typer_check(not_empty), help="The id field.")]


@user_app.command()
def add(
    email: Email,
    source: Source = "db.json",
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin (the rules' role field).")] = False,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="The rules file naming the role field (default ./rules.json).")
    ] = None,
    password_stdin: PasswordStdin = False,
    id_field: IdField = "id",
) -> None:
    """Add a user with a password (asked for twice, or read from stdin), as POST /register checks it."""
    password = _password(password_stdin)
    rules = rules or (DEFAULT_RULES if DEFAULT_RULES.is_file() else None)  # the server's default, too

    def action(accounts: Accounts) -> Awaitable[Record]:
        return accounts.add_user(email, password, role=ADMIN if admin else None)

    user = _run(source, id_field, rules, action, "cannot add the user")
    role = " (admin)" if admin else ""
    console.print(
        f"added user {escape(str(user.get(id_field)))}: {escape(str(user.get('email')))}{role}", soft_wrap=True
    )


@user_app.command()
def passwd(
    email: Email, source: Source = "db.json", password_stdin: PasswordStdin = False, id_field: IdField = "id"
) -> None:
    """Set a user's password (asked for twice, or read from stdin); their earlier tokens stop working."""
    password = _password(password_stdin)

    def action(accounts: Accounts) -> Awaitable[Record]:
        return accounts.set_password(email, password)

    user = _run(source, id_field, None, action, "cannot set the password")
    who = f"{escape(str(user.get(id_field)))}: {escape(str(user.get('email')))}"
    console.print(f"set the password of user {who}; the tokens issued before no longer work", soft_wrap=True)


def _password(from_stdin: bool) -> str:
    """The hidden prompt (with confirmation) on a terminal, else the first line of stdin."""
    stdin = sys.stdin
    if not from_stdin and stdin is not None and stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    try:
        line = stdin.readline() if stdin is not None else ""
    except (OSError, UnicodeDecodeError) as error:
        _fail(f"cannot read the password from stdin: {error}")
    if not line:
        _fail("no password on stdin: pipe it as one line, or run the command in a terminal to be asked for it")
    return line.removesuffix("\n").removesuffix("\r")


def _run(
    source: str,
    id_field: str,
    rules: Path | None,
    action: Callable[[Accounts], Awaitable[Record]],
    failure: str,
) -> Record:
    """``action`` on the users of ``source``, opened and closed (writes flushed) around it; errors are one line."""
    try:
        return run_coroutine(_with_accounts(source, id_field, rules, action))
    except FAILURES as error:
        _fail(f"{failure}: {error}")


async def _with_accounts(
    source: str, id_field: str, rules: Path | None, action: Callable[[Accounts], Awaitable[Record]]
) -> Record:
    # No token is issued here; without a source in the settings the (unused) signing key stays in
    # memory instead of a key file being created beside the data.
    settings = Settings(auth=True, rules_file=rules, id_field=id_field)
    async with build_service(settings, _storage(source, id_field)) as service:
        if service.accounts is None:  # pragma: no cover - build_service sets it with auth=True
            raise RuntimeError("no accounts")
        return await action(service.accounts)


def _storage(source: str, id_field: str) -> Storage:
    """The storage of an existing data set (no sample data is seeded: only the users change)."""
    name = backend_name(source)
    path = local_path(source)
    if path is not None and not path.is_file():
        raise StorageCorrupt(f"{source} does not exist")
    cls: Any = load_backend(name)
    return cls(path if name == "json" else source, id_field=id_field)  # type: ignore[no-any-return]


def _fail(message: str) -> NoReturn:
    err.print(f"[red]jsonserve:[/] {escape(message)}")
    raise typer.Exit(1)

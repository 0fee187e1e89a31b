"""The ``--auth`` options of ``jsonserve``: their Settings fields and their lines in the banner.

Example:
    >>> with_auth(Settings(), False, Path("rules.json"), None, 3600, False).auth
    True
"""

from __future__ import annotations

from pathlib import Path

from jsonserve.cli.options import console
from jsonserve.config import Settings
from jsonserve.service.build import generated_key_file

DEFAULT_RULES = Path("rules.json")


def with_auth(
    settings: Settings,
    auth: bool,
    rules: Path | None,
    jwt_secret_file: Path | None,
    token_ttl: int,
    hide_forbidden: bool,
) -> Settings:
    """``settings`` with the auth options: ``--rules`` implies ``--auth``; ``./rules.json`` is read when present."""
    auth = auth or rules is not None
    if auth and rules is None and DEFAULT_RULES.is_file():
        rules = DEFAULT_RULES
    return settings.replace(
        auth=auth, rules_file=rules, jwt_secret_file=jwt_secret_file, token_ttl=token_ttl, hide_forbidden=hide_forbidden
    )


def auth_banner(settings: Settings) -> None:
    """The banner's auth lines: the rules and where the signing key comes from."""
    if not settings.auth:
        return
    rules = settings.rules_file or "none (every collection public)"
    generated = generated_key_file(settings)
    if settings.jwt_secret_file is not None:
        key = str(settings.jwt_secret_file)
    elif generated is None:
        key = "JSONSERVE_JWT_SECRET, or a random key kept in memory"
    else:
        key = f"JSONSERVE_JWT_SECRET, or the key file {generated}"
    console.print(f"[bold]Auth[/]      rules: {rules}  [dim]signing key: {key}[/]\n")

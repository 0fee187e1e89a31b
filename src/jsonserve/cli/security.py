"""The ``--auth`` options of ``jsonserve``: their Settings fields and their lines in the banner.

Example:
    >>> with_auth(Settings(), False, Path("rules.json"), None, 3600, False).auth
    True
"""

from __future__ import annotations

import os
from pathlib import Path

from jsonserve.auth.keys import ENV_SECRET
from jsonserve.cli.options import OptionError, console
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


def with_token_options(settings: Settings, jwt_private_key: Path | None, refresh_ttl: int) -> Settings:
    """``settings`` with the private key and the refresh tokens' lifetime; two explicit keys are a usage error."""
    if jwt_private_key is not None and settings.jwt_secret_file is not None:
        raise OptionError(
            "give one signing key: --jwt-private-key (RS256/EdDSA) or --jwt-secret-file (HS256), not both",
            param_hint="--jwt-private-key",
        )
    return settings.replace(jwt_private_key=jwt_private_key, refresh_ttl=refresh_ttl)


def auth_banner(settings: Settings) -> None:
    """The banner's auth lines: the rules, where the signing key comes from, the refresh tokens."""
    if not settings.auth:
        return
    rules = settings.rules_file or "none (every collection public)"
    refresh = f"refresh tokens: {_duration(settings.refresh_ttl)}" if settings.refresh_ttl else "no refresh tokens"
    console.print(f"[bold]Auth[/]      rules: {rules}  [dim]signing key: {_key_source(settings)}[/]")
    console.print(f"          [dim]{refresh}[/]\n")


def _key_source(settings: Settings) -> str:
    generated = generated_key_file(settings)
    if settings.jwt_private_key is not None:
        ignored = f" ({ENV_SECRET} ignored)" if os.environ.get(ENV_SECRET) else ""
        return f"the private key {settings.jwt_private_key}{ignored}"
    if settings.jwt_secret_file is not None:
        return str(settings.jwt_secret_file)
    if generated is None:
        return f"{ENV_SECRET}, or a random key kept in memory"
    return f"{ENV_SECRET}, or the key file {generated}"


def _duration(seconds: int) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} seconds"

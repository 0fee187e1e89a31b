"""The plain Click command that parses a start agrees with its Typer twin (issue 19, point 4).

A start is parsed by Click (no Typer, no pydantic); help and usage errors are Typer's. Both are built
from one declaration (``cli/serveopts.py``): the same arguments must make the same plan, a value
either refuses goes to Typer, and the configuration keys are the ones Typer's command has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from jsonserve.cli.configfile import keys
from jsonserve.cli.options import OptionError
from jsonserve.cli.serve import Plan, prepare, serve_command
from jsonserve.cli.servetyper import serve_command as typer_command

ARGS = [
    [],
    ["db.json"],
    ["db.json", "--port", "3001", "-w", "--host", " 0.0.0.0 ", "--base", "api/v1/", "--compat", "1"],
    ["db.json", "--no-watch", "--read-only", "--delay", "250", "--id", "_id", "--fks", "_id", "--no-cors"],
    ["app.db", "--index", "posts.userId", "--index", "posts.author.name", "--workers", "3", "--max-body", "2MiB"],
    ["db.json", "--cors", "a.test, b.test", "--auth", "--token-ttl", "60", "--refresh-ttl", "0", "--hide-forbidden"],
    ["db.json", "--rate-limit", "100/minute;10/second", "--rate-limit-writes", "5/second", "--chaos", "0.25"],
    ["db.json", "--chaos-latency", "50-500", "--seed", "7", "--metrics", "--log-format", "json", "--hsts", "60"],
    ["db.json", "--shutdown-timeout", "2.5", "--header-timeout", "0", "--sse-keepalive", "0.5", "--realtime-subs", "9"],
    ["db.json", "--no-graphql", "--graphql-introspection", "OFF", "--get", "/posts?q=x", "-q", "--no-docs"],
    ["db.json", "--timestamps", "--auto-create", "--realtime-message", "1k", "--realtime-queue", "3"],
    ["-v"],
]
REFUSED = [
    ["--port", "x"],
    ["--port", "70000"],
    ["--port", "3_000"],
    ["--delay", "-1"],
    ["--chaos", "nan"],
    ["--chaos", "2"],
    ["--sse-keepalive", "inf"],
    ["--compat", "2"],
    ["--index", "posts"],
    ["--static", "no-such-folder"],
    ["--workers", "2", "db.json"],
    ["--tls-cert", "cert.pem"],
    ["--bogus"],
    ["--help"],
    ["-h"],
]


def _params(command: Any, args: list[str], default_map: dict[str, Any] | None = None) -> dict[str, Any]:
    return dict(command.make_context("jsonserve", list(args), default_map=default_map).params)


@pytest.mark.parametrize("args", ARGS, ids=" ".join)
def test_click_and_typer_make_the_same_plan(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    ours = prepare(_params(serve_command(), args))
    theirs = prepare(_params(typer_command(), args))
    assert isinstance(ours, Plan) and ours == theirs


def test_values_from_a_configuration_file_make_the_same_plan() -> None:
    default_map = {"port": 4000, "chaos": 1, "index": ["posts.userId"], "static": ".", "watch": True, "cors": "x.test"}
    ours = prepare(_params(serve_command(), ["db.json"], default_map))
    assert ours == prepare(_params(typer_command(), ["db.json"], default_map))
    assert ours.settings.port == 4000 and ours.settings.chaos == 1.0 and ours.settings.static_dir == Path(".")


@pytest.mark.parametrize("args", REFUSED, ids=" ".join)
def test_what_click_refuses_is_left_to_typer(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each of these is refused by the Click command (or by :func:`prepare`), so Typer prints the verdict."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises((click.ClickException, OptionError)):  # what serve_main hands to Typer
        prepare(_params(serve_command(), args))


def test_the_configuration_keys_are_those_of_the_typer_command() -> None:
    """``keys()`` reads the declarations; Typer's command must have the same parameters, in the same order."""
    command = typer_command()
    params = [param for param in command.params if param.name not in ("get", "version", "config_file")]
    assert [key.param for key in keys().values()] == [param.name for param in params]
    for key, param in zip(keys().values(), params, strict=True):
        longs = [opt for opt in param.opts if opt.startswith("--")]
        assert key.flag == (longs[0] if longs else str(param.name).upper())
        assert key.default == param.default
        assert key.help == " ".join((param.help or "").split())

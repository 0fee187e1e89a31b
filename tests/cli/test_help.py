"""``--help`` and friends (issue 13, point 10): the sub-commands, what SOURCE may be, ``-h``, ``-v``, ``help``."""

from __future__ import annotations

from pathlib import Path

import pytest

from jsonserve import __version__
from tests.support.cli import run_cli


def flat(text: str) -> str:
    """Rich's boxes and line wrapping removed."""
    for box in "│╭╮╰╯─":
        text = text.replace(box, " ")
    return " ".join(text.split())


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_help_lists_the_commands_and_what_source_may_be(tmp_path: Path, args: list[str]) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = flat(result.stdout)
    assert text.startswith("Usage: jsonserve [OPTIONS] [SOURCE]")
    for command in (
        "jsonserve init [FILE]", "jsonserve import SOURCE TARGET", "jsonserve export SOURCE TARGET",
        "jsonserve user add EMAIL [SOURCE]", "jsonserve user passwd EMAIL [SOURCE]", "jsonserve config [SOURCE]",
    ):  # fmt: skip
        assert command in text
    assert "jsonserve help [COMMAND]" in text
    assert "A .json file" in text
    assert "a SQLite file (.db" in text
    assert "a PostgreSQL URL (postgresql://" in text
    assert "--version -v" in text
    assert "--help -h" in text


@pytest.mark.parametrize("command", ["init", "import", "export", "user"])
@pytest.mark.parametrize("form", ["help {}", "{} --help", "{} -h"])
def test_each_command_has_its_help(tmp_path: Path, command: str, form: str) -> None:
    result = run_cli(*form.format(command).split(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert flat(result.stdout).startswith(f"Usage: jsonserve {command} [OPTIONS]")
    assert not list(tmp_path.iterdir()), "asking for help does nothing else"


@pytest.mark.parametrize("form", ["user --help", "user", "help user"])
def test_user_help_lists_add_and_passwd(tmp_path: Path, form: str) -> None:
    text = flat(run_cli(*form.split(), cwd=tmp_path).stdout)
    assert text.startswith("Usage: jsonserve user [OPTIONS] COMMAND [ARGS]...")
    assert "add Add a user" in text and "passwd Set a user's password" in text


def test_help_of_an_unknown_command(tmp_path: Path) -> None:
    result = run_cli("help", "serve", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "jsonserve: no command named 'serve' (commands: init, import, export, user, config, help); "
        "see: jsonserve --help"
    ]


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version(tmp_path: Path, flag: str) -> None:
    result = run_cli(flag, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == f"jsonserve {__version__}\n"


def test_the_readme_documents_every_option() -> None:
    """Every option of ``jsonserve --help`` appears in the README (``--index`` and ``--workers`` were missing)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    help_text = run_cli("--help", cwd=Path(__file__).parent).stdout
    words = help_text.replace(",", " ").split()
    options = {word for word in words if word.startswith("--") and len(word) > 3}
    options -= {"--help", "--no-watch"}  # --no-watch: the other half of --watch
    assert {"--index", "--workers"} <= options
    missing = sorted(option for option in options if option not in readme)
    assert missing == []


def test_config_help(tmp_path: Path) -> None:
    for form in ("config --help", "help config", "config -h"):
        result = run_cli(*form.split(), cwd=tmp_path)
        assert result.returncode == 0 and result.stdout.startswith("Usage: jsonserve config [SOURCE] [OPTIONS]")

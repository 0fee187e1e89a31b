"""``jsonserve.toml``, ``JSONSERVE_<OPTION>`` and ``jsonserve config`` (issue 17, point 5): precedence
command line > environment > file > defaults, unknown keys and wrong types as one-line usage errors,
secrets never printed, and the reference in docs/operations.md generated from the same options.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jsonserve.cli.configfile import keys
from jsonserve.cli.showconfig import main as reference_main

ROOT = Path(__file__).resolve().parents[2]


def jsonserve(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JSONSERVE_") and k != "FORWARDED_ALLOW_IPS"}
    return subprocess.run(
        [sys.executable, "-m", "jsonserve", *args],
        cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def effective(stdout: str) -> dict[str, tuple[str, str]]:
    """``key -> (value, origin)`` from ``jsonserve config``'s lines."""
    found = {}
    for line in stdout.splitlines():
        unset = line.startswith("# ") and " =  " in line  # ``# static =   # unset (default)``
        if line.startswith("#") and not unset:
            continue
        setting, _, origin = line.removeprefix("# " if unset else "").partition("# ")
        key, _, value = setting.partition(" = ")
        found[key.strip()] = (value.strip(), origin.strip())
    return found


def test_precedence_of_the_four_sources_and_secrets_masked(tmp_path: Path) -> None:
    (tmp_path / "jsonserve.toml").write_text(
        'port = 3100\nhost = "0.0.0.0"\nrate-limit = "10/second"\nindex = ["posts.userId"]\n'
        'metrics = true\nsource = "postgresql://ada:hunter2@db.test/app"\nchaos-latency = "5-10"\n'
    )
    env = {"JSONSERVE_PORT": "3200", "JSONSERVE_HOST": "::1", "JSONSERVE_METRICS": "off", "JSONSERVE_JWT_SECRET": "s3"}
    result = jsonserve("config", "--port", "3300", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    found = effective(result.stdout)
    assert found["port"] == ("3300", "command line")  # over the environment and the file
    assert found["host"] == ('"::1"', "environment JSONSERVE_HOST")  # over the file
    assert found["metrics"] == ("false", "environment JSONSERVE_METRICS")
    assert found["rate-limit"] == ('"10/second"', "file jsonserve.toml")
    assert found["index"] == ('["posts.userId"]', "file jsonserve.toml")
    assert found["delay"] == ("0", "default")
    assert set(found) == set(keys())  # every option, no other
    assert "hunter2" not in result.stdout and found["source"][0] == '"postgresql://ada:***@db.test/app"'
    assert "s3" not in result.stdout.replace("s3200", "") and "JSONSERVE_JWT_SECRET is set" in result.stdout


def test_the_server_runs_with_the_files_and_the_environments_values(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text('{"posts": [{"uid": 7, "title": "t"}]}')
    (tmp_path / "other.toml").write_text('source = "db.json"\nbase = "/api"\nid = "nope"\n')
    result = jsonserve("--config", "other.toml", "--get", "/api/posts/7", cwd=tmp_path, env={"JSONSERVE_ID": "uid"})
    assert result.returncode == 0, result.stderr
    assert '"title":"t"' in result.stdout.replace(" ", "")


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("prot = 1\n", {}, "jsonserve: jsonserve.toml: unknown key 'prot'; the keys are: source, host, port,"),
        ('port = "3000"\n', {}, "jsonserve: jsonserve.toml: port must be an integer, not '3000'"),
        ("metrics = 1\n", {}, "jsonserve: jsonserve.toml: metrics must be true or false, not 1"),
        ("port = true\n", {}, "jsonserve: jsonserve.toml: port must be an integer, not true"),
        ("port = \n", {}, "jsonserve: jsonserve.toml is not TOML: "),
        ("", {"JSONSERVE_DELAY": "soon"}, "jsonserve: JSONSERVE_DELAY must be an integer, not 'soon'"),
        ("", {"JSONSERVE_CONFIG": "missing.toml"}, "jsonserve: no configuration file missing.toml"),
    ],
)
@pytest.mark.parametrize("command", [[], ["config"]])
def test_unknown_keys_and_wrong_types_are_one_line_usage_errors(
    tmp_path: Path, toml: str, env: dict[str, str], message: str, command: list[str]
) -> None:
    if toml:
        (tmp_path / "jsonserve.toml").write_text(toml)
    result = jsonserve(*command, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(message), result.stderr
    assert "log-format" in result.stderr or "unknown key" not in message  # names every valid key


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ('rate-limit = "lots"\n', {}, "jsonserve: jsonserve.toml: rate-limit: 'lots' is not a rate limit such as"),
        ("port = 70000\n", {}, "jsonserve: jsonserve.toml: port: 70000 is not a port: give one from 1 to 65535"),
        ('chaos-latency = "500-50"\n', {}, "jsonserve: jsonserve.toml: chaos-latency: '500-50' is not a range of"),
        ('max-body = "lots"\n', {}, "jsonserve: jsonserve.toml: max-body: 'lots' is not a size such as 1MiB"),
        ('index = ["userId"]\n', {}, "jsonserve: jsonserve.toml: index: 'userId' is not COLLECTION.FIELD"),
        ('compat = "2"\n', {}, "jsonserve: jsonserve.toml: compat: takes 0.17 or 1, not '2'"),
        ('redis = "http://x"\n', {}, "jsonserve: jsonserve.toml: redis: 'http://x' is not a Redis URL"),
        ("", {"JSONSERVE_PORT": "70000"}, "jsonserve: JSONSERVE_PORT: 70000 is not a port"),
        ("", {"JSONSERVE_LOG_FORMAT": "xml"}, "jsonserve: JSONSERVE_LOG_FORMAT: takes text or json, not 'xml'"),
    ],
)
@pytest.mark.parametrize("command", [[], ["config"]])
def test_an_options_own_check_on_a_files_value_is_a_one_line_error_naming_file_and_key(
    tmp_path: Path, toml: str, env: dict[str, str], message: str, command: list[str]
) -> None:
    if toml:
        (tmp_path / "jsonserve.toml").write_text(toml)
    result = jsonserve(*command, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(message), result.stderr


def test_the_command_lines_own_checks_still_name_the_option(tmp_path: Path) -> None:
    (tmp_path / "jsonserve.toml").write_text("port = 3000\n")  # a good file: the bad value is the command line's
    result = jsonserve("--port", "70000", cwd=tmp_path)
    assert result.returncode == 2 and "Invalid value for '--port'" in result.stderr, result.stderr


def test_the_docs_reference_is_generated_from_the_options() -> None:
    assert reference_main(["--check", str(ROOT / "docs" / "operations.md")]) == 0, (
        "regenerate it: python -m jsonserve.cli.showconfig --write docs/operations.md"
    )
    text = (ROOT / "docs" / "operations.md").read_text()
    for key in keys().values():
        assert f"| `{key.name}` | `{key.variable}` |" in text

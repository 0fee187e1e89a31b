"""SQLite works after a plain ``pip install jsonserve``; only PostgreSQL needs an extra (issue 13, point 11)."""

from __future__ import annotations

import os
import subprocess
import tomllib
import venv
from importlib.metadata import requires
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SQLITE = {"sqlalchemy", "aiosqlite"}


def name(requirement: str) -> str:
    """The distribution a requirement names: ``sqlalchemy[asyncio]>=2.0`` -> ``sqlalchemy``."""
    for stop in "[<>=!~; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower()


def test_the_sqlite_driver_is_a_base_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {name(requirement) for requirement in project["dependencies"]}
    assert base >= SQLITE
    assert "asyncpg" not in base
    assert {name(requirement) for requirement in project["optional-dependencies"]["postgres"]} == {"asyncpg"}
    assert project["optional-dependencies"]["sqlite"] == []  # still accepted, now empty


def test_the_installed_metadata_says_so() -> None:
    """What pip reads: the SQLite driver without an ``extra ==`` marker (the venv was installed from this tree)."""
    unconditional = {name(requirement) for requirement in requires("jsonserve") or () if "extra ==" not in requirement}
    assert unconditional >= SQLITE
    assert "asyncpg" not in unconditional


@pytest.mark.long
def test_a_plain_install_in_a_fresh_venv_serves_sqlite(tmp_path: Path) -> None:
    """``pip install jsonserve`` (this tree, no extras) into a new virtual environment, then ``jsonserve app.db``."""
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(ROOT)], capture_output=True, text=True, timeout=900, check=False
    )
    assert install.returncode == 0, install.stderr
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    served = subprocess.run(
        [environment / "bin" / "jsonserve", "app.db", "--get", "/posts/1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    assert '"id": 1' in served.stdout
    assert (tmp_path / "app.db").exists()
    listed = subprocess.run([python, "-m", "pip", "list"], capture_output=True, text=True, timeout=120, check=False)
    assert "asyncpg" not in listed.stdout.lower(), "PostgreSQL's driver is the postgres extra's, not the base's"

"""The README, followed step by step by someone new: the command it names exists, its links stay in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target)
RELATIVE_PATH = re.compile(r"`(\.\./[^`\s]*)`")  # a path written as code: `../somewhere.md`
VENV_COMMAND = ".venv/bin/jsonserve"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_and_relative_path_stays_in_the_repository(page: Path) -> None:
    text = page.read_text()
    targets = [*LINK.findall(text), *RELATIVE_PATH.findall(text)]
    for target in targets:
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        resolved = (page.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} points outside the repository: {target}"
        assert resolved.exists(), f"{page.name} points at a missing file: {target}"


def test_the_readme_says_where_make_run_puts_the_command() -> None:
    readme = (ROOT / "README.md").read_text()
    after_make_run = readme[readme.index("make run") : readme.index("## Routes")]
    assert VENV_COMMAND in after_make_run
    assert 'make run ARGS="' in after_make_run
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^VENV\s*:=\s*\.venv$", makefile, re.MULTILINE)  # where `make run` installs it
    assert re.search(r"^BIN\s*:=\s*\$\(VENV\)/bin$", makefile, re.MULTILINE)
    assert "\t$(BIN)/jsonserve $(ARGS)" in makefile


def test_the_readme_next_step_works_with_the_command_it_names(tmp_path: Path) -> None:
    command = ROOT / VENV_COMMAND
    if not command.is_file():
        pytest.skip(f"no {VENV_COMMAND}: the tests run outside the environment `make` creates")
    readme = (ROOT / "README.md").read_text()
    step = re.search(rf"^{re.escape(VENV_COMMAND)} (init)\b", readme, re.MULTILINE)
    assert step is not None, "the README's first step after `make run` is not `.venv/bin/jsonserve init`"
    result = subprocess.run([str(command), step.group(1)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "db.json").is_file()

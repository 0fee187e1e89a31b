"""Every code block of docs/testing.md runs: the blocks are a user's project, run by pytest inside pytest.

Each ``python`` block names its file on its first line (``# file: blog_client.py``). Test files run
under pytest with the plugin as installed; any other file that no test imports is a script, run
with Python. Playwright drives Debian's Chromium (``CHROMIUM``), installed when missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.browser import ensure_chromium

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
TEST_FUNCTION = re.compile(r"^\s*(?:async )?def test_", re.MULTILINE)


def code_blocks() -> dict[str, str]:
    """The page's code blocks by the file each names; only Python blocks, each naming a file once."""
    files: dict[str, str] = {}
    for language, code in BLOCK.findall(DOC.read_text()):
        assert language == "python", f"docs/testing.md has a {language or 'plain'} block, which no test runs"
        first = code.partition("\n")[0]
        assert first.startswith("# file: "), f"a block of docs/testing.md names its file first, not {first!r}"
        name = first.removeprefix("# file: ").strip()
        assert name not in files, f"docs/testing.md has two blocks for {name}"
        files[name] = code
    return files


def test_every_code_block_of_the_testing_page_runs(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    files = code_blocks()
    monkeypatch.setenv("CHROMIUM", str(ensure_chromium()))
    for name, code in files.items():
        (project.path / name).write_text(code)
    tests = sorted(name for name in files if name.startswith("test_"))
    everything = "\n".join(files.values())
    modules = [name for name in files if not name.startswith("test_")]
    scripts = [name for name in modules if not re.search(rf"^from {Path(name).stem} import", everything, re.MULTILINE)]
    expected = sum(len(TEST_FUNCTION.findall(files[name])) for name in tests)
    result = project.runpytest(*tests)
    result.assert_outcomes(passed=expected)
    assert scripts == ["explore.py"]
    for script in scripts:
        run = project.runpython(project.path / script)
        assert run.ret == 0, run.stderr.str()

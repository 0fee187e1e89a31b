"""The pytest plugin (entry point ``pytest11: jsonserve``): the ``jsonserve`` fixture and marker.

Installed with the package; nothing goes in ``conftest.py``. A test that asks for ``jsonserve``
gets a :class:`~jsonserve.testing.JsonServer` loaded with the data of its ``jsonserve`` marker::

    @pytest.mark.jsonserve(data={"posts": [{"id": 1, "title": "a"}]})
    def test_list(jsonserve):
        assert jsonserve.client.get("/posts/1").json()["title"] == "a"

One server per set of options (the marker's, but ``data``) serves the whole session, on each xdist
worker its own; it is reset for every test (the data reloaded, the request log and the fault rules
cleared), which costs about a millisecond. Markers on the module, class and function merge, the
closest winning. When a test that used the fixture fails, its report shows the recorded requests.

This module imports nothing of jsonserve until a test asks for the fixture: a session that never
uses it pays nothing (and coverage measured by pytest-cov sees jsonserve's modules imported).

Example:
    >>> pytest.main(["-p", "jsonserve.pytest_plugin", "tests/"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from jsonserve.testing import JsonServer
    from jsonserve.testing.server import Host

MARKER = "jsonserve"
REPORT_SECTION = "jsonserve requests"
HOST: pytest.StashKey[Host] = pytest.StashKey()
SERVER: pytest.StashKey[JsonServer] = pytest.StashKey()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (``--strict-markers`` knows it)."""
    config.addinivalue_line(
        "markers",
        "jsonserve(data=None, **options): the data (a dict or a JSON file) and the CLI options "
        "(compat, schema, auth, rules, timestamps, auto_create, base, routes) of the jsonserve fixture",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the session's servers and their thread, if a test started them."""
    host = config.stash.get(HOST, None)
    if host is not None:
        del config.stash[HOST]
        host.close()


@pytest.fixture
def jsonserve(request: pytest.FixtureRequest) -> Iterator[JsonServer]:
    """A real, stateful REST API, fresh for this test: ``url``, ``client``, ``async_client``, ``data``,
    ``load``, ``requests``, ``fail``, ``delay``, ``login``, ``token_for`` (see docs/testing.md).
    """  # noqa: D205
    from jsonserve.testing.server import Host

    config = request.config
    host = config.stash.get(HOST, None)
    if host is None:
        host = config.stash[HOST] = Host(config.rootpath)
    data, options = _marker_options(request.node)
    server = host.server(options, data)
    server.reset(data)
    request.node.stash[SERVER] = server
    yield server


def _marker_options(node: pytest.Item) -> tuple[Any, dict[str, Any]]:
    """The merged ``jsonserve`` markers (the closest wins): the data, and the other options."""
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):  # farthest first: closer ones override
        if len(marker.args) > 1:
            raise pytest.UsageError("@pytest.mark.jsonserve takes at most one positional argument: the data")
        options.update({"data": marker.args[0]} if marker.args else {})
        options.update(marker.kwargs)
    return options.pop("data", None), options


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """When a test that used ``jsonserve`` fails, add the requests its server received to the report."""
    report = yield
    server = item.stash.get(SERVER, None)
    if server is not None and report.failed and call.when == "call":
        from jsonserve.testing.recorder import describe

        requests = server.requests
        report.sections.append((REPORT_SECTION, describe(requests) if requests else "(no request received)"))
    return report

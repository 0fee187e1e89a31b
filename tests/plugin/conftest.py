"""The plugin's tests run pytest inside pytest (``pytester``): a project of the user's, with the plugin as installed."""

from __future__ import annotations

import pytest

# What a user's project needs to run async tests under pytest-asyncio without a deprecation warning
# (our own suite turns warnings into errors, and a run inside it inherits that).
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """An empty pytest project of a user's (the plugin is loaded from its entry point, as after ``pip install``)."""
    pytester.makeini(INI)
    return pytester

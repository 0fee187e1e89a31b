"""The test server's options, as the CLI spells them, turned into :class:`~jsonserve.config.Settings`.

The options mirror the CLI's: ``compat``, ``schema``, ``auth``, ``rules``, ``timestamps``,
``auto_create``, ``base`` and ``routes``, and any other :class:`Settings` field by its own name
(``read_only=True``, ``id_field="_id"``, ``delay_ms=100``). ``schema``, ``rules`` and ``routes``
take a file path or the file's content (a dict); a relative path is read from ``folder`` (the
pytest rootdir, or the working directory). Data is a dict or the path of a JSON file.

Example:
    >>> settings_for({"compat": "1", "read_only": True}, Path("."), Path("/tmp")).compat
    '1'
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from jsonserve._types import JSONValue
from jsonserve.config import Settings

__all__ = ["OPTIONS", "load_data", "options_key", "settings_for"]

# The CLI's names for what Settings names otherwise; each may be a path or the file's content.
FILE_OPTIONS = {"schema": "schema_file", "rules": "rules_file"}
OPTIONS = ("data", "compat", "schema", "auth", "rules", "timestamps", "auto_create", "base", "routes")
FIXED = {"source", "host", "port", "workers", "watch", "quiet"}  # chosen by the test server itself
TEST_DEFAULTS: dict[str, Any] = {"port": 0, "quiet": True, "watch": False, "no_static": True}


def settings_for(options: Mapping[str, Any], folder: Path, scratch: Path) -> Settings:
    """The Settings of a test server with ``options`` (no ``data``); inline file contents are written to ``scratch``.

    Raises ``TypeError`` naming the valid options for an unknown one.
    """
    fields = {item.name for item in dataclasses.fields(Settings)} - FIXED
    values: dict[str, Any] = dict(TEST_DEFAULTS)
    for name, value in options.items():
        if name in FILE_OPTIONS:
            values[FILE_OPTIONS[name]] = _file(value, folder, scratch, name)
        elif name == "routes":
            values["routes"] = _routes(value, folder)
        elif name in fields:
            values[name] = _path(value, folder) if name in ("schema_file", "rules_file", "static_dir") else value
        else:
            valid = ", ".join(sorted({*OPTIONS, *fields} - {"data"}))
            raise TypeError(f"unknown jsonserve option {name!r}; the options are data, {valid}")
    return Settings(**values)


def options_key(options: Mapping[str, Any]) -> bytes:
    """A stable key for ``options``: one server serves every test that asks for the same ones."""
    return orjson.dumps(dict(options), option=orjson.OPT_SORT_KEYS, default=str)


def load_data(data: Mapping[str, Any] | str | Path | None, folder: Path) -> dict[str, JSONValue]:
    """A fresh copy of ``data`` (a dict, or a JSON file read from ``folder``); ``{}`` for ``None``."""
    if data is None:
        return {}
    if isinstance(data, str | Path):
        raw = _path(data, folder).read_bytes()
    else:
        try:
            raw = orjson.dumps(data)  # a deep copy that is also a check: only JSON values pass
        except TypeError as error:
            raise TypeError(f"jsonserve data must hold JSON values only: {error}") from None
    loaded = orjson.loads(raw)
    if not isinstance(loaded, dict):
        raise TypeError(f"jsonserve data must be a JSON object of collections, not {type(loaded).__name__}")
    return loaded


def _path(value: str | Path, folder: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else folder / path


def _file(value: object, folder: Path, scratch: Path, name: str) -> Path:
    if isinstance(value, str | Path):
        return _path(value, folder)
    content = orjson.dumps(value)
    path = scratch / f"{name}-{hashlib.sha256(content).hexdigest()[:16]}.json"
    path.write_bytes(content)
    return path


def _routes(value: object, folder: Path) -> dict[str, str]:
    if isinstance(value, str | Path):
        value = orjson.loads(_path(value, folder).read_bytes())
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError("jsonserve routes are a JSON object of path -> path (a dict, or the path of a file)")
    return dict(value)

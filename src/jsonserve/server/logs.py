"""Logging: ``--log-format text`` (as before) or ``json`` (one JSON object per line), for every logger.

One ``logging.config.dictConfig`` configures the root logger (``jsonserve.*``, the access log) and
uvicorn's loggers alike; uvicorn applies it in every ``--workers`` process too (``log_config``).
uvicorn's own access log is off: the app writes one line per request (``web/observe.py``) with the
request id, route template, status and duration. A JSON line holds ``time`` (UTC, ISO 8601 with
ms), ``level``, ``logger``, ``message``, any ``exception``, and an access line's fields.

Example:
    >>> logging.config.dictConfig(log_config(Settings(log_format="json")))  # doctest: +SKIP
    >>> logging.getLogger("jsonserve").warning("hello")  # doctest: +SKIP
    {"time":"2026-01-01T12:00:00.000Z","level":"warning","logger":"jsonserve","message":"hello"}
"""

from __future__ import annotations

import logging
import logging.config
import time
from typing import Any

import orjson

from jsonserve.config import Settings

TEXT_FORMAT = "%(levelname)s: %(message)s"  # jsonserve's lines: "WARNING: db.json did not exist: ..."
UVICORN_FORMAT = "%(levelprefix)s %(message)s"  # uvicorn's lines keep uvicorn's look


class JsonFormatter(logging.Formatter):
    """One JSON object per record; an access record's fields (``record.access``) become keys."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (control characters escaped: a line stays one line)."""
        moment = time.gmtime(record.created)
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            entry.update(access)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def log_config(settings: Settings, *, quiet: bool | None = None) -> dict[str, Any]:
    """The ``dictConfig`` of ``settings``: its format, and WARNING and above only when quiet.

    Example:
        >>> log_config(Settings(log_format="json"))["formatters"]["default"]["()"]
        'jsonserve.server.logs.JsonFormatter'
    """
    quiet = settings.quiet if quiet is None else quiet
    level = "WARNING" if quiet else "INFO"
    json_lines = {"()": f"{__name__}.JsonFormatter"}
    formatters: dict[str, Any] = (
        {"default": json_lines, "uvicorn": json_lines}
        if settings.log_format == "json"
        else {
            "default": {"format": TEXT_FORMAT},
            "uvicorn": {"()": "uvicorn.logging.DefaultFormatter", "fmt": UVICORN_FORMAT, "use_colors": None},
        }
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {name: _stderr(name) for name in formatters},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["uvicorn"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "httpx": {"level": "WARNING"},  # --get's request never left the process
        },
    }


def _stderr(formatter: str) -> dict[str, str]:
    return {"class": "logging.StreamHandler", "formatter": formatter, "stream": "ext://sys.stderr"}


def configure_logging(settings: Settings, *, quiet: bool | None = None) -> None:
    """Apply :func:`log_config` to this process (the CLI calls it before anything logs)."""
    logging.config.dictConfig(log_config(settings, quiet=quiet))

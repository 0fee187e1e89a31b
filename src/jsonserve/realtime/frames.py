"""The frames of the realtime protocol (``reference/realtime.md``), as JSON objects, for every transport.

Example:
    >>> change_frame("s1", Change("posts", "created", 7, {"id": 7}, None, 42, 0.0))["op"]
    'create'
    >>> iso_time(0.123)
    '1970-01-01T00:00:00.123Z'
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from jsonserve._types import JSONValue
from jsonserve.errors import JsonServeError
from jsonserve.storage.changelog import Change

Frame = dict[str, JSONValue]
"""One message of the protocol: a JSON object."""
SubId = str | int
"""A subscription id, as the client chose it."""

OPS = {"created": "create", "updated": "update", "deleted": "delete"}


def iso_time(at: float) -> str:
    """A UNIX time as ISO 8601 in UTC with milliseconds (``2026-12-03T20:00:00.123Z``)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def change_fields(change: Change) -> Frame:
    """What a change frame (or an SSE ``change`` / ``reset`` event) says of ``change``."""
    if change.action == "reset":
        return {"seq": change.seq, "collection": change.collection}
    return {
        "seq": change.seq,
        "op": OPS[change.action],
        "collection": change.collection,
        "id": change.id,
        "record": change.record,
        "previous": change.previous,
        "at": iso_time(change.at),
    }


def change_frame(sub: SubId, change: Change) -> Frame:
    """A ``change`` frame (``reset`` for a reload) of subscription ``sub``."""
    kind = "reset" if change.action == "reset" else "change"
    return {"type": kind, "sub": sub, **change_fields(change)}


def message_payload(channel: str, data: JSONValue, sender: JSONValue, at: float) -> bytes:
    """What travels on a channel for one publish: the fields every subscriber's ``message`` frame carries."""
    return orjson.dumps({"channel": channel, "data": data, "from": sender, "at": iso_time(at)})


def message_fields(payload: bytes) -> Frame:
    """The fields of a published payload (``channel``, ``data``, ``from``, ``at``)."""
    fields: Frame = orjson.loads(payload)
    return fields


def message_frame(sub: SubId, payload: bytes) -> Frame:
    """A ``message`` frame of channel subscription ``sub``."""
    return {"type": "message", "sub": sub, **message_fields(payload)}


def error_frame(sub: JSONValue, error: JsonServeError) -> Frame:
    """An ``error`` frame: the REST problem's ``code`` and ``detail`` (and ``errors`` when there are some)."""
    frame: Frame = {"type": "error", "id": sub, "code": error.code, "detail": error.detail}
    if error.errors:
        frame["errors"] = [{"path": e.path, "message": e.message, "code": e.code} for e in error.errors]
    return frame


def resync_frame(sub: SubId, seq: int) -> Frame:
    """``resync_required``: re-read over REST, then subscribe from ``seq``."""
    return {"type": "resync_required", "sub": sub, "seq": seq}

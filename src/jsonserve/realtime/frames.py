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


class EncodedFrame(dict[str, JSONValue]):
    """A frame that carries its JSON text already (:attr:`text`, what ``orjson.dumps`` gives of it)."""

    __slots__ = ("text",)

    def __init__(self, fields: Frame, text: str) -> None:
        super().__init__(fields)
        self.text = text


def frame_text(frame: Frame) -> str:
    """``frame`` as the JSON text of one WebSocket message (compact, keys in the frame's order)."""
    return frame.text if isinstance(frame, EncodedFrame) else orjson.dumps(frame).decode("utf-8")


# The last change encoded: (change, its fields, their JSON without the opening brace). A change is
# fanned out to every subscriber in one go, so this one entry saves all but the first encoding (and
# its timestamp formatting). One tuple, replaced whole: servers running in threads of one process
# (the pytest plugin) never see one change's fields with another's text.
_last_encoded: tuple[Change, Frame, str] | None = None


def _encoded(change: Change) -> tuple[Frame, str]:
    global _last_encoded  # the one-entry cache above
    entry = _last_encoded
    if entry is None or entry[0] is not change:
        fields = change_fields(change)
        entry = _last_encoded = (change, fields, orjson.dumps(fields).decode("utf-8")[1:])
    return entry[1], entry[2]


def change_frame(sub: SubId, change: Change) -> Frame:
    """A ``change`` frame (``reset`` for a reload) of subscription ``sub``.

    Its JSON is made once per change, not once per subscriber: only ``sub`` differs between them.
    """
    kind = "reset" if change.action == "reset" else "change"
    fields, body = _encoded(change)
    head = '{"type":"' + kind + '","sub":' + orjson.dumps(sub).decode("utf-8") + ","
    return EncodedFrame({"type": kind, "sub": sub, **fields}, head + body)


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

"""A hub that keeps what is published through it, so tests can assert the changes a request made."""

from __future__ import annotations

from jsonserve.realtime.hub import Hub
from jsonserve.storage.changelog import Change


class RecordingHub(Hub):
    """A real :class:`Hub` (subscribers still get every change) that also records them, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[Change] = []

    def publish(self, change: Change) -> None:
        self.changes.append(change)
        super().publish(change)

"""Realtime: change events in ``seq`` order (the feed), the hub, channel backends, and the protocol's sessions.

Transport-independent: the WebSocket and SSE endpoints live in ``web`` and drive a :class:`Session`.
"""

from jsonserve.realtime.backend import HubBackend, MemoryHubBackend
from jsonserve.realtime.feed import ChangeFeed
from jsonserve.realtime.gate import Gate
from jsonserve.realtime.hub import Hub, Subscription
from jsonserve.realtime.limits import Limits
from jsonserve.realtime.session import Context, Session
from jsonserve.storage.changelog import Change

__all__ = [
    "Change",
    "ChangeFeed",
    "Context",
    "Gate",
    "Hub",
    "HubBackend",
    "Limits",
    "MemoryHubBackend",
    "Session",
    "Subscription",
]

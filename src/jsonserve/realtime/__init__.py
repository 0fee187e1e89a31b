"""Change events, the hub that fans them out, and the backends that carry channel messages between processes."""

from jsonserve.realtime.backend import HubBackend, MemoryHubBackend
from jsonserve.realtime.hub import Hub, Subscription
from jsonserve.storage.changelog import Change

__all__ = ["Change", "Hub", "HubBackend", "MemoryHubBackend", "Subscription"]

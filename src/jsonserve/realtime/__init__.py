"""Change events and the in-process hub that fans them out."""

from jsonserve.realtime.hub import Hub, Subscription
from jsonserve.storage.base import Change

__all__ = ["Change", "Hub", "Subscription"]

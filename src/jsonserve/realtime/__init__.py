"""Change events and the in-process hub that fans them out."""

from jsonserve.realtime.hub import Hub, Subscription
from jsonserve.storage.changelog import Change

__all__ = ["Change", "Hub", "Subscription"]

"""Storage backends behind one async interface."""

from jsonserve.storage.base import Change, Dependent, Kind, Storage
from jsonserve.storage.memory import MemoryStorage

__all__ = ["Change", "Dependent", "Kind", "MemoryStorage", "Storage"]

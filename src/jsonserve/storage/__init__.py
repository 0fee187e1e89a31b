"""Storage backends behind one async interface, in two families: ``file`` (memory, JSON file) and ``sql``."""

from jsonserve.storage.base import Dependent, Storage, Unique
from jsonserve.storage.changelog import Change, ChangeLog, Retention
from jsonserve.storage.file.memory import MemoryStorage

__all__ = ["Change", "ChangeLog", "Dependent", "MemoryStorage", "Retention", "Storage", "Unique"]

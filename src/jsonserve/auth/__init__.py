"""Who is asking, and what they may read: the :class:`Principal` and the read-rule seam."""

from jsonserve.auth.principal import ANONYMOUS, Principal
from jsonserve.auth.rules import AllowAll, ReadRule

__all__ = ["ANONYMOUS", "AllowAll", "Principal", "ReadRule"]

"""Who is asking, and what they may read and write: the :class:`Principal` and the rule seams."""

from jsonserve.auth.principal import ANONYMOUS, Guard, Principal
from jsonserve.auth.rules import AllowAll, ReadRule, WriteRule

__all__ = ["ANONYMOUS", "AllowAll", "Guard", "Principal", "ReadRule", "WriteRule"]

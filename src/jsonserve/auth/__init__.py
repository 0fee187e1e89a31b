"""Who is asking, and what they may read and write: the :class:`Principal` and the rule seams."""

from jsonserve.auth.principal import ANONYMOUS, Guard, Principal
from jsonserve.auth.rules import AllowAll, ChannelRule, ReadRule, WriteRule

__all__ = ["ANONYMOUS", "AllowAll", "ChannelRule", "Guard", "Principal", "ReadRule", "WriteRule"]

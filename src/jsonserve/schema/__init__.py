"""What the data looks like: kinds of resources, relations by json-server's ``<singular>Id`` convention."""

from jsonserve.schema.kind import Kind
from jsonserve.schema.relations import Relations

__all__ = ["Kind", "Relations"]

"""What the data looks like: relations by json-server's ``<singular>Id`` convention."""

from jsonserve.schema.relations import Relations

__all__ = ["Relations"]

"""OpenAPI 3.1 from the live collections and their declared or inferred schemas."""

from jsonserve.openapi.document import build_document

__all__ = ["build_document"]

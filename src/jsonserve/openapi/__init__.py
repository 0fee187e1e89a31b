"""OpenAPI 3.1 from the live collections and their declared or inferred schemas (read from the catalogue)."""

from jsonserve.openapi.document import Documents, build_document

__all__ = ["Documents", "build_document"]

"""OpenAPI 3.1 from the live collections and their declared or inferred schemas."""

from jsonserve.openapi.document import DocumentOptions, build_document

__all__ = ["DocumentOptions", "build_document"]

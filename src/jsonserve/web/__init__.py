"""The HTTP layer (Starlette): routes, thin endpoints, errors, middleware."""

from jsonserve.web.app import create_app

__all__ = ["create_app"]

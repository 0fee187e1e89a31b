"""The service layer: the only door to data, and the rules for values that cross it."""

from jsonserve.service.build import build_service, build_storage
from jsonserve.service.core import Listing, Service, ServiceOptions
from jsonserve.service.values import etag_for, etag_matches, parse_body, record_etag, render

__all__ = [
    "Listing",
    "Service",
    "ServiceOptions",
    "build_service",
    "build_storage",
    "etag_for",
    "etag_matches",
    "parse_body",
    "record_etag",
    "render",
]

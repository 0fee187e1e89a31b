"""The service layer: the only door to data, and the rules for values that cross it."""

from jsonserve.service.build import build_service, build_storage
from jsonserve.service.catalogue import Catalogue
from jsonserve.service.core import Listing, Service
from jsonserve.service.options import ServiceOptions
from jsonserve.service.values import etag_for, etag_matches, parse_body, record_etag, render

__all__ = [
    "Catalogue",
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

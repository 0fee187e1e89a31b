"""The backend-neutral query model, json-server's two grammars, and the reference evaluator."""

from jsonserve.query.evaluate import matches, run
from jsonserve.query.model import (
    AllOf,
    AnyOf,
    Condition,
    Node,
    Op,
    Page,
    PageRequest,
    Query,
    Slice,
    SortKey,
    TextSearch,
)
from jsonserve.query.params import ParseOptions, parse_dependents, parse_params

__all__ = [
    "AllOf",
    "AnyOf",
    "Condition",
    "Node",
    "Op",
    "Page",
    "PageRequest",
    "ParseOptions",
    "Query",
    "Slice",
    "SortKey",
    "TextSearch",
    "matches",
    "parse_dependents",
    "parse_params",
    "run",
]

"""The backend-neutral query model, json-server's two grammars, the ``_where`` parser, and the reference evaluator."""

from jsonserve.query.evaluate import matches, run
from jsonserve.query.model import (
    AllOf,
    AnyOf,
    Condition,
    Node,
    Not,
    Op,
    Page,
    PageRequest,
    Query,
    Slice,
    SortKey,
    TextSearch,
)
from jsonserve.query.params import ParseOptions, parse_dependents, parse_params
from jsonserve.query.where import WhereOptions, parse_where

__all__ = [
    "AllOf",
    "AnyOf",
    "Condition",
    "Node",
    "Not",
    "Op",
    "Page",
    "PageRequest",
    "ParseOptions",
    "Query",
    "Slice",
    "SortKey",
    "TextSearch",
    "WhereOptions",
    "matches",
    "parse_dependents",
    "parse_params",
    "parse_where",
    "run",
]

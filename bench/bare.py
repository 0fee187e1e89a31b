"""The ceiling: a bare Starlette app on uvicorn (httptools, uvloop) answering one fixed small JSON.

It serves ``GET /posts/1`` with the bytes of a post read once at start, so the payload is the size
jsonserve sends for the same request. Nothing else: no routing table, no storage, no headers beyond
content-type and content-length.

    python bench/bare.py BODY.json PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build(body: bytes) -> Starlette:
    """A Starlette app whose one route answers ``body`` as JSON."""

    async def post(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/posts/1", post)])


if __name__ == "__main__":
    app = build(Path(sys.argv[1]).read_bytes())
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level="warning",
    )

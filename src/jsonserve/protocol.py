"""uvicorn's httptools protocol, answering requests it cannot parse with problem+json.

uvicorn writes a plain-text ``400 Invalid HTTP request received.`` for a request line or headers
llhttp rejects (malformed, or longer than 64 KiB); every other error of ours is RFC 9457
problem+json, so this one is too. Only the body of that one response changes.

Example:
    >>> uvicorn.Config(app, http=ProblemHttpToolsProtocol)  # doctest: +SKIP
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from jsonserve.web.errors import PROBLEM_TYPE, problem_body

UNPARSABLE = (
    "the request could not be parsed as HTTP/1.1: it is malformed, or its request line and headers "
    "exceed 64 KiB (send long filters in fewer or shorter parameters)"
)


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose parse-error 400 is ``application/problem+json``."""

    def send_400_response(self, msg: str) -> None:
        """Answer 400 with a problem body, then close the connection (as uvicorn does)."""
        body = problem_body(400, UNPARSABLE, "bad_request")
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

"""Request bodies sent with ``Content-Encoding``: gzip and deflate are decoded, any other coding is a 415.

RFC 9110 §8.4: the coding is part of what the body *is*, so a body labelled ``gzip`` is gzip data or a
400, never stored as the bytes it arrived as; a coding the server cannot decode is answered with 415
and an ``Accept-Encoding`` header listing those it can (§15.5.16). ``br`` would need the ``brotli``
package, which jsonserve does not depend on, so it is refused like any coding it does not know.

``--max-body`` bounds a body twice: the bytes on the wire (as for any body), then the decoded bytes.
Decoding stops one byte past the limit, so a small body that inflates to gigabytes (a zip bomb) is a
413 after at most ``--max-body`` bytes of output, never inflated in full.

Example:
    >>> import gzip
    >>> decode_body(gzip.compress(b'{"a": 1}'), "gzip", limit=1024)
    b'{"a": 1}'
"""

from __future__ import annotations

import zlib

from jsonserve.errors import BodyError, PayloadTooLarge, UnsupportedEncoding

ACCEPTED = ("gzip", "deflate")
"""The codings a request body may have (the ``Accept-Encoding`` of a 415)."""
# zlib's window bits: 16 + 15 reads the gzip format (RFC 1952), 15 the zlib format (RFC 1950), which is
# what HTTP calls "deflate". "x-gzip" is gzip (RFC 9110 §8.4.1.3).
_WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_MAX_CODINGS = 2  # "gzip, gzip" is legal; a longer chain is no client's, only a way to multiply work


def body_codings(header: str | None) -> list[str]:
    """The codings a ``Content-Encoding`` header names, in the order they were applied (``identity`` dropped).

    Raises :class:`UnsupportedEncoding` for a coding that :func:`decode_body` cannot undo.
    """
    codings = [name.strip().lower() for name in (header or "").split(",")]
    codings = [name for name in codings if name and name != "identity"]
    unknown = [name for name in codings if name not in _WINDOW_BITS]
    if unknown or len(codings) > _MAX_CODINGS:
        what = f"Content-Encoding {unknown[0]!r}" if unknown else f"more than {_MAX_CODINGS} content codings"
        raise UnsupportedEncoding(
            f"{what} is not supported for request bodies; send the body as it is, or compressed with "
            f"{' or '.join(ACCEPTED)}",
            ACCEPTED,
        )
    return codings


def decode_body(body: bytes, coding: str, limit: int) -> bytes:
    """``body`` decoded from ``coding``: 400 if it is not that format, 413 once the output passes ``limit``."""
    output: list[bytes] = []
    size = 0
    pending = body
    while True:
        decoder = zlib.decompressobj(_WINDOW_BITS[coding])
        while True:
            try:
                chunk = decoder.decompress(pending, limit + 1 - size)
            except zlib.error as error:
                raise BodyError(
                    f"the body is labelled Content-Encoding: {coding} but is not {coding} data ({error})"
                ) from None
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body decodes to more than the {limit}-byte limit (--max-body)")
            output.append(chunk)
            # Short of the limit, zlib stopped because the input ran out (or the stream ended).
            pending = decoder.unconsumed_tail
            if decoder.eof or not pending:
                break
        if not decoder.eof:
            raise BodyError(f"the body is labelled Content-Encoding: {coding} but its {coding} data is truncated")
        pending = decoder.unused_data
        if not pending:
            return b"".join(output)
        if coding == "deflate":  # a gzip file may hold several members; a zlib stream is one
            raise BodyError("the body has bytes after the end of its deflate data")

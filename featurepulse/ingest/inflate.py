"""Inflating a compressed request body within a cap: one implementation for the ingest Lambda
(`featurepulse.ingest.request.decode_body`) and the local API Gateway stand-in (`featurepulse.local.endpoint`).

A gzip body may hold several members (RFC 1952: a gzip file is a series of members; `cat a.gz b.gz` is valid):
every member is inflated, and trailing NUL padding is ignored. The cap counts the output of all members
together, so a gzip bomb split over many members is refused as surely as one member: inflation stops as soon as
the output passes the cap, never holding more than `limit` + 1 bytes.
"""

from __future__ import annotations

import zlib

from featurepulse.ingest.limits import MAX_GZIP_MEMBERS

GZIP = "gzip"
DEFLATE = "deflate"
GZIP_MAGIC = b"\x1f\x8b"
# zlib window bits: a gzip member (header and trailer), and a zlib (RFC 1950) stream, what `deflate` names.
_WBITS = {GZIP: 16 + zlib.MAX_WBITS, DEFLATE: zlib.MAX_WBITS}
_CHUNK_BYTES = 1024


class CorruptCompressionError(ValueError):
    """The body does not inflate with the coding it claims (bad data, or truncated)."""


class InflatedTooLargeError(ValueError):
    """The body inflates to more than the cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request inflates to more than {limit} bytes; the limit is {limit} bytes after inflation")
        self.limit = limit


def inflate(body: bytes, coding: str, limit: int, *, max_members: int = MAX_GZIP_MEMBERS) -> bytes:
    """`body` inflated with `coding` (`gzip`: every member; `deflate`: one zlib stream), at most `limit` bytes.

    Raises `InflatedTooLargeError` past `limit`, and `CorruptCompressionError` for data that does not inflate or
    a gzip body of more than `max_members` members (each member costs a new inflater even when it is empty, and
    no client needs more than one per event).
    The input is fed in chunks of `_CHUNK_BYTES`: zlib copies the input left after a member's end into
    `unused_data`, so feeding the whole body would copy the rest of it once per member (a 1 MB body of 50,000
    empty members took 10 s); a chunk bounds each copy, so each input byte is read about once.
    """
    wbits = _WBITS[coding]
    view = memoryview(body)
    size = len(view)
    out = bytearray()
    position = 0
    members = 0
    while True:
        members += 1
        if members > max_members:
            raise CorruptCompressionError(f"body has more than {max_members} {coding} members")
        inflater = zlib.decompressobj(wbits)
        while not inflater.eof and position < size:
            chunk = view[position : position + _CHUNK_BYTES]
            try:
                out += inflater.decompress(chunk, limit + 1 - len(out))
            except zlib.error as exc:
                raise CorruptCompressionError(f"body is not valid {coding}: {exc}") from None
            if len(out) > limit:
                raise InflatedTooLargeError(limit)
            # Below the cap the whole chunk was read: what the member did not use starts the next one.
            position += len(chunk) - len(inflater.unused_data)
        if not inflater.eof:
            raise CorruptCompressionError(f"body is not valid {coding}: the compressed data is truncated")
        if coding != GZIP or position == size:
            return bytes(out)
        if view[position] == 0 and not view[position:].tobytes().strip(b"\0"):
            return bytes(out)  # NUL padding after the last member (read once: it ends the loop either way)

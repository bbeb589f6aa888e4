"""How a stream record's bytes are read: the one rule every consumer applies (standard library only, so the
Managed Flink job can import it where nothing can be pip-installed).

A record that starts with the gzip magic bytes (1f 8b) is gzip-compressed JSON Lines; anything else is plain JSON
Lines (records written before compression, and a single event that compresses over the ratio bound). The bounds
and their arithmetic are in featurepulse/domain/packing.py, which writes the records.
"""

from __future__ import annotations

import zlib

GZIP_MAGIC = b"\x1f\x8b"
GZIP_WBITS = 31  # zlib's gzip container
MAX_DECOMPRESSION_RATIO = 16
# Uncompressed bytes of the JSON Lines of one record (featurepulse/domain/packing.py explains the figure).
MAX_PACKED_RECORD_BYTES = 512 * 1024


class UnreadableRecordError(ValueError):
    """A gzip stream record that is corrupt, truncated, followed by other bytes, or over the packing bounds."""


def is_gzip_record(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def record_text(data: bytes) -> bytes:
    """The JSON Lines of one stream record: gzip decompressed within the bounds, anything else as stored.

    Raises UnreadableRecordError for a gzip record that is corrupt, truncated, followed by other bytes, larger
    than `MAX_PACKED_RECORD_BYTES` or over the decompression ratio (never written by the packer): the bound is
    checked while inflating, so a hostile record never costs more than the bound in memory."""
    if not is_gzip_record(data):
        return data
    limit = min(MAX_PACKED_RECORD_BYTES, MAX_DECOMPRESSION_RATIO * len(data))
    inflater = zlib.decompressobj(wbits=GZIP_WBITS)
    try:
        text = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise UnreadableRecordError(f"corrupt gzip record: {exc}") from None
    if len(text) > limit:
        raise UnreadableRecordError(f"gzip record inflates past {limit} bytes (the packing bounds)")
    if not inflater.eof:
        raise UnreadableRecordError("truncated gzip record")
    if inflater.unused_data:
        raise UnreadableRecordError("bytes after the gzip member")
    return text

"""Inflating a compressed body within a cap: the one implementation the ingest Lambda and the local endpoint use."""

from __future__ import annotations

import base64
import gzip
import struct
import zlib
from typing import Any

import pytest

from featurepulse.ingest.inflate import CorruptCompressionError, InflatedTooLargeError, inflate
from featurepulse.ingest.request import decode_body
from featurepulse.local.endpoint import decode_content


def _member_with_extra_field(payload: bytes, extra_bytes: int) -> bytes:
    """A gzip member of `payload` whose header carries an FEXTRA field of `extra_bytes` bytes (RFC 1952 2.3.1.1):
    large on the wire, nothing in the output."""
    plain = gzip.compress(payload, mtime=0)
    header = bytearray(plain[:10])
    header[3] |= 0x04  # FLG.FEXTRA
    return bytes(header) + struct.pack("<H", extra_bytes) + b"x" * extra_bytes + plain[10:]


class _CountingInflater:
    """zlib's own inflater, counting the compressed bytes handed to it."""

    fed = 0

    def __init__(self, *args: Any) -> None:
        self._inflater = _REAL_DECOMPRESSOBJ(*args)

    def decompress(self, data: Any, max_length: int = 0) -> bytes:
        _CountingInflater.fed += len(data)
        return self._inflater.decompress(data, max_length)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inflater, name)


_REAL_DECOMPRESSOBJ = zlib.decompressobj


def test_the_lambda_and_the_local_endpoint_inflate_a_multi_member_body_the_same_way() -> None:
    # Given a body of three gzip members and NUL padding
    body = gzip.compress(b'{"batch": ') + gzip.compress(b'[{"type": "identify", ') + gzip.compress(b'"userId": "u"}]}')
    body += b"\0" * 4
    # When the Lambda and the local endpoint decode it / Then both see every member
    expected = b'{"batch": [{"type": "identify", "userId": "u"}]}'
    assert decode_body(base64.b64encode(body).decode(), is_base64=True) == expected
    assert decode_content(body, "gzip") == expected
    assert inflate(body, "gzip", 1000) == expected


def test_a_bomb_split_over_members_is_stopped_at_the_cap_over_all_members() -> None:
    # Given 20 members of 60 KB each: each within a 100 KB cap, together 1.2 MB
    body = gzip.compress(b"0" * 60_000) * 20
    # When inflated with a 100 KB cap / Then it is refused as too large
    with pytest.raises(InflatedTooLargeError, match="more than 100000 bytes"):
        inflate(body, "gzip", 100_000)


def test_each_compressed_byte_is_read_about_once_however_many_members_the_body_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a 6 MB body of 100 members that inflate to nothing, each with a 60 KB header field (feeding the rest of
    # the body to each new member would hand zlib about 300 MB)
    body = _member_with_extra_field(b"", 60_000) * 99 + _member_with_extra_field(b"{}", 60_000)
    monkeypatch.setattr(zlib, "decompressobj", _CountingInflater)
    _CountingInflater.fed = 0
    # When it is inflated
    out = inflate(body, "gzip", 1000)
    # Then the content is the last member's, and zlib was handed each byte of the body about once
    assert out == b"{}"
    assert _CountingInflater.fed < 2 * len(body)


def test_more_gzip_members_than_allowed_are_refused() -> None:
    body = gzip.compress(b"") * 11
    assert inflate(body, "gzip", 1000, max_members=11) == b""
    with pytest.raises(CorruptCompressionError, match="more than 10 gzip members"):
        inflate(body, "gzip", 1000, max_members=10)


def test_truncated_data_and_garbage_after_a_member_are_refused() -> None:
    whole = gzip.compress(b"x" * 1000)
    with pytest.raises(CorruptCompressionError, match="truncated"):
        inflate(whole[:-10], "gzip", 10_000)
    with pytest.raises(CorruptCompressionError):
        inflate(whole + b"not gzip", "gzip", 10_000)
    with pytest.raises(CorruptCompressionError):
        inflate(whole + b"\0\0garbage", "gzip", 10_000)

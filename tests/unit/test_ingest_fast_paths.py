"""The caches of the hot path decide exactly as the slow rules they stand in for.

`parse_iso_ms` caches the minutes it has parsed and `truncate_ip` the IPv4 networks it has checked; a string
that shares a cached minute or network but is not a valid time or address must still be refused, and a valid one
must give the value the slow rule gives.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.ingest.privacy import truncate_ip
from featurepulse.ingest.timestamps import InvalidTimestampError, parse_iso_ms

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
fast_forms = st.builds(
    lambda t, spec, z: t.isoformat(timespec=spec).replace("+00:00", "Z" if z else "+00:00"),
    st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(["milliseconds", "microseconds"]),
    st.booleans(),
)
# Characters a mutation may write: digits, the separators of the format, and a few that are not in it.
characters = "0123456789-:.+TZ z\u0663\u00b2"


def _reference_ms(text: str) -> int | None:
    """The slow rule: `datetime.fromisoformat`, no offset meaning UTC; None when it refuses the string."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def _parsed_or_none(text: str) -> int | None:
    try:
        return parse_iso_ms(text)
    except InvalidTimestampError:
        return None


@settings(max_examples=500)
@given(
    fast_forms,
    st.integers(min_value=14, max_value=32),
    st.integers(min_value=0, max_value=3),
    st.text(alphabet=characters, max_size=3),
)
def test_a_time_that_shares_a_cached_minute_is_judged_like_fromisoformat(
    valid: str, start: int, length: int, replacement: str
) -> None:
    # Given a valid time in the form SDKs send, parsed once so that its minute is cached
    assert parse_iso_ms(valid) == _reference_ms(valid)
    # And the same text with a few characters after the hour replaced, cut or added
    text = valid[:start] + replacement + valid[start + length :]

    # When it is parsed / Then it gives what fromisoformat gives: the same millisecond, or a refusal
    assert _parsed_or_none(text) == _reference_ms(text), text


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T15:57:60.000Z",
        "2026-11-25T15:57:99.000Z",
        "2026-11-25T15:57:4\u0663.736Z",
        "2026-11-25T15:57:44.73xZ",
        "2026-11-25T15:57:44,736Z",
        "2026-11-25T15:57:44.736z",
        "2026-11-25T15:57:44.7361x3Z",
        "2026-11-25T15:57:44.736x23+00:00",
        "2026-11-25T15:57:44.736123+00:0x",
        "2026-11-25T15:57:44.736+01:00",
        "2026-11-25T15:57:44.736-00:00",
        "2026-11-25T15:57:44.736123Z",
        "2026-11-25T15:57:44.736123+00:00",
        "2026-11-25T15:57:44.7360Z",
        "2026-11-25T15:57:44.73Z",
    ],
)
def test_near_misses_of_a_cached_minute_are_judged_like_fromisoformat(text: str) -> None:
    # Given a minute in the cache
    assert parse_iso_ms("2026-11-25T15:57:44.736Z") == _reference_ms("2026-11-25T15:57:44.736Z")

    # When a near miss of the fast form in that minute is parsed / Then it is judged as fromisoformat judges it
    assert _parsed_or_none(text) == _reference_ms(text)


def _reference_prefix(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 48), strict=False))
    v4 = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else address
    assert v4 is not None
    return str(ipaddress.IPv4Network((v4, 24), strict=False))


@given(
    st.ip_addresses(v=4),
    st.text(alphabet="0123456789.:x \u0663", max_size=5),
    st.sampled_from(["last", "append", "prepend"]),
)
def test_an_address_that_shares_a_cached_network_is_judged_like_ipaddress(
    address: ipaddress.IPv4Address, part: str, change: str
) -> None:
    # Given a valid IPv4 address, truncated once so that its network is cached
    valid = str(address)
    assert truncate_ip(valid) == _reference_prefix(valid)
    # And a string made from it: another last octet, or something added before or after
    network = valid.rpartition(".")[0]
    text = {"last": f"{network}.{part}", "append": valid + part, "prepend": part + valid}[change]

    # When it is truncated / Then it gives what ipaddress gives: the same network, or nothing
    assert truncate_ip(text) == _reference_prefix(text), text

"""Client IP truncation: IPv4 /24, IPv6 /48, never the whole address."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurepulse.ingest.privacy import truncate_ip


@pytest.mark.parametrize(
    ("ip", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("10.0.0.0", "10.0.0.0/24"),
        ("255.255.255.255", "255.255.255.0/24"),
        ("2001:db8:85a3:1234:5678:8a2e:370:7334", "2001:db8:85a3::/48"),
        ("::1", "::/48"),
        ("::ffff:198.51.100.23", "198.51.100.0/24"),
        ("fe80::1%eth0", "fe80::/48"),
    ],
)
def test_addresses_keep_only_their_network_prefix(ip: str, prefix: str) -> None:
    # Given an IP address / When it is truncated / Then only the /24 or /48 network remains
    assert truncate_ip(ip) == prefix


@pytest.mark.parametrize(
    "value", ["", "unknown", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.4:80", 17, None]
)
def test_non_addresses_give_no_prefix(value: object) -> None:
    # Given something that is not an IP address / When it is truncated / Then there is no prefix
    assert truncate_ip(value) is None


@given(st.ip_addresses(v=4))
def test_any_ipv4_address_becomes_its_24_network(address: ipaddress.IPv4Address) -> None:
    # Given any IPv4 address / When it is truncated
    prefix = truncate_ip(str(address))

    # Then it is the /24 network containing it, and its last octet is gone
    assert prefix is not None
    network = ipaddress.ip_network(prefix)
    assert network.prefixlen == 24
    assert address in network
    assert prefix != str(address)


@given(st.ip_addresses(v=6))
def test_any_ipv6_address_becomes_a_48_network_or_its_mapped_ipv4_24(address: ipaddress.IPv6Address) -> None:
    # Given any IPv6 address / When it is truncated
    prefix = truncate_ip(str(address))

    # Then it is the /48 containing it (or the /24 of an IPv4-mapped address)
    assert prefix is not None
    network = ipaddress.ip_network(prefix)
    if address.ipv4_mapped is not None:
        assert network.prefixlen == 24
        assert address.ipv4_mapped in network
    else:
        assert network.prefixlen == 48
        assert address in network

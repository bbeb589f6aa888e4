"""Client IP truncation: IPv4 /24, IPv6 /48, never the whole address."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurepulse.ingest.privacy import truncate_ip, without_ip_keys


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
        # 6to4: 2002:cb00:714d::/48 is 203.0.113.77 whole; Teredo hides the client's address in the last bits
        ("2002:cb00:714d::1", "203.0.113.0/24"),
        ("2002:cb00:714d:1234:5678::1", "203.0.113.0/24"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.0/24"),
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


def embedded_ipv4s(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries (mapped, 6to4, both halves of Teredo)."""
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    return [a for a in found if a is not None]


def test_a_6to4_address_cut_to_48_bits_would_still_be_the_whole_ipv4_address() -> None:
    # Given the 6to4 address of 203.0.113.77 / When only its /48 is kept, as for other IPv6 addresses
    cut = ipaddress.IPv6Network(("2002:cb00:714d::1", 48), strict=False)
    # Then the whole IPv4 address is still there: why 6to4 is stored as its IPv4 /24
    assert cut.network_address.sixtofour == ipaddress.IPv4Address("203.0.113.77")


@given(
    st.one_of(
        st.ip_addresses(v=6),
        # 6to4 and Teredo addresses, which plain generation almost never hits
        st.ip_addresses(network="2002::/16"),
        st.ip_addresses(network="2001::/32"),
        st.ip_addresses(network="::ffff:0:0/96"),
    )
)
def test_any_ipv6_address_becomes_a_48_network_or_its_embedded_ipv4_24(address: ipaddress.IPv6Address) -> None:
    # Given any IPv6 address, also 6to4, Teredo and IPv4-mapped ones / When it is truncated
    prefix = truncate_ip(str(address))

    # Then it is the /48 containing it, or the /24 of the client's IPv4 address it carries
    assert prefix is not None
    network = ipaddress.ip_network(prefix)
    client_v4 = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
    if client_v4 is not None:
        assert network.prefixlen == 24
        assert client_v4 in network
    else:
        assert network.prefixlen == 48
        assert address in network
    # And what is stored is no 6to4 or Teredo network that would carry an IPv4 address whole
    assert not (isinstance(network, ipaddress.IPv6Network) and embedded_ipv4s(network.network_address))


@pytest.mark.parametrize("key", ["ip", "IP", "Ip", "iP"])
def test_keys_spelled_ip_in_any_case_are_removed_at_any_depth(key: str) -> None:
    # Given an event with IPs under that key at the top, in a context given as a list, and deep in arrays
    event = {
        key: "203.0.113.77",
        "context": [{key: "198.51.100.23", "locale": "en-US"}],
        "properties": {"a": [[{"b": {key: "2002:cb00:714d::1", "keep": 1}}]]},
        "zip": "unchanged",
    }

    # When the IP keys are removed
    scrubbed = without_ip_keys(event)

    # Then no key spelled ip is left, everything else is, and the event itself is unchanged
    assert scrubbed == {
        "context": [{"locale": "en-US"}],
        "properties": {"a": [[{"b": {"keep": 1}}]]},
        "zip": "unchanged",
    }
    assert event["context"][0][key] == "198.51.100.23"  # type: ignore[index]


def test_a_thousand_levels_of_nesting_are_scrubbed_without_recursion() -> None:
    # Given a value nested 5,000 levels deep (lists and objects), with an IP at the bottom
    deepest: dict[str, object] = {"IP": "203.0.113.77", "x": 1}
    value: object = deepest
    for level in range(5_000):
        value = [value] if level % 2 else {"n": value}

    # When the IP keys are removed
    scrubbed = without_ip_keys(value)

    # Then the bottom has lost its IP and kept the rest
    for level in reversed(range(5_000)):
        scrubbed = scrubbed[0] if level % 2 else scrubbed["n"]  # type: ignore[index]
    assert scrubbed == {"x": 1}


@pytest.mark.parametrize("value", ["203.0.113.77", 17, None, [], {}])
def test_values_without_objects_come_back_as_they_are(value: object) -> None:
    assert without_ip_keys(value) == value

"""The IPv4 network cache of `truncate_ip` decides exactly as `ipaddress` does.

`truncate_ip` caches the networks ("a.b.c") it has checked; a string that shares a cached network but is not a
valid address must still give no prefix, and a valid one must give the prefix `ipaddress` gives.
"""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from featurepulse.ingest.privacy import embedded_ipv4, truncate_ip


def _reference_prefix(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and embedded_ipv4(address) is None:
        return str(ipaddress.IPv6Network((address, 48), strict=False))
    v4 = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else address
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

"""Client IP truncation (docs/design.md section 1, Privacy).

A whole client IP is never stored: the enriched event keeps only its network prefix, IPv4 /24
(`203.0.113.0/24`) and IPv6 /48 (`2001:db8:85a3::/48`); an IPv4-mapped IPv6 address counts as IPv4. `context.ip`
is removed from the stored `context` and from quarantined events. Anything that is not an IP address gives no
prefix at all.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPV4_PREFIX_BITS = 24
IPV6_PREFIX_BITS = 48


def truncate_ip(value: object) -> str | None:
    """The stored network prefix of an IP address, or None when `value` is not one."""
    if type(value) is not str or not value:
        return None
    # IPv4, the common case: the network ("a.b.c") is looked up in a cache of networks already checked, and the
    # last octet by set membership ("0".."255", no leading zeros, as `ipaddress` accepts).
    network, _, last = value.rpartition(".")
    if last in _OCTETS:
        prefix = _ipv4_prefixes.get(network)
        if prefix is not None:
            return prefix
        octets = network.split(".")
        if len(octets) == 3 and all(octet in _OCTETS for octet in octets):
            prefix = f"{network}.0/{IPV4_PREFIX_BITS}"
            if len(_ipv4_prefixes) >= _CACHE_LIMIT:
                _ipv4_prefixes.clear()
            _ipv4_prefixes[network] = prefix
            return prefix
    return _truncate_other(value)


_OCTETS = frozenset(str(i) for i in range(256))
_CACHE_LIMIT = 4096
# "a.b.c" (checked) -> "a.b.c.0/24"
_ipv4_prefixes: dict[str, str] = {}


@lru_cache(maxsize=4096)
def _truncate_other(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is None:
            return str(ipaddress.IPv6Network((address, IPV6_PREFIX_BITS), strict=False))
        address = mapped
    return str(ipaddress.IPv4Network((address, IPV4_PREFIX_BITS), strict=False))

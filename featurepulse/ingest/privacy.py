"""Client IP truncation (docs/design.md section 1, Privacy).

A whole client IP is never stored: the enriched event keeps only its network prefix, IPv4 /24
(`203.0.113.0/24`) and IPv6 /48 (`2001:db8:85a3::/48`). An IPv6 address that carries an IPv4 address counts
as that IPv4 address, because its /48 would keep the whole of it: IPv4-mapped (`::ffff:a.b.c.d`), 6to4
(`2002:AABB:CCDD::/48` is exactly a.b.c.d) and Teredo (`2001:0::/32`, the client's address obfuscated in the
last 32 bits). `context.ip` is removed from the stored `context`; quarantined events lose every key spelled
`ip` in any case, at any depth (`without_ip_keys`). Anything that is not an IP address gives no prefix at all.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

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
    # Only strings that can be an address reach the cache: a client-chosen 32 KB "ip" would otherwise hold its
    # memory there (4,096 entries); the longest IPv6 text, with an IPv4 tail and a short zone, is well under 64.
    return _truncate_other(value) if len(value) <= _MAX_ADDRESS_TEXT else None


_MAX_ADDRESS_TEXT = 64
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
        embedded = embedded_ipv4(address)
        if embedded is None:
            return str(ipaddress.IPv6Network((address, IPV6_PREFIX_BITS), strict=False))
        address = embedded
    return str(ipaddress.IPv4Network((address, IPV4_PREFIX_BITS), strict=False))


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for when its /48 would reveal it (mapped, 6to4, Teredo client)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_ip_key(key: object) -> bool:
    """Whether a JSON key names an IP address: `ip` in any case (`ip`, `IP`, `Ip`, `iP`)."""
    return type(key) is str and len(key) == 2 and key.lower() == "ip"


def without_ip_keys(value: Any) -> Any:
    """A copy of a JSON value without any key spelled `ip` (any case), at any depth, in objects and in arrays.

    Iterative, so that an event nested a thousand levels deep (an invalid event on its way to the quarantine)
    costs no recursion. Values that hold no object or array are returned as they are.
    """
    if type(value) is not dict and type(value) is not list:
        return value
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while pending:
        source, parent, slot = pending.pop()
        if type(source) is dict:
            copy: Any = {}
            for key, item in source.items():
                if is_ip_key(key):
                    continue
                copy[key] = item
                if type(item) is dict or type(item) is list:
                    pending.append((item, copy, key))
        else:
            copy = list(source)
            for position, item in enumerate(copy):
                if type(item) is dict or type(item) is list:
                    pending.append((item, copy, position))
        parent[slot] = copy
    return root[0]

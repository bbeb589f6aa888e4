"""JSON text for any value a request can hold, however deeply nested.

orjson refuses to serialize containers nested deeper than 254 levels, while its parser (and a client) accept
up to 1024. An event that deep is invalid, but it must still be quarantined whole, never dropped: this
falls back to an iterative encoder, which has no recursion limit, only when orjson refuses.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_SERIALIZABLE_DEPTH = 254


class _Token(str):
    """Literal JSON text on the encoder's stack (as opposed to a value still to encode)."""


def dumps_any(value: Any, *, sort_keys: bool = False) -> bytes:
    """`orjson.dumps(value)`, or the same JSON text from the iterative encoder when orjson refuses."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except orjson.JSONEncodeError:
        return _dumps_iterative(value, sort_keys=sort_keys).encode()


def _dumps_iterative(value: Any, *, sort_keys: bool) -> str:
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Token:
            out.append(item)
        elif isinstance(item, dict):
            pairs = sorted(item.items()) if sort_keys else list(item.items())
            pending: list[Any] = [_Token("{")]
            for i, (key, member) in enumerate(pairs):
                prefix = "," if i else ""
                pending.append(_Token(prefix + orjson.dumps(str(key)).decode() + ":"))
                pending.append(member)
            pending.append(_Token("}"))
            stack.extend(reversed(pending))
        elif isinstance(item, list | tuple):
            pending = [_Token("[")]
            for i, member in enumerate(item):
                if i:
                    pending.append(_Token(","))
                pending.append(member)
            pending.append(_Token("]"))
            stack.extend(reversed(pending))
        else:
            out.append(orjson.dumps(item).decode())
    return "".join(out)

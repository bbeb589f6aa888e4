"""Write keys from a request: HTTP Basic (the key as user name, empty password) or `writeKey` in the body.

Anyone can send a write key (browser SDKs put it in public pages), so a key is checked for length before it is
decoded, hashed or looked up: a key longer than `MAX_WRITE_KEY_CHARS` is refused with 401 at once, and a huge
key can cost neither memory in the write-key cache nor a hash of half a megabyte.
"""

from __future__ import annotations

import base64
import binascii

from featurepulse.dal.sources import MAX_WRITE_KEY_CHARS

# Base64 of "<key>:" with a key of MAX_WRITE_KEY_CHARS characters of up to 4 UTF-8 bytes each.
_MAX_BASIC_CREDENTIALS_CHARS = 4 * ((4 * MAX_WRITE_KEY_CHARS + 1 + 2) // 3)


class MalformedAuthorizationError(ValueError):
    """An Authorization header that is not HTTP Basic with a user name."""


class WriteKeyTooLongError(ValueError):
    """A write key longer than `MAX_WRITE_KEY_CHARS` (refused before any lookup)."""


def _too_long() -> WriteKeyTooLongError:
    return WriteKeyTooLongError(f"the write key is longer than {MAX_WRITE_KEY_CHARS} characters")


def check_write_key_length(write_key: str) -> str:
    """`write_key` itself, or WriteKeyTooLongError when it is longer than any write key can be."""
    if len(write_key) > MAX_WRITE_KEY_CHARS:
        raise _too_long()
    return write_key


def basic_auth_user(header: str | None) -> str | None:
    """The user name of an HTTP Basic `Authorization` header (None without a header)."""
    if header is None or not header.strip():
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise MalformedAuthorizationError("the Authorization header must be HTTP Basic with the write key as user")
    credentials = credentials.strip()
    if len(credentials) > _MAX_BASIC_CREDENTIALS_CHARS:
        raise _too_long()
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedAuthorizationError("the Authorization header is not valid base64 of 'writeKey:'") from None
    user, _, _password = decoded.partition(":")
    if not user:
        raise MalformedAuthorizationError("the Authorization header has no user name (the write key)")
    return check_write_key_length(user)

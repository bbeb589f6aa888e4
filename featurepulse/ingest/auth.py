"""Write keys from a request: HTTP Basic (the key as user name, empty password) or `writeKey` in the body."""

from __future__ import annotations

import base64
import binascii


class MalformedAuthorizationError(ValueError):
    """An Authorization header that is not HTTP Basic with a user name."""


def basic_auth_user(header: str | None) -> str | None:
    """The user name of an HTTP Basic `Authorization` header (None without a header)."""
    if header is None or not header.strip():
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise MalformedAuthorizationError("the Authorization header must be HTTP Basic with the write key as user")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedAuthorizationError("the Authorization header is not valid base64 of 'writeKey:'") from None
    user, _, _password = decoded.partition(":")
    if not user:
        raise MalformedAuthorizationError("the Authorization header has no user name (the write key)")
    return user

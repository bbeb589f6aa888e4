"""Write keys from HTTP Basic auth."""

from __future__ import annotations

import base64

import pytest

from featurepulse.dal.sources import MAX_WRITE_KEY_CHARS
from featurepulse.ingest.auth import MalformedAuthorizationError, WriteKeyTooLongError, basic_auth_user


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def test_the_write_key_is_the_basic_auth_user_name() -> None:
    # Given Basic auth with the write key as user and an empty password (what Segment SDKs send)
    # When it is read / Then the user name is the write key, whatever the scheme's case or the password
    assert basic_auth_user(basic("wk_123:")) == "wk_123"
    assert basic_auth_user(basic("wk_123")) == "wk_123"
    assert basic_auth_user("basic " + base64.b64encode(b"wk_123:ignored").decode()) == "wk_123"


def test_no_header_means_no_key() -> None:
    # Given no Authorization header / When it is read / Then there is no key (the body may carry one)
    assert basic_auth_user(None) is None
    assert basic_auth_user("  ") is None


@pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!", basic(":password"), "Basic"])
def test_other_authorization_headers_are_refused(header: str) -> None:
    # Given an Authorization header that is not Basic with a user / When it is read / Then it is refused
    with pytest.raises(MalformedAuthorizationError):
        basic_auth_user(header)


def test_a_header_key_longer_than_the_limit_is_refused_before_it_is_decoded() -> None:
    # Given Basic credentials of a 300 KB key, and of a key one character over the limit
    huge = basic("k" * 300_000 + ":")
    just_over = basic("k" * (MAX_WRITE_KEY_CHARS + 1) + ":")

    # When / Then both are refused as too long; a key of exactly the limit passes
    for header in (huge, just_over):
        with pytest.raises(WriteKeyTooLongError, match=f"longer than {MAX_WRITE_KEY_CHARS}"):
            basic_auth_user(header)
    assert basic_auth_user(basic("k" * MAX_WRITE_KEY_CHARS + ":")) == "k" * MAX_WRITE_KEY_CHARS

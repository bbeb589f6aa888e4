"""The atomic rules of a Segment event's fields, shared by the pydantic models (`segment`) and the fast path
(`enrich`), so that both accept and refuse exactly the same events.

Each `check_*` returns the normalized value or raises `ValueError` with a reason a client developer can act on.
"""

from __future__ import annotations

from typing import Any

from featurepulse.ingest.limits import MAX_ID_CHARS
from featurepulse.ingest.timestamps import InvalidTimestampError, parse_iso_ms


def check_identifier(value: Any, field: str) -> str | None:
    """`userId`, `anonymousId`, `groupId`, `previousId`: a string (or an integer, converted), at most 256
    characters. Null and the empty string mean absent."""
    if value is None or value == "":
        return None
    if type(value) is int:
        text = str(value)
    elif type(value) is str:
        text = value
    else:
        raise ValueError(f"{field} must be a string")
    if len(text) > MAX_ID_CHARS:
        raise ValueError(f"{field} is longer than {MAX_ID_CHARS} characters")
    return text


def check_message_id(value: Any) -> str | None:
    """`messageId`: a string of at most 256 characters; null or empty means absent (the server makes one)."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise ValueError("messageId must be a string")
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"messageId is longer than {MAX_ID_CHARS} characters")
    return value


def check_event_name(value: Any) -> str:
    """`event` of a track call: required, a non-empty string."""
    if type(value) is not str or not value:
        raise ValueError("track needs event: a non-empty string naming what the user did")
    return value


def check_optional_text(value: Any, field: str) -> str | None:
    """`name` and `category` of page and screen calls: a string when present."""
    if value is None or type(value) is str:
        return value
    raise ValueError(f"{field} must be a string")


def check_object(value: Any, field: str) -> dict[str, Any] | None:
    """`properties`, `traits`, `context`, `integrations`: a JSON object when present."""
    if value is None or type(value) is dict:
        return value
    raise ValueError(f"{field} must be a JSON object")


def check_timestamp(value: Any, field: str) -> str | None:
    """`timestamp`, `originalTimestamp`, `sentAt`: an ISO-8601 date-time string when present."""
    if value is None:
        return None
    try:
        parse_iso_ms(value)
    except InvalidTimestampError as exc:
        raise ValueError(f"{field} {exc}") from None
    return str(value)


def text_value(value: Any) -> str | None:
    """A descriptive value read leniently from properties or context: strings and numbers, else nothing."""
    if type(value) is str:
        return value or None
    if type(value) is int or type(value) is float:
        return str(value)
    return None

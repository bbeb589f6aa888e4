"""Event time on integer epoch milliseconds: parsing, the clock-skew rule, and the wire format.

Times are handled as integer milliseconds since the epoch (UTC): exact, cheap to compare and subtract, and the
precision of the wire format (`featurepulse.domain.schema.format_timestamp`: ISO-8601 UTC, milliseconds, `Z`).
Sub-millisecond digits are truncated, as `format_timestamp` truncates them.

Clock-skew rule (the same as Segment's): a client stamps an event with its own clock (`timestamp`) and stamps
the request when it sends it (`sentAt`), with the same, possibly wrong, clock. The difference between the two
is exact whatever the clock's error, so the server places the event that long before it received the request:

    timestamp = receivedAt - (sentAt - timestamp)

Without `sentAt` the client's `timestamp` is kept as sent (server-side imports of historical data); without
`timestamp` (or `originalTimestamp`) the event happened when it was received.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from math import floor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_CACHE_LIMIT = 4096
_fromisoformat = datetime.fromisoformat
# epoch second -> "YYYY-MM-DDTHH:MM:SS."
_second_text: dict[int, str] = {}
_MILLIS_TEXT: tuple[str, ...] = tuple(f"{i:03d}Z" for i in range(1000))
# The fast path of `parse_iso_ms`: "YYYY-MM-DDTHH:MM:" -> epoch ms of that minute (filled from `fromisoformat`),
# "SS" -> ms, "fff" -> ms. Dict lookups both convert and validate: only ASCII digits in range are keys.
_minute_ms: dict[str, int] = {}
_SECOND_MS: dict[str, int] = {f"{i:02d}": i * 1000 for i in range(60)}
_DIGITS3: dict[str, int] = {f"{i:03d}": i for i in range(1000)}
_UTC_OFFSET = "+00:00"


class InvalidTimestampError(ValueError):
    """A time that is not an ISO-8601 date-time string."""


def parse_iso_ms(value: object) -> int:
    """Epoch milliseconds of an ISO-8601 date-time string (no offset means UTC)."""
    if type(value) is not str:
        raise InvalidTimestampError("must be an ISO-8601 date-time string")
    # Fast path for the forms SDKs send, UTC with milli- or microseconds: `YYYY-MM-DDTHH:MM:SS.fff[fff]` then `Z`
    # (JavaScript's toISOString) or `+00:00` (Python, Swift, Kotlin). The minute is parsed once and cached;
    # anything else (and a minute not seen yet) takes `_parse_iso_ms`, which decides and words the reason.
    size = len(value)
    if size == 24:
        utc = value[23] == "Z"
    elif size == 29:
        utc = value[23:] == _UTC_OFFSET
    elif size == 27:
        utc = value[26] == "Z" and value[23:26] in _DIGITS3
    elif size == 32:
        utc = value[26:] == _UTC_OFFSET and value[23:26] in _DIGITS3
    else:
        utc = False
    if utc and value[19] == ".":
        minute = _minute_ms.get(value[:17])
        second = _SECOND_MS.get(value[17:19])
        millis = _DIGITS3.get(value[20:23])
        if minute is not None and second is not None and millis is not None:
            return minute + second + millis
    return _parse_iso_ms(value)


def _parse_iso_ms(value: str) -> int:
    try:
        parsed = _fromisoformat(value)
    except ValueError:
        raise InvalidTimestampError(f"{value[:40]!r} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if 1900 < parsed.year < 2200:
        # Fast and exact here: fewer than 2**53 microseconds from the epoch, so the float seconds of
        # `timestamp()` floor to the right second.
        epoch_ms = floor(parsed.timestamp()) * 1000 + parsed.microsecond // 1000
    else:
        try:
            epoch_ms = (parsed - _EPOCH) // _ONE_MS
        except OverflowError:
            raise InvalidTimestampError(f"{value[:40]!r} is out of range") from None
    _remember_minute(value, parsed, epoch_ms)
    return epoch_ms


def _remember_minute(value: str, parsed: datetime, epoch_ms: int) -> None:
    """Cache the minute of a time in the fast path's form, once `fromisoformat` has accepted the whole string."""
    if (
        parsed.utcoffset()
        or len(value) not in (24, 27, 29, 32)
        or value[4] != "-"
        or value[7] != "-"
        or value[10] != "T"
        or value[13] != ":"
        or value[16] != ":"
        or value[19] != "."
    ):
        return
    if len(_minute_ms) >= _CACHE_LIMIT:
        _minute_ms.clear()
    _minute_ms[value[:17]] = epoch_ms - parsed.second * 1000 - parsed.microsecond // 1000


def format_ms(epoch_ms: int) -> str:
    """The wire format of an epoch-ms time: `YYYY-MM-DDTHH:MM:SS.mmmZ` (equal to `format_timestamp`)."""
    second, millis = divmod(epoch_ms, 1000)
    prefix = _second_text.get(second)
    if prefix is None:
        prefix = (_EPOCH + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S.")
        if len(_second_text) >= _CACHE_LIMIT:
            _second_text.clear()
        _second_text[second] = prefix
    return prefix + _MILLIS_TEXT[millis]


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive means UTC), sub-milliseconds truncated."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _ONE_MS


def from_ms(epoch_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=epoch_ms)


def corrected_timestamp_ms(*, timestamp_ms: int | None, sent_at_ms: int | None, received_at_ms: int) -> int:
    """The event time after clock-skew correction (the rule in this module's docstring)."""
    if timestamp_ms is None:
        return received_at_ms
    if sent_at_ms is None:
        return timestamp_ms
    return received_at_ms - (sent_at_ms - timestamp_ms)

"""Event time on integer epoch milliseconds: parsing, the clock-skew rule, and the wire format.

Times are handled as integer milliseconds since the epoch (UTC): exact, cheap to compare and subtract, and the
precision of the wire format (`featurepulse.domain.schema.format_timestamp`: ISO-8601 UTC, milliseconds, `Z`).
Sub-millisecond digits are truncated, as `format_timestamp` truncates them.

Range: a time is accepted only when it is representable in UTC with a four-digit year, from
`0001-01-01T00:00:00.000Z` to `9999-12-31T23:59:59.999Z` (`MIN_TIME_MS`..`MAX_TIME_MS`). An ISO text such as
`9999-12-31T23:59:59-14:00` parses in Python but is year 10000 in UTC: it is refused with a reason
(`InvalidTimestampError`, a `ValueError`), never an `OverflowError`. Years are always written with four digits
(`0999-01-01T...`): `strftime("%Y")` writes `999` on Linux, which the lake's format conversion refuses.

Clock-skew rule (the same as Segment's): a client stamps an event with its own clock (`timestamp`) and stamps
the request when it sends it (`sentAt`), with the same, possibly wrong, clock. The difference between the two
is exact whatever the clock's error, so the server places the event that long before it received the request:

    timestamp = receivedAt - (sentAt - timestamp)

Without `sentAt` the client's `timestamp` is kept as sent (server-side imports of historical data); without
`timestamp` (or `originalTimestamp`) the event happened when it was received.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_ONE_MS = timedelta(milliseconds=1)
_CACHE_LIMIT = 4096
_fromisoformat = datetime.fromisoformat
# epoch second -> "YYYY-MM-DDTHH:MM:SS."
_second_text: dict[int, str] = {}
_MILLIS_TEXT: tuple[str, ...] = tuple(f"{i:03d}Z" for i in range(1000))


class InvalidTimestampError(ValueError):
    """A time that is not an ISO-8601 date-time string, or one outside `MIN_TIME_MS`..`MAX_TIME_MS`."""


MIN_TIME_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS
MAX_TIME_MS = (datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC) - _EPOCH) // _ONE_MS


def parse_iso_ms(value: object) -> int:
    """Epoch milliseconds of an ISO-8601 date-time string (no offset means UTC)."""
    if type(value) is not str:
        raise InvalidTimestampError("must be an ISO-8601 date-time string")
    try:
        parsed = _fromisoformat(value)
    except ValueError:
        raise InvalidTimestampError(f"{value[:40]!r} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        # Exact integer arithmetic, and faster than `timestamp()` with its float and `floor`.
        epoch_ms = (parsed - _EPOCH) // _ONE_MS
    except OverflowError:
        epoch_ms = MAX_TIME_MS + 1
    if MIN_TIME_MS <= epoch_ms <= MAX_TIME_MS:
        return epoch_ms
    raise InvalidTimestampError(f"{value[:40]!r} is out of range: UTC years 0001 to 9999")


def format_ms(epoch_ms: int) -> str:
    """The wire format of an epoch-ms time: `YYYY-MM-DDTHH:MM:SS.mmmZ` (equal to `format_timestamp` from year
    1000 on; a four-digit year before). Raises `InvalidTimestampError` outside `MIN_TIME_MS`..`MAX_TIME_MS`."""
    second, millis = divmod(epoch_ms, 1000)
    prefix = _second_text.get(second)
    if prefix is None:
        if not MIN_TIME_MS <= epoch_ms <= MAX_TIME_MS:
            raise InvalidTimestampError(f"{epoch_ms} ms is out of range: UTC years 0001 to 9999")
        # isoformat pads the year to four digits (strftime's %Y does not on Linux).
        prefix = (_NAIVE_EPOCH + timedelta(seconds=second)).isoformat(timespec="seconds") + "."
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

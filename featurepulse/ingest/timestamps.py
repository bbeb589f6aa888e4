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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_CACHE_LIMIT = 4096
_fromisoformat = datetime.fromisoformat
# epoch second -> "YYYY-MM-DDTHH:MM:SS."
_second_text: dict[int, str] = {}
_MILLIS_TEXT: tuple[str, ...] = tuple(f"{i:03d}Z" for i in range(1000))


class InvalidTimestampError(ValueError):
    """A time that is not an ISO-8601 date-time string."""


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
        return (parsed - _EPOCH) // _ONE_MS
    except OverflowError:
        raise InvalidTimestampError(f"{value[:40]!r} is out of range") from None


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

"""Event-time window arithmetic: which window an event belongs to and when it becomes too late.

These are the rules Flink's group-window operator applies (tumbling windows aligned on the epoch in UTC,
`window.maxTimestamp() + allowedLateness <= watermark` means late); the job computes them per event in
Python so that the late-event filter in front of the windows and the windows themselves agree exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from featurepulse.realtime.settings import DAY_MS, MINUTE_MS


def window_start_ms(event_time_ms: int, size_ms: int) -> int:
    """Start of the tumbling window of `size_ms` holding `event_time_ms` (epoch-aligned, UTC)."""
    return event_time_ms - event_time_ms % size_ms


def minute_start_ms(event_time_ms: int) -> int:
    return window_start_ms(event_time_ms, MINUTE_MS)


def day_start_ms(event_time_ms: int) -> int:
    return window_start_ms(event_time_ms, DAY_MS)


def late_after_ms(event_time_ms: int, allowed_lateness_ms: int) -> int:
    """The watermark at and beyond which the event's minute window is closed for good.

    Flink drops an element when `window.maxTimestamp() + allowedLateness <= currentWatermark`, where
    maxTimestamp is the window end minus 1 ms. The minute window closes first (the day window holding
    it closes at the same time or later), so an event judged on time here is accepted by every window.
    """
    return minute_start_ms(event_time_ms) + MINUTE_MS - 1 + allowed_lateness_ms


def is_late(event_time_ms: int, watermark_ms: int | None, allowed_lateness_ms: int) -> bool:
    """Late beyond the allowed lateness: counted in the late-events metric, not in any window."""
    return watermark_ms is not None and late_after_ms(event_time_ms, allowed_lateness_ms) <= watermark_ms


def format_minute(start_ms: int) -> str:
    """`2025-03-01T09:41` (UTC): the minute part of sort keys."""
    return _utc(start_ms).strftime("%Y-%m-%dT%H:%M")


def format_day(start_ms: int) -> str:
    """`2025-03-01` (UTC)."""
    return _utc(start_ms).strftime("%Y-%m-%d")


def format_instant(epoch_ms: int) -> str:
    """ISO-8601 UTC with milliseconds and Z: the wire format of every time (schema.format_timestamp)."""
    t = _utc(epoch_ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_instant_ms(value: str) -> int:
    """Epoch milliseconds of an ISO-8601 time (`...Z` or with an offset; naive means UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _utc(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)

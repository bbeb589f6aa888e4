"""Window arithmetic and the settings of the real-time job."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurepulse.realtime.settings import RealtimeSettings, RealtimeSettingsError
from featurepulse.realtime.windows import (
    day_start_ms,
    format_day,
    format_instant,
    format_minute,
    is_late,
    late_after_ms,
    minute_start_ms,
    parse_instant_ms,
)

T = parse_instant_ms("2025-03-01T09:00:30.250Z")


def test_event_falls_in_its_utc_minute_and_day():
    assert format_minute(minute_start_ms(T)) == "2025-03-01T09:00"
    assert format_day(day_start_ms(T)) == "2025-03-01"
    assert format_instant(minute_start_ms(T)) == "2025-03-01T09:00:00.000Z"


def test_parse_instant_accepts_offsets_and_naive_utc():
    assert parse_instant_ms("2025-03-01T10:00:30.250+01:00") == T
    assert parse_instant_ms("2025-03-01T09:00:30.250") == T


def test_event_becomes_late_when_watermark_reaches_window_end_plus_lateness():
    # Given the 09:00 window (maxTimestamp 09:00:59.999) and 300 s of allowed lateness
    deadline = parse_instant_ms("2025-03-01T09:05:59.999Z")
    assert late_after_ms(T, 300_000) == deadline
    # Then Flink's rule holds: late exactly when maxTimestamp + lateness <= watermark
    assert not is_late(T, deadline - 1, 300_000)
    assert is_late(T, deadline, 300_000)
    assert not is_late(T, None, 300_000)  # no watermark yet: nothing is late


@given(st.integers(0, 4_102_444_800_000), st.integers(0, 3_600_000))
def test_late_deadline_is_never_before_the_event(t, lateness):
    assert late_after_ms(t, lateness) >= t + lateness
    assert minute_start_ms(t) <= t < minute_start_ms(t) + 60_000
    assert day_start_ms(t) <= minute_start_ms(t)


@given(st.integers(0, 4_102_444_800_000))
def test_instant_round_trips(t):
    assert parse_instant_ms(format_instant(t)) == t


def test_settings_parse_from_runtime_properties_and_round_trip():
    s = RealtimeSettings.from_properties({"allowed.lateness.s": "120", "early.fire.delay.ms": " 500 ", "other": "x"})
    assert (s.allowed_lateness_s, s.early_fire_delay_ms, s.allowed_lateness_ms) == (120, 500, 120_000)
    assert RealtimeSettings.from_properties(s.to_properties()) == s


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"allowed.lateness.s": "five"}, "allowed.lateness.s must be an integer"),
        ({"allowed.lateness.s": "-1"}, "allowed.lateness.s must be a non-negative integer"),
        ({"early.fire.delay.ms": "10"}, "early.fire.delay.ms must be at least 100"),
        ({"dedup.retention.s": "100"}, "dedup.retention.s must exceed"),
        ({"minute.ttl.s": "60"}, "minute.ttl.s must be >= 3600"),
    ],
)
def test_invalid_settings_are_refused_with_the_property_named(properties, message):
    with pytest.raises(RealtimeSettingsError, match=message):
        RealtimeSettings.from_properties(properties)

"""Report periods: days, ISO weeks, the previous period and what a scheduled run reports."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from featurepulse.reporting.periods import LOOKBACK_DAYS, Period

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))


def test_a_week_is_the_iso_week_monday_to_sunday() -> None:
    week = Period.containing("week", date(2026, 3, 12))  # a Thursday
    assert (week.start, week.end) == (date(2026, 3, 9), date(2026, 3, 15))
    assert week.key == "week-2026-W11"


def test_a_weekly_run_on_monday_reports_the_week_that_just_ended() -> None:
    period = Period.last_complete("week", date(2026, 3, 16))
    assert (period.start, period.end) == (date(2026, 3, 9), date(2026, 3, 15))


def test_a_daily_run_reports_yesterday() -> None:
    assert Period.last_complete("day", date(2026, 3, 1)) == Period("day", date(2026, 2, 28), date(2026, 2, 28))


def test_the_week_key_uses_the_iso_year_across_new_year() -> None:
    assert Period.containing("week", date(2027, 1, 1)).key == "week-2026-W53"


@given(days, st.sampled_from(["day", "week"]))
def test_the_previous_period_has_the_same_length_and_ends_the_day_before(day: date, kind: str) -> None:
    period = Period.containing(kind, day)  # type: ignore[arg-type]
    previous = period.previous()
    assert previous.days == period.days == (1 if kind == "day" else 7)
    assert previous.end == period.start - timedelta(days=1)
    assert period.start <= day <= period.end


@given(days, st.sampled_from(["day", "week"]))
def test_query_parameters_cover_the_period_and_the_lookback(day: date, kind: str) -> None:
    period = Period.containing(kind, day)  # type: ignore[arg-type]
    params = period.query_parameters(100)
    assert params["start_date"] == period.start and params["end_date"] == period.end
    assert params["lookback_start_date"] == period.start - timedelta(days=LOOKBACK_DAYS)
    assert params["min_exposed_per_variant"] == 100

"""Event time: ISO-8601 parsing, the clock-skew rule, and the wire format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurepulse.domain.schema import format_timestamp, parse_timestamp
from featurepulse.ingest.timestamps import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    InvalidTimestampError,
    corrected_timestamp_ms,
    format_ms,
    from_ms,
    parse_iso_ms,
    to_ms,
)

aware_datetimes = st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC))
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(aware_datetimes, offsets, st.sampled_from(["milliseconds", "microseconds", "seconds", "auto"]))
def test_parsing_any_iso_form_gives_the_exact_millisecond(value: datetime, offset: timezone, spec: str) -> None:
    # Given a time written in any ISO-8601 form and offset
    text = value.astimezone(offset).isoformat(timespec=spec)

    # When it is parsed / Then it is the exact epoch millisecond (sub-milliseconds truncated)
    expected = datetime.fromisoformat(text)
    assert parse_iso_ms(text) == (expected - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@given(aware_datetimes)
def test_the_z_form_parses_like_the_offset_form(value: datetime) -> None:
    # Given a UTC time written with Z and with +00:00 / When both are parsed / Then they agree
    text = value.isoformat(timespec="milliseconds")
    assert parse_iso_ms(text.replace("+00:00", "Z")) == parse_iso_ms(text)


@given(st.integers(min_value=to_ms(datetime(1970, 1, 1)), max_value=to_ms(datetime(9998, 1, 1))))
def test_format_ms_is_the_wire_format_and_round_trips(epoch_ms: int) -> None:
    # Given any epoch millisecond / When it is formatted
    text = format_ms(epoch_ms)

    # Then it equals the schema's wire format and parses back to itself
    assert text == format_timestamp(from_ms(epoch_ms))
    assert parse_iso_ms(text) == epoch_ms
    assert to_ms(parse_timestamp(text)) == epoch_ms


def test_a_naive_time_is_utc() -> None:
    # Given a time without offset / When it is parsed / Then it is taken as UTC
    assert parse_iso_ms("2026-11-25T12:00:00") == parse_iso_ms("2026-11-25T12:00:00Z")


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-25T25:00:00Z", "12:00", 17, None])
def test_non_iso_values_are_refused(value: object) -> None:
    # Given something that is not an ISO-8601 date-time string / When it is parsed / Then it is refused
    with pytest.raises(InvalidTimestampError):
        parse_iso_ms(value)


@given(
    st.integers(min_value=0, max_value=10**13),
    st.integers(min_value=-(10**11), max_value=10**11),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=10**13),
)
def test_the_skew_rule_keeps_the_delay_between_event_and_send(
    true_time: int, clock_error: int, delay: int, transit: int
) -> None:
    # Given a device clock off by clock_error that stamps an event, then sends it `delay` ms later
    timestamp = true_time + clock_error
    sent_at = true_time + delay + clock_error
    received_at = true_time + delay + transit

    # When the time is corrected
    corrected = corrected_timestamp_ms(timestamp_ms=timestamp, sent_at_ms=sent_at, received_at_ms=received_at)

    # Then the clock error is gone: the event is `delay` before receipt (network transit counts as delay)
    assert corrected == true_time + transit
    assert received_at - corrected == delay


def test_without_sent_at_the_timestamp_is_kept_and_without_timestamp_it_is_the_receive_time() -> None:
    # Given missing sentAt or missing timestamp / When corrected / Then the rule's fallbacks apply
    assert corrected_timestamp_ms(timestamp_ms=5, sent_at_ms=None, received_at_ms=9) == 5
    assert corrected_timestamp_ms(timestamp_ms=None, sent_at_ms=7, received_at_ms=9) == 9


@given(st.integers(min_value=MIN_TIME_MS, max_value=MAX_TIME_MS))
def test_every_representable_time_is_written_with_a_four_digit_year_and_round_trips(epoch_ms: int) -> None:
    # Given any time from year 0001 to 9999 / When it is formatted
    text = format_ms(epoch_ms)

    # Then the year has four digits (0999, not 999), the text has the fixed width, and it parses back
    assert len(text) == len("2026-11-25T12:00:00.000Z")
    assert text[4] == "-" and text[:4].isdigit()
    assert parse_iso_ms(text) == epoch_ms


def test_a_time_before_year_1000_is_zero_padded() -> None:
    # Given a time in year 999 / When it is parsed and formatted / Then the year is 0999
    assert format_ms(parse_iso_ms("0999-03-04T05:06:07.089Z")) == "0999-03-04T05:06:07.089Z"


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_outside_utc_years_1_to_9999_is_refused_with_a_reason(text: str) -> None:
    # Given an ISO text Python parses, whose UTC time is in year 10000 or year 0
    # When it is parsed / Then it is refused as out of range (a ValueError with a reason, not an OverflowError)
    with pytest.raises(InvalidTimestampError, match="out of range: UTC years 0001 to 9999"):
        parse_iso_ms(text)


@pytest.mark.parametrize("epoch_ms", [MIN_TIME_MS - 1, MAX_TIME_MS + 1, -(10**18), 10**18])
def test_formatting_a_time_out_of_range_is_refused_with_a_reason(epoch_ms: int) -> None:
    # Given an epoch ms outside the representable range (a clock-skew correction can compute one)
    # When it is formatted / Then it is refused with InvalidTimestampError, never an OverflowError
    with pytest.raises(InvalidTimestampError, match="out of range"):
        format_ms(epoch_ms)


def test_an_event_sent_with_a_year_before_1000_passes_the_lakes_format_conversion() -> None:
    # Given an event whose device clock says year 999, through the ingest path
    import orjson

    from featurepulse.domain.stages import DEFAULT_STAGE_MAP
    from featurepulse.ingest.enrich import EnrichmentConfig
    from featurepulse.ingest.request import BATCH, parse_request, prepare_events
    from featurepulse.lake.parquet import rows_to_table

    event = {"type": "track", "event": "e", "userId": "u", "sentAt": "0999-03-04T05:06:07.000Z"}
    prepared = prepare_events(
        parse_request(orjson.dumps({"batch": [event]}), BATCH),
        source_id="s",
        request_id="r",
        received_at_ms=parse_iso_ms("2026-11-25T12:00:01.500Z"),
        config=EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP),
    )
    rows = [orjson.loads(line) for record in prepared.records for line in record.data.splitlines()]

    # When the stored event goes through the lake's format conversion (the Firehose stand-in)
    converted = rows_to_table(rows)

    # Then it is accepted, not refused for its year (the event would be missing from reports)
    assert converted.rejected == []
    assert converted.table.column("sent_at").to_pylist() == [datetime(999, 3, 4, 5, 6, 7)]

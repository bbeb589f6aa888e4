"""Key design of the aggregates table: deterministic, injective, one prefix per slice, TTL set."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from featurepulse.realtime import items, metrics
from featurepulse.realtime.settings import RealtimeSettings
from featurepulse.realtime.windows import parse_instant_ms

SETTINGS = RealtimeSettings()
MINUTE = parse_instant_ms("2025-03-01T09:41:00Z")
DAY = parse_instant_ms("2025-03-01T00:00:00Z")
ZERO = dict.fromkeys(metrics.COUNTER_NAMES, 0)


def _item(granularity, dimension, start, a="", b="", *, feature="checkout"):
    return items.build_item(
        granularity=granularity,
        dimension=dimension,
        feature=feature,
        value_a=a,
        value_b=b,
        window_start_ms=start,
        counters=ZERO,
        duration_histogram=[0] * len(metrics.HISTOGRAM),
        settings=SETTINGS,
    )


def test_keys_of_each_slice():
    assert (items.PK, items.SK) == ("pk", "sk")
    cases = {
        ("minute", "feature", MINUTE, "", ""): ("F#checkout", "M#2025-03-01T09:41"),
        ("minute", "campaign", MINUTE, "spring", ""): ("F#checkout", "MC#2025-03-01T09:41#spring"),
        ("day", "variant", DAY, "exp#1", "B"): ("F#checkout", "DV#2025-03-01#exp%231#B"),
        ("day", "app", DAY, "", ""): ("APP", "D#2025-03-01"),
    }
    for (g, d, start, a, b), key in cases.items():
        item = _item(g, d, start, a, b)
        assert (item["pk"], item["sk"]) == key


def test_every_item_has_every_column_and_a_ttl_after_its_window():
    minute = _item("minute", "feature", MINUTE)
    day = _item("day", "feature", DAY)
    late = items.build_late_item(day_start_ms=DAY, late_events=3, settings=SETTINGS)
    for item in (minute, day, late, items.directory_item(day)):
        assert tuple(item) == items.ITEM_COLUMN_NAMES
    assert minute["expires_at"] == (MINUTE + 60_000) // 1000 + SETTINGS.minute_ttl_s
    assert day["expires_at"] == (DAY + 86_400_000) // 1000 + SETTINGS.day_ttl_s
    assert (late["sk"], late["late_events"], late["views"]) == ("L#2025-03-01", 3, 0)


def test_items_are_none_only_where_no_value_is_true():
    # Given a minute with durations, a day without any, and a late-events row
    with_durations = [0] * len(metrics.HISTOGRAM)
    with_durations[3] = 2
    minute = items.build_item(
        granularity="minute",
        dimension="feature",
        feature="checkout",
        value_a="",
        value_b="",
        window_start_ms=MINUTE,
        counters=ZERO,
        duration_histogram=with_durations,
        settings=SETTINGS,
    )
    day = _item("day", "feature", DAY)
    late = items.build_late_item(day_start_ms=DAY, late_events=3, settings=SETTINGS)
    # Then only `late_events` of aggregate rows and the percentiles of a window without durations are None
    # (the DynamoDB sink leaves None out of the item: sink.ignore-nulls)
    assert [k for k, v in minute.items() if v is None] == ["late_events"]
    assert [k for k, v in day.items() if v is None] == ["duration_p50_ms", "duration_p95_ms", "late_events"]
    assert [k for k, v in late.items() if v is None] == ["duration_p50_ms", "duration_p95_ms"]


def test_minute_range_returns_only_overall_minute_rows():
    # Given rows of every slice in the same hour
    low, high = items.minute_range(MINUTE - 3_600_000, MINUTE)
    others = [
        _item("minute", "campaign", MINUTE, "a")["sk"],
        _item("minute", "variant", MINUTE, "e", "v")["sk"],
        _item("day", "feature", DAY)["sk"],
        _item("day", "campaign", DAY, "a")["sk"],
        items.directory_item(_item("day", "feature", DAY))["sk"],
    ]
    # Then the range of the "last 60 minutes" read contains the overall minute row and none of the others
    assert low <= _item("minute", "feature", MINUTE)["sk"] <= high
    assert not [sk for sk in others if low <= sk <= high]


def test_day_prefixes_do_not_overlap():
    campaign = _item("day", "campaign", DAY, "spring")["sk"]
    variant = _item("day", "variant", DAY, "e", "v")["sk"]
    assert campaign.startswith(items.campaign_day_prefix(DAY))
    assert variant.startswith(items.variant_day_prefix(DAY))
    assert not campaign.startswith(items.variant_day_prefix(DAY))
    assert not items.day_sort_key(DAY).startswith(items.directory_day_prefix(DAY))


@given(st.text(max_size=8), st.text(max_size=8), st.text(max_size=8), st.text(max_size=8))
def test_escaped_key_parts_never_collide(a1, b1, a2, b2):
    k1 = items.sort_key("day", "variant", DAY, a1, b1)
    k2 = items.sort_key("day", "variant", DAY, a2, b2)
    assert (k1 == k2) == ((a1, b1) == (a2, b2))
    assert items.unescape_key_part(items.escape_key_part(a1)) == a1


def _final(dimension, a="", b=""):
    return items.build_final_day_item(
        dimension=dimension,
        feature="checkout",
        value_a=a,
        value_b=b,
        day_start_ms=DAY,
        counters=ZERO,
        duration_p50_ms=None,
        duration_p95_ms=None,
        settings=SETTINGS,
    )


def test_final_day_rows_have_their_own_keys_the_job_never_writes():
    # Given the live and the final rows of every day slice, and the live minute rows
    live = [_item("day", d, DAY, "a", "b")["sk"] for d in ("feature", "campaign", "variant", "app")]
    live += [_item("minute", d, MINUTE, "a", "b")["sk"] for d in ("feature", "campaign", "variant", "app")]
    live += [items.directory_item(_item("day", "feature", DAY))["sk"], items.late_sort_key(DAY)]
    final = [_final(d, "a", "b") for d in ("feature", "campaign", "variant", "app")]
    final_keys = [f["sk"] for f in final] + [items.directory_item(final[0])["sk"]]
    # Then no final key equals or begins like a live key or prefix, and the reverse
    live_prefixes = [items.day_sort_key(DAY), items.campaign_day_prefix(DAY), items.variant_day_prefix(DAY)]
    live_prefixes += [items.directory_day_prefix(DAY), "M#", "MC#", "MV#", "L#"]
    assert not set(final_keys) & set(live)
    assert not [k for k in final_keys for p in live_prefixes if k.startswith(p)]
    assert not [k for k in live for f in final_keys if k.startswith(f)]
    # And they say where they come from, with every column
    assert final_keys == [
        "FD#2025-03-01",
        "FDC#2025-03-01#a",
        "FDV#2025-03-01#a#b",
        "FD#2025-03-01",
        "FDF#2025-03-01#checkout",
    ]
    for f in final:
        assert (f["kind"], f["source"], tuple(f)) == (items.KIND_FINAL_DAY, items.SOURCE_BATCH, items.ITEM_COLUMN_NAMES)
    assert items.directory_item(final[0])["kind"] == items.KIND_FINAL_DIRECTORY
    assert _item("day", "feature", DAY)["source"] == items.SOURCE_STREAM

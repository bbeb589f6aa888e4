"""The job's semantics on the fixed scenario, against numbers worked out by hand, and its invariances."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.realtime import histogram
from featurepulse.realtime.events import STAGES, EngagementEvent
from featurepulse.realtime.model import ReferenceAggregation, reference_items
from featurepulse.realtime.settings import RealtimeSettings
from tests import realtime_scenario

DAY = "2025-03-01"
COUNTERS = ("events", "views", "uses", "completions", "dismissals", "persons")


def _scenario_items():
    return reference_items(realtime_scenario.phases(), realtime_scenario.settings())


def _counts(item, names=COUNTERS):
    return tuple(item[n] for n in names)


def test_minute_row_counts_on_time_events_once_and_takes_late_events_within_lateness():
    # Given the scenario: e01 (sent twice), e02 (replayed), e03, e07 (out of order) and e09 (late, within)
    # When the model aggregates it
    items = _scenario_items()
    row = items[("F#checkout", f"M#{DAY}T09:00")]
    # Then 09:00 of checkout holds each of those five events once
    assert _counts(row) == (5, 2, 1, 1, 1, 4)  # events, views, uses, completions, dismissals, persons (u1 u2 u3 u5)
    assert (row["persons_view"], row["persons_use"], row["persons_complete"], row["persons_dismiss"]) == (2, 1, 1, 1)
    assert row["adopters"] == 2  # u1 used, u3 completed
    assert (row["duration_count"], row["duration_sum_ms"]) == (2, 6200)
    assert row["duration_p50_ms"] == histogram.representative_ms(histogram.bucket_of(1200))
    assert row["duration_p95_ms"] == histogram.representative_ms(histogram.bucket_of(5000))


def test_event_late_beyond_lateness_is_in_no_window_and_counted_once_as_late():
    # Given e11 (09:01:20) arriving when the watermark is 09:09:55, twice
    items = _scenario_items()
    # Then the 09:01 row of checkout has only e06, and the day's late counter is 1
    assert _counts(items[("F#checkout", f"M#{DAY}T09:01")]) == (1, 0, 1, 0, 0, 1)
    assert items[("APP", f"L#{DAY}")]["late_events"] == 1
    assert items[("APP", f"L#{DAY}")]["events"] == 0  # the late-events row counts no engagement


def test_empty_minute_has_no_row():
    # Given no event of checkout in 09:02
    items = _scenario_items()
    # Then there is no row (panels read a missing minute as zero)
    assert ("F#checkout", f"M#{DAY}T09:02") not in items
    assert _counts(items[("F#checkout", f"M#{DAY}T09:03")]) == (1, 1, 0, 0, 0, 1)


def test_two_features_are_counted_apart():
    items = _scenario_items()
    assert _counts(items[("F#search", f"M#{DAY}T09:00")]) == (1, 1, 0, 0, 0, 1)
    assert _counts(items[("F#search", f"M#{DAY}T09:09")]) == (1, 1, 0, 0, 0, 1)
    assert _counts(items[("F#search", f"M#{DAY}T09:10")]) == (1, 0, 1, 0, 0, 1)
    assert _counts(items[("F#search", f"D#{DAY}")]) == (3, 2, 1, 0, 0, 3)


def test_day_funnel_distinct_persons_per_stage_and_adopters():
    items = _scenario_items()
    day = items[("F#checkout", f"D#{DAY}")]
    # e01 e02 e03 e06 e07 e08 e09: persons u1..u5; viewers u1 u2 u4; users u1 u2; completer u3; dismisser u5
    assert _counts(day) == (7, 3, 2, 1, 1, 5)
    assert (day["persons_view"], day["persons_use"], day["persons_complete"], day["persons_dismiss"]) == (3, 2, 1, 1)
    assert day["adopters"] == 3  # used or completed: u1 u2 u3
    assert (day["duration_count"], day["duration_sum_ms"]) == (3, 7000)


def test_active_persons_include_every_event_type_and_adoption_reads_from_directory_rows():
    items = _scenario_items()
    app_day = items[("APP", f"D#{DAY}")]
    # 15 accepted events; persons u1..u6, the anonymous a1 of the page view, and p (dev-p, u7, u7-new)
    assert (app_day["events"], app_day["persons"]) == (15, 8)
    directory = items[("APP", f"DF#{DAY}#checkout")]
    assert directory["kind"] == "feature_day"
    assert directory["adopters"] / app_day["persons"] == 3 / 8


def test_anonymous_visitor_who_signs_in_and_is_renamed_counts_as_one_person():
    # Given dev-p views profile anonymously, signs in as u7 (link), completes signed out, then u7 -> u7-new (alias)
    items = _scenario_items()
    day = items[("F#profile", f"D#{DAY}")]
    # Then the feature counts one person at every stage (the link is seen before the later events)
    assert _counts(day) == (3, 1, 1, 1, 0, 1)
    assert (day["persons_view"], day["persons_use"], day["persons_complete"], day["adopters"]) == (1, 1, 1, 1)


def test_campaign_and_variant_rows():
    items = _scenario_items()
    spring = items[("F#checkout", f"DC#{DAY}#spring")]
    assert _counts(spring) == (3, 2, 1, 0, 0, 2)  # e01 e02 e08; u1 u4
    assert spring["dimensions"] == {"campaign": "spring"}
    a = items[("F#checkout", f"DV#{DAY}#exp-1#A")]
    b = items[("F#checkout", f"DV#{DAY}#exp-1#B")]
    assert _counts(a) == (2, 1, 1, 0, 0, 1)
    assert _counts(b) == (2, 1, 1, 0, 0, 1)
    assert b["dimensions"] == {"experiment_id": "exp-1", "variation_id": "B"}
    assert ("F#checkout", f"MC#{DAY}T09:03#spring") in items


def test_replaying_the_whole_input_changes_nothing():
    # Given the scenario aggregated once
    model = ReferenceAggregation(realtime_scenario.settings())
    for phase in realtime_scenario.phases():
        model.add_batch(phase)
    before = model.items()
    # When every phase is delivered again (a replay from the stream's start)
    for phase in realtime_scenario.phases():
        model.add_batch(phase)
    # Then every item is identical
    assert model.items() == before


def test_two_sources_sending_the_same_message_id_are_both_counted_and_each_resend_once():
    # Given two sources that both send messageId order-1001 (ids are the client's, unique only per source),
    # each resending its event once
    t = 1_740_819_600_000  # 2025-03-01T09:00:00Z
    web = EngagementEvent(
        event_id="order-1001", event_time_ms=t, source_id="src-web", user_id="u1", feature="checkout", stage="use"
    )
    ios = EngagementEvent(
        event_id="order-1001",
        event_time_ms=t + 1000,
        source_id="src-ios",
        user_id="u2",
        feature="checkout",
        stage="complete",
    )
    # When the model aggregates them
    items = reference_items([[web, ios], [web, ios]], RealtimeSettings(allowed_lateness_s=300, out_of_orderness_s=5))
    # Then both events count, once each
    row = items[("F#checkout", f"M#{DAY}T09:00")]
    assert _counts(row) == (2, 0, 1, 1, 0, 2)


# --- invariances --------------------------------------------------------------------------------

_SETTINGS = RealtimeSettings(allowed_lateness_s=300, out_of_orderness_s=5)
_T0 = 1_740_819_600_000  # 2025-03-01T09:00:00Z

_events = st.builds(
    EngagementEvent,
    event_id=st.text("abcdef", min_size=1, max_size=3),
    source_id=st.sampled_from(["src-web", "src-ios"]),
    # Within 290 s of each other: no order can make one late (the span is below lateness + out-of-orderness).
    event_time_ms=st.integers(_T0, _T0 + 290_000),
    # One id per event: no identity link, so persons do not depend on arrival order (links do: see
    # tests/unit/test_realtime_persons.py).
    user_id=st.sampled_from(["u1", "u2", "u3", None]),
    feature=st.sampled_from(["checkout", "search", None]),
    stage=st.sampled_from([*STAGES, None]),
    campaign=st.sampled_from(["spring", None]),
    experiment_id=st.sampled_from(["exp-1", None]),
    variation_id=st.sampled_from(["A", "B", None]),
    duration_ms=st.one_of(st.none(), st.integers(0, 10**7)),
)


def _unique_by_id(events):
    seen = {}
    for e in events:
        seen.setdefault((e.source_id, e.event_id), e)
    return list(seen.values())


@settings(max_examples=150, deadline=None)
@given(events=st.lists(_events, max_size=40), seed=st.integers(0, 2**32 - 1))
def test_any_order_batching_and_duplication_gives_the_same_items(events, seed):
    # Given distinct events (one version per id: a resend carries the same event)
    events = _unique_by_id(events)
    rng = random.Random(seed)
    # When they arrive in another order, in random batches, with random duplicates replayed
    shuffled = events + [rng.choice(events) for _ in range(len(events) // 2)] if events else []
    rng.shuffle(shuffled)
    batches, i = [], 0
    while i < len(shuffled):
        n = rng.randint(1, 5)
        batches.append(shuffled[i : i + n])
        i += n
    # Then the items are those of the events delivered once, in one batch
    assert reference_items(batches, _SETTINGS) == reference_items([events], _SETTINGS)


@settings(max_examples=100, deadline=None)
@given(events=st.lists(_events, max_size=30))
def test_minute_rows_add_up_to_the_day_row(events):
    # Given any set of on-time events
    items = reference_items([_unique_by_id(events)], _SETTINGS)
    # Then for every feature, the counts of its minute rows sum to its day row (counts are additive)
    for (pk, sk), day in items.items():
        if not sk.startswith("D#"):
            continue
        minutes = [i for (p, s), i in items.items() if p == pk and s.startswith("M#")]
        for name in ("events", "views", "uses", "completions", "dismissals", "duration_count", "duration_sum_ms"):
            assert sum(m[name] for m in minutes) == day[name]
        assert max((m["persons"] for m in minutes), default=0) <= day["persons"] <= sum(m["persons"] for m in minutes)

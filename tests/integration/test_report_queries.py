"""Every report query, run by DuckDB on a hand-built lake, against answers computed here in plain Python.

The dataset (tests/reporting_dataset.py: the demo traffic plus the person-linking events, with their identity
table) has duplicated event ids, persons in several campaigns, anonymous persons, persons whose anonymous and
known ids are linked, a variant with zero conversions and a day without events. The oracles below count
persons (the identity rules applied to the dataset's links) and are written from the definitions in the query
headers, independently of the SQL.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.reporting.periods import Period
from tests.reporting_dataset import (
    EMPTY_DAY,
    REPORT_DAY,
    deduplicated,
    demo_events,
    linking_events,
    user_key,
    with_persons,
    write_identities,
    write_lake,
)

MIN_EXPOSED = 10
PERIODS = {
    "day": Period.containing("day", REPORT_DAY),
    "week": Period.containing("week", REPORT_DAY),
    "empty day": Period.containing("day", EMPTY_DAY),
}
Row = dict[str, Any]


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return demo_events() + linking_events()


@pytest.fixture(scope="module")
def unique_rows(rows: list[Row]) -> list[Row]:
    return with_persons(deduplicated(rows))


@pytest.fixture(scope="module")
def runner(rows: list[Row], tmp_path_factory: pytest.TempPathFactory) -> Iterable[DuckDbQueryRunner]:
    lake_dir: Path = tmp_path_factory.mktemp("lake")
    write_lake(lake_dir, rows)
    write_identities(lake_dir, rows)
    duck = DuckDbQueryRunner(lake_dir)
    yield duck
    duck.close()


def run(runner: DuckDbQueryRunner, name: str, period: Period) -> list[Row]:
    return list(runner.run(name, period.query_parameters(MIN_EXPOSED)).rows)


def person(row: Row) -> str:
    return str(row["person_id"])


def day_of(row: Row) -> date:
    ts: datetime = row["timestamp"]
    return ts.date()


def between(rows: Iterable[Row], start: date, end: date) -> list[Row]:
    return [r for r in rows if start <= day_of(r) <= end]


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def assert_rows_equal(actual: list[Row], expected: list[Row]) -> None:
    assert len(actual) == len(expected), (actual, expected)
    for got, want in zip(actual, expected, strict=True):
        assert set(got) == set(want)
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, rel=1e-9, abs=1e-12), column
            else:
                assert got[column] == value, column


# --- the dataset has what the tests claim --------------------------------------------------------------


def test_dataset_has_duplicates_multi_campaign_persons_linked_ids_and_an_empty_day(
    rows: list[Row], unique_rows: list[Row]
) -> None:
    # Given the dataset
    campaigns_per_person: dict[str, set[tuple[str | None, ...]]] = defaultdict(set)
    ids_per_person: dict[str, set[str]] = defaultdict(set)
    for r in unique_rows:
        ids_per_person[person(r)].add(user_key(r))
        if r["campaign_source"] or r["campaign_name"]:
            campaigns_per_person[person(r)].add((r["campaign_source"], r["campaign_medium"], r["campaign_name"]))
    # Then it holds duplicates, persons of several campaigns, persons seen under several ids, and no event on
    # the empty day
    assert len(rows) > len(unique_rows)
    assert any(len(c) > 1 for c in campaigns_per_person.values())
    assert any(len(ids) > 1 for ids in ids_per_person.values())
    assert not between(rows, EMPTY_DAY, EMPTY_DAY)


# --- period_summary ------------------------------------------------------------------------------------


def expected_summary(unique_rows: list[Row], period: Period) -> list[Row]:
    rows = between(unique_rows, period.start, period.end)
    users = {person(r) for r in rows}
    viewers = {person(r) for r in rows if r["feature"] and r["stage"] == "view"}
    adopters = {person(r) for r in rows if r["feature"] and r["stage"] in ("use", "complete")}
    completers = {person(r) for r in rows if r["feature"] and r["stage"] == "complete"}
    return [
        {
            "events": len(rows),
            "active_persons": len(users),
            "feature_viewers": len(viewers),
            "adopters": len(adopters),
            "completers": len(completers),
            "adoption_rate": ratio(len(adopters), len(users)),
            "completion_rate": ratio(len(completers), len(adopters)),
        }
    ]


@pytest.mark.parametrize("period_name", PERIODS)
def test_period_summary_counts_each_event_once(
    runner: DuckDbQueryRunner, unique_rows: list[Row], period_name: str
) -> None:
    # Given the lake, When the summary runs for the period
    actual = run(runner, "period_summary", PERIODS[period_name])
    # Then it matches the deduplicated events (zeros and NULL rates on the empty day)
    assert_rows_equal(actual, expected_summary(unique_rows, PERIODS[period_name]))


# --- active_users_daily --------------------------------------------------------------------------------


def expected_active_users(unique_rows: list[Row], period: Period) -> list[Row]:
    users_by_day: dict[date, set[str]] = defaultdict(set)
    for r in unique_rows:
        users_by_day[day_of(r)].add(person(r))

    def active(day: date, window: int) -> int:
        return len(set().union(*(users_by_day[day - timedelta(days=i)] for i in range(window))))

    out = []
    day = period.start
    while day <= period.end:
        out.append({"day": day, "dau": active(day, 1), "wau": active(day, 7), "mau": active(day, 30)})
        day += timedelta(days=1)
    return out


@pytest.mark.parametrize("period_name", PERIODS)
def test_active_persons_gives_dau_wau_mau_for_every_day_of_the_period(
    runner: DuckDbQueryRunner, unique_rows: list[Row], period_name: str
) -> None:
    # When DAU/WAU/MAU run for the period
    actual = run(runner, "active_users_daily", PERIODS[period_name])
    # Then every day has a row, the empty day included, with the distinct persons of its 1, 7 and 30-day windows
    assert_rows_equal(actual, expected_active_users(unique_rows, PERIODS[period_name]))


# --- feature_adoption_daily ----------------------------------------------------------------------------


def expected_adoption(unique_rows: list[Row], period: Period) -> list[Row]:
    rows = between(unique_rows, period.start, period.end)
    active: dict[date, set[str]] = defaultdict(set)
    viewers: dict[tuple[date, str], set[str]] = defaultdict(set)
    adopters: dict[tuple[date, str], set[str]] = defaultdict(set)
    for r in rows:
        active[day_of(r)].add(person(r))
        if r["feature"]:
            key = (day_of(r), r["feature"])
            viewers[key]
            adopters[key]
            if r["stage"] == "view":
                viewers[key].add(person(r))
            if r["stage"] in ("use", "complete"):
                adopters[key].add(person(r))
    return [
        {
            "day": day,
            "feature": feature,
            "active_persons": len(active[day]),
            "feature_viewers": len(viewers[(day, feature)]),
            "adopters": len(adopters[(day, feature)]),
            "adoption_rate": len(adopters[(day, feature)]) / len(active[day]),
        }
        for day, feature in sorted(viewers)
    ]


@pytest.mark.parametrize("period_name", PERIODS)
def test_feature_adoption_is_adopters_over_active_persons_per_day(
    runner: DuckDbQueryRunner, unique_rows: list[Row], period_name: str
) -> None:
    actual = run(runner, "feature_adoption_daily", PERIODS[period_name])
    assert_rows_equal(actual, expected_adoption(unique_rows, PERIODS[period_name]))


# --- feature_funnel ------------------------------------------------------------------------------------


def expected_funnel(unique_rows: list[Row], period: Period) -> list[Row]:
    rows = between(unique_rows, period.start, period.end)
    by_user: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r["feature"]:
            by_user[(r["feature"], person(r))].append(r)
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"viewed": 0, "used": 0, "completed": 0, "dismissed": 0, "vu": [], "uc": []}
    )
    for (feature, _user), events in by_user.items():
        times = {
            stage: sorted(e["timestamp"] for e in events if e["stage"] == stage)
            for stage in ("view", "use", "complete", "dismiss")
        }
        if not times["view"]:
            continue
        s = stats[feature]
        viewed_at = times["view"][0]
        s["viewed"] += 1
        if any(t >= viewed_at for t in times["dismiss"]):
            s["dismissed"] += 1
        used_at = next((t for t in times["use"] if t >= viewed_at), None)
        if used_at is None:
            continue
        s["used"] += 1
        s["vu"].append((used_at - viewed_at).total_seconds())
        completed_at = next((t for t in times["complete"] if t >= used_at), None)
        if completed_at is not None:
            s["completed"] += 1
            s["uc"].append((completed_at - used_at).total_seconds())
    out = [
        {
            "feature": feature,
            "funnel_viewed": s["viewed"],
            "funnel_used": s["used"],
            "funnel_completed": s["completed"],
            "funnel_dismissed": s["dismissed"],
            "funnel_view_to_use_rate": s["used"] / s["viewed"],
            "funnel_use_to_complete_rate": ratio(s["completed"], s["used"]),
            "funnel_view_to_complete_rate": s["completed"] / s["viewed"],
            "funnel_median_seconds_view_to_use": float(statistics.median(s["vu"])) if s["vu"] else None,
            "funnel_median_seconds_use_to_complete": float(statistics.median(s["uc"])) if s["uc"] else None,
        }
        for feature, s in stats.items()
    ]
    return sorted(out, key=lambda r: (-r["funnel_viewed"], r["feature"]))


@pytest.mark.parametrize("period_name", PERIODS)
def test_funnel_follows_each_person_view_then_use_then_complete(
    runner: DuckDbQueryRunner, unique_rows: list[Row], period_name: str
) -> None:
    actual = run(runner, "feature_funnel", PERIODS[period_name])
    expected = expected_funnel(unique_rows, PERIODS[period_name])
    assert_rows_equal(actual, expected)
    if period_name != "empty day":
        assert any(r["funnel_median_seconds_use_to_complete"] for r in expected)


# --- time_on_feature_distribution -----------------------------------------------------------------------

BUCKETS = [
    (1, "< 10 s", 0, 10_000),
    (2, "10-30 s", 10_000, 30_000),
    (3, "30 s-1 min", 30_000, 60_000),
    (4, "1-3 min", 60_000, 180_000),
    (5, "3-10 min", 180_000, 600_000),
    (6, ">= 10 min", 600_000, 2**63 - 1),
]


def expected_distribution(unique_rows: list[Row], period: Period) -> list[Row]:
    timed = [
        r
        for r in between(unique_rows, period.start, period.end)
        if r["feature"] and r["duration_ms"] is not None and r["duration_ms"] >= 0
    ]
    out = []
    for feature in sorted({r["feature"] for r in timed}):
        mine = [r for r in timed if r["feature"] == feature]
        for order, label, low, high in BUCKETS:
            inside = [r for r in mine if low <= r["duration_ms"] < high]
            out.append(
                {
                    "feature": feature,
                    "bucket_order": order,
                    "bucket": label,
                    "timed_events": len(inside),
                    "timed_persons": len({person(r) for r in inside}),
                    "share_of_timed_events": len(inside) / len(mine),
                }
            )
    return out


@pytest.mark.parametrize("period_name", PERIODS)
def test_time_on_feature_histogram_has_every_bucket(
    runner: DuckDbQueryRunner, unique_rows: list[Row], period_name: str
) -> None:
    actual = run(runner, "time_on_feature_distribution", PERIODS[period_name])
    assert_rows_equal(actual, expected_distribution(unique_rows, PERIODS[period_name]))


# --- adopter_retention ---------------------------------------------------------------------------------


def expected_retention(unique_rows: list[Row], period: Period) -> list[Row]:
    active: dict[date, set[str]] = defaultdict(set)
    adopted: dict[tuple[str, date], set[str]] = defaultdict(set)
    for r in unique_rows:
        active[day_of(r)].add(person(r))
        if r["feature"] and r["stage"] in ("use", "complete"):
            adopted[(r["feature"], day_of(r))].add(person(r))
    out = []
    for (feature, cohort_day), cohort in adopted.items():
        for horizon in (1, 7, 30):
            measured = cohort_day + timedelta(days=horizon)
            if not period.start <= measured <= period.end:
                continue
            retained = cohort & active[measured]
            returning = cohort & adopted.get((feature, measured), set())
            out.append(
                {
                    "feature": feature,
                    "horizon_days": horizon,
                    "cohort_day": cohort_day,
                    "cohort_adopters": len(cohort),
                    "retained_adopters": len(retained),
                    "returning_adopters": len(returning),
                    "retention_rate": len(retained) / len(cohort),
                    "feature_retention_rate": len(returning) / len(cohort),
                }
            )
    return sorted(out, key=lambda r: (r["feature"], r["horizon_days"], r["cohort_day"]))


@pytest.mark.parametrize("period_name", PERIODS)
def test_retention_of_adopters_at_d1_d7_d30(
    runner: DuckDbQueryRunner, unique_rows: list[Row], period_name: str
) -> None:
    actual = run(runner, "adopter_retention", PERIODS[period_name])
    expected = expected_retention(unique_rows, PERIODS[period_name])
    assert_rows_equal(actual, expected)
    assert {r["horizon_days"] for r in expected} == {1, 7, 30}


# --- campaign_attribution ------------------------------------------------------------------------------


def expected_campaigns(unique_rows: list[Row], period: Period) -> list[Row]:
    rows = between(unique_rows, period.start, period.end)
    by_user: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_user[person(r)].append(r)
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for events in by_user.values():
        events.sort(key=lambda e: (e["timestamp"], e["event_id"]))
        tagged = [e for e in events if e["campaign_source"] or e["campaign_medium"] or e["campaign_name"]]
        if tagged:
            touch = tagged[0]
            key = tuple(touch[f] or "(not set)" for f in ("campaign_source", "campaign_medium", "campaign_name"))
            since = touch["timestamp"]
        else:
            key = ("(direct)", "(none)", "(none)")
            since = events[0]["timestamp"]
        after = [e for e in events if e["feature"] and e["timestamp"] >= since]
        t = totals[key]  # type: ignore[index]
        t[0] += 1
        t[1] += any(e["stage"] in ("use", "complete") for e in after)
        t[2] += any(e["stage"] == "complete" for e in after)
    out = [
        {
            "campaign_source": k[0],
            "campaign_medium": k[1],
            "campaign_name": k[2],
            "campaign_reached": t[0],
            "campaign_adopters": t[1],
            "campaign_completers": t[2],
            "campaign_adoption_rate": t[1] / t[0],
            "campaign_conversion_rate": t[2] / t[0],
        }
        for k, t in totals.items()
    ]
    return sorted(
        out, key=lambda r: (-r["campaign_reached"], r["campaign_source"], r["campaign_medium"], r["campaign_name"])
    )


@pytest.mark.parametrize("period_name", PERIODS)
def test_campaign_attribution_credits_each_person_to_the_first_touch(
    runner: DuckDbQueryRunner, unique_rows: list[Row], period_name: str
) -> None:
    actual = run(runner, "campaign_attribution", PERIODS[period_name])
    expected = expected_campaigns(unique_rows, PERIODS[period_name])
    assert_rows_equal(actual, expected)
    # Each active person counts once, whatever the number of campaigns or ids they came through.
    users = {person(r) for r in between(unique_rows, PERIODS[period_name].start, PERIODS[period_name].end)}
    assert sum(r["campaign_reached"] for r in actual) == len(users)


# --- experiment_results: tests/integration/test_experiment_results*.py and test_report_queries_statistics.py

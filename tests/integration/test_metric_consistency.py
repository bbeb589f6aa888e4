"""One definition per metric: on the same events, the report SQL (DuckDB) and the plain-Python reference of the
catalogue (featurepulse/domain/metrics_reference.py) give the same number for every metric, place by place.

Datasets: the demo traffic (tests/reporting_dataset.py: duplicates, several campaigns per person, anonymous
persons, an empty day) and the person-linking one (anonymous browsing then identify, alias, userId change,
shared device, a late link), each with its identity table written as the identity build would.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from featurepulse.domain.identity import links_from_events, resolve_persons
from featurepulse.domain.metrics import METRICS, metrics_at
from featurepulse.domain.metrics_reference import REPORT_REFERENCE, TRAIT_REPORT_REFERENCE, PersonEvent, person_events
from featurepulse.local.duckdb_runner import DuckDbQueryRunner, to_duckdb
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import QUERY_NAMES, TableRef, bind
from tests.reporting_dataset import (
    EMPTY_DAY,
    LINKED_PERSONS,
    REPORT_DAY,
    deduplicated,
    demo_events,
    linking_events,
    user_key,
    with_persons,
    write_identities,
    write_lake,
)

Row = dict[str, Any]
DATASETS: dict[str, Callable[[], list[Row]]] = {
    "demo": demo_events,
    "linking": linking_events,
    "both": lambda: demo_events() + linking_events(),
}
PERIODS = {
    "day": Period.containing("day", REPORT_DAY),
    "next day": Period.containing("day", REPORT_DAY + timedelta(days=1)),
    "week": Period.containing("week", REPORT_DAY),
    "empty day": Period.containing("day", EMPTY_DAY),
}
REPORT_PLACES = [(m.name, p.source) for m, p in metrics_at("report") if p.source in REPORT_REFERENCE]


class Lake:
    """A dataset written as a lake (events and identity table), its SQL runner and its reference events."""

    def __init__(self, rows: list[Row], lake_dir: Path) -> None:
        write_lake(lake_dir, rows)
        write_identities(lake_dir, rows)
        self.runner = DuckDbQueryRunner(lake_dir)
        self.events: list[PersonEvent] = person_events(rows, resolve_persons(links_from_events(rows)))
        self._sql = cache(self._run)

    def _run(self, query: str, period_name: str) -> tuple[Row, ...]:
        return self.runner.run(query, PERIODS[period_name].query_parameters(10)).rows

    def sql(self, query: str, period_name: str) -> tuple[Row, ...]:
        return self._sql(query, period_name)

    def reference(self, query: str, period_name: str) -> list[Row]:
        period = PERIODS[period_name]
        return REPORT_REFERENCE[query](self.events, period.start, period.end)


@pytest.fixture(scope="module", params=sorted(DATASETS))
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    built = Lake(DATASETS[request.param](), tmp_path_factory.mktemp(f"lake-{request.param}"))
    yield built
    built.runner.close()


def dimensions(query: str, row: Row) -> tuple[Any, ...]:
    """The columns of a row that are not metrics: what identifies it (day, feature, bucket, campaign...)."""
    measured = {m.name for m, _ in metrics_at("report", query)}
    return tuple((k, v) for k, v in sorted(row.items()) if k not in measured)


def by_dimensions(query: str, rows: Any) -> dict[tuple[Any, ...], Row]:
    keyed = {dimensions(query, r): r for r in rows}
    assert len(keyed) == len(rows), f"{query}: two rows with the same dimensions"
    return keyed


def test_the_datasets_hold_duplicates_multi_campaign_persons_linked_ids_and_an_empty_day() -> None:
    # Given both datasets together
    rows = demo_events() + linking_events()
    unique_rows = with_persons(deduplicated(rows))
    campaigns_per_person: dict[str, set[tuple[Any, ...]]] = {}
    ids_per_person: dict[str, set[str]] = {}
    for r in unique_rows:
        ids_per_person.setdefault(str(r["person_id"]), set()).add(user_key(r))
        if r["campaign_source"] or r["campaign_name"]:
            campaign = (r["campaign_source"], r["campaign_medium"], r["campaign_name"])
            campaigns_per_person.setdefault(str(r["person_id"]), set()).add(campaign)
    # Then they hold duplicates, persons of several campaigns, persons seen under several ids, and no event on
    # the empty day: what the comparisons below rely on
    assert len(rows) > len(unique_rows)
    assert any(len(c) > 1 for c in campaigns_per_person.values())
    assert any(len(ids) > 1 for ids in ids_per_person.values())
    assert not [r for r in rows if r["timestamp"].date() == EMPTY_DAY]


def test_every_report_query_except_experiments_has_a_reference() -> None:
    # The queries that read the traits view have theirs in TRAIT_REPORT_REFERENCE, checked in
    # tests/integration/test_metric_consistency_segments.py.
    assert sorted([*REPORT_REFERENCE, *TRAIT_REPORT_REFERENCE]) == sorted(
        n for n in QUERY_NAMES if n != "experiment_results"
    )


def test_every_metric_computed_by_a_report_query_is_checked_here() -> None:
    checked = {name for name, _ in REPORT_PLACES}
    skipped = {"experiment_results", *TRAIT_REPORT_REFERENCE}  # checked elsewhere (see above)
    in_reports = {m.name for m in METRICS for p in m.places_of("report") if p.source not in skipped}
    assert checked == in_reports


@pytest.mark.parametrize("query", sorted(REPORT_REFERENCE))
@pytest.mark.parametrize("period_name", PERIODS)
def test_the_query_and_the_reference_have_the_same_rows_and_columns(lake: Lake, query: str, period_name: str) -> None:
    # Given the same events, When the SQL and the reference compute the query's rows
    sql, reference = lake.sql(query, period_name), lake.reference(query, period_name)
    # Then they have the same rows (by their dimensions), in the same order, with the same columns
    assert [dimensions(query, r) for r in sql] == [dimensions(query, r) for r in reference]
    assert all(set(r) == set(reference[0]) for r in sql)


@pytest.mark.parametrize(("name", "query"), REPORT_PLACES, ids=[f"{q}.{n}" for n, q in REPORT_PLACES])
def test_each_metric_has_the_value_of_its_catalogue_definition(lake: Lake, name: str, query: str) -> None:
    for period_name in PERIODS:
        # Given the same events, When the SQL and the reference compute the metric
        sql = by_dimensions(query, lake.sql(query, period_name))
        reference = by_dimensions(query, lake.reference(query, period_name))
        # Then every row has the same value (rates and medians to floating-point precision)
        assert sql.keys() == reference.keys(), (name, period_name)
        for key, row in reference.items():
            want, got = row[name], sql[key][name]
            if isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (name, period_name, key)
            else:
                assert got == want, (name, period_name, key)


@pytest.mark.parametrize("period_name", ["day", "next day"])
def test_active_persons_is_one_number_wherever_a_day_shows_it(lake: Lake, period_name: str) -> None:
    # Given a one-day period, When the summary, the daily actives and the adoption table run
    summary = lake.sql("period_summary", period_name)[0]["active_persons"]
    (daily,) = lake.sql("active_users_daily", period_name)
    adoption = {r["active_persons"] for r in lake.sql("feature_adoption_daily", period_name)}
    # Then the day's active persons is the same number in each
    assert summary == daily["dau"]
    assert adoption <= {summary}


def test_an_anonymous_visitor_who_signs_in_counts_once_in_every_person_metric(tmp_path: Path) -> None:
    # Given one visitor: anonymous browsing from a newsletter, then sign-in, use and completion as a member
    visitor = [r for r in linking_events() if {r["user_id"], r["anonymous_id"]} & {"dev-a", "member-a"}]
    assert {r["user_id"] for r in visitor} >= {None, "member-a"}
    write_lake(tmp_path, visitor)
    write_identities(tmp_path, visitor)
    runner = DuckDbQueryRunner(tmp_path)
    try:
        for period_name in ("day", "week"):
            params = PERIODS[period_name].query_parameters(10)
            results = {q: runner.run(q, params).rows for q in REPORT_REFERENCE}
            # Then no person metric ever exceeds one
            for m, place in metrics_at("report"):
                if m.counts == "persons" and m.unit == "persons" and place.source in results:
                    assert all(r[m.name] in (0, 1) for r in results[place.source]), (period_name, m.name)
            # And the headline, the funnel and the attribution count the visitor, once
            summary = results["period_summary"][0]
            assert (summary["active_persons"], summary["adopters"], summary["completers"]) == (1, 1, 1)
            assert summary["adoption_rate"] == 1.0 and summary["completion_rate"] == 1.0
            assert sum(r["campaign_reached"] for r in results["campaign_attribution"]) == 1
            assert {r["dau"] for r in results["active_users_daily"] if r["day"] == REPORT_DAY} == {1}
        # And over the week, the anonymous view and the signed-in use and completion are one funnel journey
        week = {q: runner.run(q, PERIODS["week"].query_parameters(10)).rows for q in REPORT_REFERENCE}
        search = next(r for r in week["feature_funnel"] if r["feature"] == "smart-search")
        assert (search["funnel_viewed"], search["funnel_used"], search["funnel_completed"]) == (1, 1, 1)
        # And the first touch is the newsletter of the anonymous visit, credited with the later completion
        campaigns = week["campaign_attribution"]
        assert [(r["campaign_source"], r["campaign_completers"]) for r in campaigns] == [("newsletter", 1)]
        # And adopting on the sign-in day then coming back signed in the next day is D1 retention
        retention = runner.run("adopter_retention", PERIODS["next day"].query_parameters(10)).rows
        assert [(r["feature"], r["horizon_days"], r["retained_adopters"]) for r in retention] == [
            ("smart-search", 1, 1)
        ]
    finally:
        runner.close()


def test_the_base_view_attributes_each_event_to_the_person_the_identity_rules_name(tmp_path: Path) -> None:
    # Given the person-linking events, with the identity table written twice (a build's old and new objects
    # side by side, as a reader may see for a moment)
    rows = linking_events()
    write_lake(tmp_path, rows)
    identities = write_identities(tmp_path, rows)
    shutil.copy(identities, identities.with_name("identities-older.json.gz"))
    runner = DuckDbQueryRunner(tmp_path)
    try:
        runner.run("period_summary", PERIODS["day"].query_parameters(10))  # creates the views
        sql = "SELECT event_id, user_id, anonymous_id, person_id FROM person_events"
        params = {"scan_start_date": REPORT_DAY - timedelta(days=30), "end_date": REPORT_DAY + timedelta(days=5)}
        bound = to_duckdb(bind(sql, params, TableRef()).sql(dialect="athena"))
        seen = runner.connection.execute(bound).fetchall()
    finally:
        runner.close()
    # Then each event appears once (the retried copy and the doubled identity rows do not duplicate it)
    assert sorted(event_id for event_id, *_ in seen) == sorted({r["event_id"] for r in rows})
    # And its person is the hand-written owner of its user id when set, else of its anonymous id
    for _event_id, user_id, anonymous_id, person_id in seen:
        own = user_id if user_id else anonymous_id
        assert person_id == LINKED_PERSONS.get(own, own), (user_id, anonymous_id)
    # And a blank user id reads as none: that event is its anonymous id's person's
    assert ("", "dev-a") in {(r["user_id"], r["anonymous_id"]) for r in rows}
    assert {p for _e, u, a, p in seen if a == "dev-a" and not u} == {"member-a"}

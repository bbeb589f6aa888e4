"""experiment_results.sql on DuckDB: who counts as exposed and converted, per experiment goal, in persons."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.local.identity import build_local
from featurepulse.reporting.experiments_config import experiment_query_parameters, parse_experiments
from featurepulse.reporting.periods import Period
from tests.reporting_dataset import REPORT_DAY, make_event, write_lake

PERIOD = Period.containing("day", REPORT_DAY)
T0 = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 9)
Row = dict[str, Any]


class Events:
    """A small lake, event by event."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, person: str, minutes: float, event: str, **kwargs: Any) -> None:
        at = T0 + timedelta(minutes=minutes)
        self.rows.append(make_event(f"e{len(self.rows):05d}", person, at, event=event, **kwargs))

    def exposure(self, person: str, minutes: float, experiment: str, variant: str, **kwargs: Any) -> None:
        self.add(person, minutes, "Experiment Viewed", experiment=(experiment, variant), **kwargs)

    def stage(
        self,
        person: str,
        minutes: float,
        feature: str,
        stage: str,
        experiment: tuple[str, str] | None = None,
        **kw: Any,
    ) -> None:
        name = {"view": "Feature Viewed", "use": "Feature Used", "complete": "Feature Completed"}[stage]
        self.add(person, minutes, name, feature=feature, stage=stage, experiment=experiment, **kw)


def run(tmp_path: Path, rows: list[Row], setting: str | None = None, period: Period = PERIOD) -> list[Row]:
    """Write the lake, build its identity table (as the report job does before its queries), run the query."""
    write_lake(tmp_path / "lake", rows)
    build_local(tmp_path / "lake", full=True)
    runner = DuckDbQueryRunner(tmp_path / "lake")
    try:
        config = parse_experiments(setting)
        params = {**period.query_parameters(100), **experiment_query_parameters(config, period.start)}
        return list(runner.run("experiment_results", params).rows)
    finally:
        runner.close()


def totals(rows: list[Row]) -> dict[tuple[str, str], tuple[int, int]]:
    """(experiment, variant) -> (exposed, converted) at the last look of each experiment."""
    last = {}
    for r in rows:
        key = (r["experiment_id"], r["variation_id"])
        if key not in last or r["look_date"] > last[key]["look_date"]:
            last[key] = r
    return {k: (r["exposed"], r["converted"]) for k, r in last.items()}


def test_only_the_experiments_own_feature_counts_as_the_default_goal(tmp_path: Path) -> None:
    # Given an experiment on 'ai-summary' whose feature events carry the experiment
    events = Events()
    for i, variant in enumerate(["A", "B"] * 3):
        person = f"p{i}"
        events.exposure(person, i, "onboarding", variant)
        events.stage(person, i + 1, "ai-summary", "view", ("onboarding", variant))
    # p0 (A) and p1 (B) complete the experiment's own feature after exposure: counted
    events.stage("p0", 10, "ai-summary", "complete", ("onboarding", "A"))
    events.stage("p1", 10, "ai-summary", "complete", ("onboarding", "B"))
    # p2 (A) and p3 (B) complete ANOTHER feature after exposure: not counted (the old query counted them)
    events.stage("p2", 10, "smart-search", "complete")
    events.stage("p3", 10, "bulk-edit", "complete")
    # p4 (A) uses the feature but does not complete it: not counted
    events.stage("p4", 10, "ai-summary", "use", ("onboarding", "A"))
    # When the query runs
    rows = run(tmp_path, events.rows)
    # Then each variant counts only its own-feature completions, and the goal is named
    assert totals(rows) == {("onboarding", "A"): (3, 1), ("onboarding", "B"): (3, 1)}
    assert {(r["goal_feature"], r["goal_stage"], r["goal_event"], r["goal_configured"]) for r in rows} == {
        ("ai-summary", "complete", None, False)
    }


def test_the_first_exposure_decides_the_variant_and_duplicates_count_once(tmp_path: Path) -> None:
    events = Events()
    events.exposure("p1", 0, "exp", "A")
    events.exposure("p1", 5, "exp", "B")  # later exposure to another variant: ignored
    events.stage("p1", 6, "f", "complete", ("exp", "B"))
    events.exposure("p2", 0, "exp", "B")
    events.rows.append({**events.rows[-1], "received_at": events.rows[-1]["received_at"] + timedelta(seconds=30)})
    rows = run(tmp_path, events.rows)
    assert totals(rows) == {("exp", "A"): (1, 1), ("exp", "B"): (1, 0)}


def test_a_completion_before_the_exposure_does_not_count(tmp_path: Path) -> None:
    events = Events()
    events.stage("p1", 0, "f", "complete", ("exp", "A"))
    events.exposure("p1", 5, "exp", "A")
    events.exposure("p2", 5, "exp", "B")
    events.stage("p2", 6, "f", "complete", ("exp", "B"))
    assert totals(run(tmp_path, events.rows)) == {("exp", "A"): (1, 0), ("exp", "B"): (1, 1)}


def test_configured_goals_a_stage_and_a_named_event_apply_per_experiment(tmp_path: Path) -> None:
    # Given two experiments: 'search' with the goal "use smart-search", 'pricing' with the goal "Plan Upgraded"
    events = Events()
    for person, variant in (("s1", "A"), ("s2", "B")):
        events.exposure(person, 0, "search", variant)
    events.stage("s1", 1, "smart-search", "use")  # reaches the configured stage
    events.stage("s2", 1, "smart-search", "view")  # only views
    for person, variant in (("q1", "A"), ("q2", "B")):
        events.exposure(person, 0, "pricing", variant)
    events.add("q2", 3, "Plan Upgraded")
    events.stage("q1", 3, "smart-search", "use")  # the other experiment's goal: not this one's
    setting = (
        '{"search": {"goal": {"feature": "smart-search", "stage": "use"}},'
        ' "pricing": {"goal": {"event": "Plan Upgraded"}}}'
    )
    # When the query runs with the setting
    rows = run(tmp_path, events.rows, setting)
    # Then each experiment counts its own goal
    assert totals(rows) == {
        ("pricing", "A"): (1, 0),
        ("pricing", "B"): (1, 1),
        ("search", "A"): (1, 1),
        ("search", "B"): (1, 0),
    }
    goals = {
        r["experiment_id"]: (r["goal_feature"], r["goal_stage"], r["goal_event"], r["goal_configured"]) for r in rows
    }
    assert goals == {"search": ("smart-search", "use", None, True), "pricing": (None, None, "Plan Upgraded", True)}


def test_an_experiment_whose_events_name_no_feature_has_no_default_goal(tmp_path: Path) -> None:
    events = Events()
    events.exposure("p1", 0, "exp", "A")
    events.exposure("p2", 0, "exp", "B")
    events.stage("p2", 2, "f", "complete")  # a feature event without the experiment: not the experiment's feature
    rows = run(tmp_path, events.rows)
    assert totals(rows) == {("exp", "A"): (1, 0), ("exp", "B"): (1, 0)}
    assert {r["goal_feature"] for r in rows} == {None}


def test_the_default_feature_is_the_one_the_experiments_events_name_most(tmp_path: Path) -> None:
    events = Events()
    events.exposure("p1", 0, "exp", "A")
    events.stage("p1", 1, "main", "view", ("exp", "A"))
    events.stage("p1", 2, "main", "use", ("exp", "A"))
    events.stage("p1", 3, "aside", "complete", ("exp", "A"))  # named once: not the experiment's feature
    assert {r["goal_feature"] for r in run(tmp_path, events.rows)} == {"main"}


def test_a_configured_start_reads_the_growing_sample_with_one_look_per_day(tmp_path: Path) -> None:
    # Given an experiment started two days before the reported day, with exposures and conversions each day
    events = Events()
    days = [REPORT_DAY - timedelta(days=2), REPORT_DAY - timedelta(days=1), REPORT_DAY]
    for d, day in enumerate(days):
        for variant in ("A", "B"):
            person = f"{variant}{d}"
            minutes = (day - REPORT_DAY).days * 24 * 60
            events.exposure(person, minutes, "exp", variant)
            events.stage(person, minutes + 1, "f", "view", ("exp", variant))
            if variant == "B" or d == 0:
                events.stage(person, minutes + 2, "f", "complete", ("exp", variant))
    start = days[0].isoformat()
    # When the daily report runs with the experiment's start configured
    rows = run(tmp_path, events.rows, f'{{"exp": {{"start": "{start}"}}}}')
    # Then there is one cumulative look per day since the start
    looks = {(r["variation_id"], r["look_date"]): (r["exposed"], r["converted"]) for r in rows}
    assert looks == {
        ("A", days[0].isoformat()): (1, 1),
        ("A", days[1].isoformat()): (2, 1),
        ("A", days[2].isoformat()): (3, 1),
        ("B", days[0].isoformat()): (1, 1),
        ("B", days[1].isoformat()): (2, 2),
        ("B", days[2].isoformat()): (3, 3),
    }
    assert {r["window_start"] for r in rows} == {start}
    # And without the start, only the period's own exposures count
    assert totals(run(tmp_path, events.rows)) == {("exp", "A"): (1, 0), ("exp", "B"): (1, 1)}


def test_no_exposure_no_rows(tmp_path: Path) -> None:
    events = Events()
    events.stage("p1", 0, "f", "complete")
    assert run(tmp_path, events.rows) == []
    assert date.fromisoformat(PERIOD.start.isoformat()) == REPORT_DAY


def test_the_local_report_run_gives_the_experiment_counts_and_verdicts_with_goal_and_method(tmp_path: Path) -> None:
    from featurepulse.local.reports import LocalReportTarget, run_local_report

    # Given a lake with one experiment (an anonymous visitor who signs in, and a control person)
    events = Events()
    events.exposure("anon-v1", 0, "onboarding", "B", anonymous=True)
    events.stage("anon-v1", 1, "ai-summary", "view", ("onboarding", "B"), anonymous=True)
    events.add("v1", 5, "Signed In")
    events.stage("v1", 8, "ai-summary", "complete", ("onboarding", "B"))
    events.exposure("c1", 0, "onboarding", "A")
    events.stage("c1", 1, "ai-summary", "view", ("onboarding", "A"))
    write_lake(tmp_path / "lake", events.rows)
    # When the local report job runs for the day (it builds the identity table first, as in AWS)
    target = LocalReportTarget(tmp_path / "lake", tmp_path / "outbox", experiments='{"onboarding": {"control": "A"}}')
    outcome, _ = run_local_report("day", REPORT_DAY, target, now=datetime(2026, 3, 11, 6))
    # Then its outcome has the counts in persons, in the shape of the traffic generator's ground truth
    assert outcome.status == "sent"
    assert outcome.experiment_counts == {
        "onboarding / A": {"exposed": 1, "converted": 0},
        "onboarding / B": {"exposed": 1, "converted": 1},
    }
    # And one verdict line per compared variant naming its goal and its method
    (line,) = outcome.experiment_verdicts
    assert line.startswith("onboarding: collecting data (B 1/1 vs A 0/1 persons; goal: completing ai-summary")
    assert "mSPRT" in line

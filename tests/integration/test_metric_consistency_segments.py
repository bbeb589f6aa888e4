"""One definition per metric for the queries that read the traits view (adoption by segment, audiences): on the
same events, the SQL on DuckDB (person_events and person_traits inlined) and the plain-Python reference of the
catalogue (featurepulse/domain/metrics_reference.py, with the traits of featurepulse/domain/traits.py) give the
same rows, metric by metric.

Datasets: the demo traffic and the person-linking one of tests/reporting_dataset.py, with `identify` calls that
give some persons a plan (one of them twice: the latest wins; one on an anonymous id later linked), so every
segment, '(unknown)' included, and identified and anonymous audience members are there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurepulse.domain.identity import links_from_events, resolve_persons
from featurepulse.domain.metrics import AUDIENCE_RULES, metrics_at
from featurepulse.domain.metrics_reference import TRAIT_REPORT_REFERENCE, PersonEvent, person_events
from featurepulse.domain.traits import person_traits
from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import InlineTable
from tests.reporting_dataset import (
    EMPTY_DAY,
    REPORT_DAY,
    demo_events,
    linking_events,
    make_event,
    write_identities,
    write_lake,
)

Row = dict[str, Any]
PLANS = ("free", "team", "enterprise")
PERIODS = {
    "day": Period.containing("day", REPORT_DAY),
    "week": Period.containing("week", REPORT_DAY),
    "empty day": Period.containing("day", EMPTY_DAY),
}
CHOICES: dict[str, tuple[str, ...]] = {"plan": ("plan",), "plan and role": ("plan", "role"), "none": ()}


def with_plans(rows: list[Row]) -> list[Row]:
    """The rows plus identify calls: every third user id gets a plan (and a role), one of them changes plan."""
    users = sorted({str(r["user_id"]) for r in rows if r["user_id"]})
    extra = []
    at = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 1, 0)
    for i, user in enumerate(users[::3]):
        traits = {"plan": PLANS[i % 3], "role": "=cmd|admin" if i == 1 else "editor"}
        extra.append(
            make_event(
                f"idt-{i:04d}",
                user,
                at - timedelta(days=3),
                type_="identify",
                event=None,
                properties=json.dumps(traits),
            )
        )
    extra.append(
        make_event(
            "idt-late", users[0], at, type_="identify", event=None, properties=json.dumps({"plan": "enterprise"})
        )
    )
    # a plan given on an anonymous id that the linking data links to member-a
    extra.append(
        make_event(
            "idt-anon",
            "",
            at,
            type_="identify",
            event=None,
            ids=(None, "dev-a"),
            properties=json.dumps({"plan": "team"}),
        )
    )
    return rows + extra


DATASETS: dict[str, Callable[[], list[Row]]] = {
    "demo": lambda: with_plans(demo_events()),
    "both": lambda: with_plans(demo_events() + linking_events()),
}


class Lake:
    def __init__(self, rows: list[Row], lake_dir: Path) -> None:
        write_lake(lake_dir, rows)
        write_identities(lake_dir, rows)
        self.runner = DuckDbQueryRunner(lake_dir)
        persons = resolve_persons(links_from_events(rows))
        self.events: list[PersonEvent] = person_events(rows, persons)
        self.traits = {(t.person_id, t.trait): t.value for t in person_traits(rows, persons)}

    def sql(self, query: str, period_name: str, chosen: tuple[str, ...]) -> tuple[Row, ...]:
        params = dict(PERIODS[period_name].query_parameters(10))
        params["report_segment"] = InlineTable(("segment_trait",), (((chosen or ("plan",))[0],),))
        params["audience_traits"] = InlineTable(("trait",), tuple((t,) for t in chosen))
        return self.runner.run(query, params).rows

    def reference(self, query: str, period_name: str, chosen: tuple[str, ...]) -> list[Row]:
        period = PERIODS[period_name]
        return TRAIT_REPORT_REFERENCE[query](self.events, period.start, period.end, self.traits, chosen)


@pytest.fixture(scope="module", params=sorted(DATASETS))
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    built = Lake(DATASETS[request.param](), tmp_path_factory.mktemp(f"lake-{request.param}"))
    yield built
    built.runner.close()


def _same(want: Any, got: Any) -> bool:
    return got == pytest.approx(want, rel=1e-9) if isinstance(want, float) else got == want


@pytest.mark.parametrize("period_name", PERIODS)
def test_adoption_by_segment_equals_the_reference_row_by_row(lake: Lake, period_name: str) -> None:
    # Given the same events and traits, When the SQL and the reference compute adoption by plan
    sql = lake.sql("feature_adoption_by_segment", period_name, ("plan",))
    reference = lake.reference("feature_adoption_by_segment", period_name, ("plan",))
    # Then they have the same rows, in the same order, with the same values
    assert len(sql) == len(reference)
    for got, want in zip(sql, reference, strict=True):
        assert set(got) == set(want)
        assert all(_same(want[k], got[k]) for k in want), (got, want)


def test_adoption_by_segment_has_every_plan_and_the_unknown_segment(lake: Lake) -> None:
    rows = lake.sql("feature_adoption_by_segment", "week", ("plan",))
    values = {r["segment_value"] for r in rows}
    # Then each plan and the persons without one are segments, '(unknown)' listed last for each feature
    assert values >= {*PLANS, "(unknown)"}
    assert rows[-1]["segment_value"] == "(unknown)"
    # And a feature's segments add up to the period's active persons
    summary = lake.runner.run("period_summary", PERIODS["week"].query_parameters(10)).rows[0]
    feature = rows[0]["feature"]
    assert sum(r["active_persons"] for r in rows if r["feature"] == feature) == summary["active_persons"]


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("period_name", PERIODS)
def test_audiences_equal_the_reference_row_by_row(lake: Lake, period_name: str, choice: str) -> None:
    # Given the same events and traits, When the SQL and the reference list the audiences with chosen traits
    sql = lake.sql("feature_audiences", period_name, CHOICES[choice])
    reference = lake.reference("feature_audiences", period_name, CHOICES[choice])
    # Then they list the same persons with the same user ids, trait values and audience sizes
    assert [dict(r) for r in sql] == reference


def test_audiences_list_only_identified_persons_and_both_audiences_occur(lake: Lake) -> None:
    rows = lake.sql("feature_audiences", "week", ("plan",))
    assert {r["audience"] for r in rows} == set(AUDIENCE_RULES)
    # Then no anonymous-only person is listed, and each listed person's own id is among their user ids
    assert all(r["person_id"] in r["user_ids"].split(";") for r in rows)
    anonymous = {
        e.person_id for e in lake.events if e.person_id and e.user_id is None and e.person_id == e.anonymous_id
    }
    assert not {r["person_id"] for r in rows} & (anonymous - {e.person_id for e in lake.events if e.user_id})


def test_every_metric_of_these_queries_is_checked_here() -> None:
    checked = {m.name for q in TRAIT_REPORT_REFERENCE for m, _ in metrics_at("report", q)}
    assert checked == {"active_persons", "adopters", "adoption_rate", "audience_persons"}

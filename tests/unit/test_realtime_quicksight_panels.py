"""The QuickSight panel SQL (run on DuckDB over the aggregate rows) shows the numbers the live panels compute,
under the catalogue's names, from the final rows once a day is final."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import duckdb
import pytest
import sqlglot

from featurepulse.domain import metrics as catalogue
from featurepulse.realtime import items, panels
from featurepulse.realtime.finalize import final_items
from featurepulse.realtime.model import reference_items
from featurepulse.realtime.quicksight_panels import PANEL_QUERIES, panel_queries, ratio_sql
from tests import realtime_scenario

DAY = "2025-03-01"
QUERIES = panel_queries(f"'{DAY}'", "TIMESTAMP '2025-03-01 09:30:00'")
_COLUMNS = [(name, kind) for name, kind in items.ITEM_COLUMNS if kind != "map"]


def _scenario_items() -> list[dict[str, Any]]:
    return list(reference_items(realtime_scenario.phases(), realtime_scenario.settings()).values())


@pytest.fixture
def table() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    columns = ", ".join(f"{n} {'VARCHAR' if kind == 'string' else 'BIGINT'}" for n, kind in _COLUMNS)
    connection.execute(f"CREATE TABLE aggregates ({columns})")
    yield connection
    connection.close()


def _load(connection: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    marks = ", ".join("?" for _ in _COLUMNS)
    connection.executemany(f"INSERT INTO aggregates VALUES ({marks})", [[r[n] for n, _ in _COLUMNS] for r in rows])


def _run(connection: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    sql, columns = QUERIES[name]
    (duck,) = sqlglot.transpile(sql.replace("{table}", "aggregates"), read="athena", write="duckdb")
    cursor = connection.execute(duck)
    names = [d[0] for d in cursor.description or ()]
    assert names == [c for c, _ in columns]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _panels_of(rows: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
    """What featurepulse/realtime/panels.py computes from the same rows (the reads of dal.py, in memory)."""
    by_key = {(r["pk"], r["sk"]): r for r in rows}

    def day_key(key: str) -> str:
        return items.final(key) if final else key

    def prefixed(pk: str, prefix: str) -> list[dict[str, Any]]:
        return [r for (p, s), r in sorted(by_key.items()) if p == pk and s.startswith(day_key(prefix))]

    directory = prefixed("APP", f"DF#{DAY}#")
    features = [str(r["feature"]) for r in directory]
    return {
        "activity": panels.activity_panel(by_key.get(("APP", day_key(f"D#{DAY}"))), directory),
        "funnel": {f: panels.funnel_panel(by_key.get((items.feature_pk(f), day_key(f"D#{DAY}")))) for f in features},
        "campaigns": {f: panels.campaign_rows(prefixed(items.feature_pk(f), f"DC#{DAY}#")) for f in features},
        "variants": {f: panels.variant_rows(prefixed(items.feature_pk(f), f"DV#{DAY}#")) for f in features},
    }


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)  # the panels' JSON rounds rates to 4 decimals


def _assert_sql_equals_panels(connection: duckdb.DuckDBPyConnection, expected: dict[str, Any]) -> None:
    activity = expected["activity"]
    got_activity = {r["feature"]: r for r in _run(connection, "activity")}
    assert {r.feature for r in activity.features} == set(got_activity)
    for row in activity.features:
        got = got_activity[row.feature]
        assert (got["adopters"], got["active_persons"]) == (row.adopters, activity.active_persons)
        assert _rate(got["adoption_rate"]) == row.adoption_rate
    funnel = {(r["feature"], r["stage_order"]): r["persons"] for r in _run(connection, "funnel")}
    for feature, panel in expected["funnel"].items():
        assert [funnel[(feature, k)] for k in (1, 2, 3)] == [
            panel.feature_viewers,
            panel.feature_users,
            panel.completers,
        ]
    campaigns = _run(connection, "campaigns")
    for feature, rows in expected["campaigns"].items():
        got = sorted(
            (r["campaign"], r["feature_viewers"], r["adopters"], r["completers"], _rate(r["completers_per_viewer"]))
            for r in campaigns
            if r["feature"] == feature
        )
        assert got == sorted(
            (c.campaign, c.feature_viewers, c.adopters, c.completers, c.completers_per_viewer) for c in rows
        )
    variants = _run(connection, "variants")
    for feature, rows in expected["variants"].items():
        got = sorted(
            (r["experiment_id"], r["variation_id"], r["feature_viewers"], r["completers"])
            for r in variants
            if r["feature"] == feature
        )
        assert got == [(v.experiment_id, v.variation_id, v.feature_viewers, v.completers) for v in rows]


def test_each_dataset_shows_what_the_live_panels_compute_from_the_live_rows(table: duckdb.DuckDBPyConnection):
    # Given the live rows of the scenario's day
    rows = _scenario_items()
    _load(table, rows)
    # Then every panel's SQL gives the numbers the panels module computes from the same rows
    expected = _panels_of(rows, final=False)
    assert expected["activity"].active_persons == 8
    _assert_sql_equals_panels(table, expected)


def test_once_the_day_is_final_every_dataset_reads_the_final_rows_only(table: duckdb.DuckDBPyConnection):
    # Given the live rows and final rows of the same day with other figures (the batch saw more links)
    rows = _scenario_items()
    batch = [
        {
            "dimension": "app",
            "feature": "",
            "campaign": "",
            "experiment_id": "",
            "variation_id": "",
            **dict.fromkeys(("events", "views", "persons", "persons_view", "adopters"), 6),
        },
        {
            "dimension": "feature",
            "feature": "checkout",
            "campaign": "",
            "experiment_id": "",
            "variation_id": "",
            **dict.fromkeys(("events", "views", "persons", "persons_view", "persons_complete", "adopters"), 4),
        },
        {
            "dimension": "campaign",
            "feature": "checkout",
            "campaign": "spring",
            "experiment_id": "",
            "variation_id": "",
            **dict.fromkeys(("events", "views", "persons", "persons_view", "adopters"), 2),
        },
    ]
    batch = [
        {
            **dict.fromkeys(
                (
                    "uses",
                    "completions",
                    "dismissals",
                    "persons_use",
                    "persons_complete",
                    "persons_dismiss",
                    "duration_count",
                    "duration_sum_ms",
                ),
                0,
            ),
            **b,
        }
        for b in batch
    ]
    final = final_items(batch, date(2025, 3, 1), realtime_scenario.settings())
    _load(table, rows + final)
    # Then the SQL shows the final figures, not the live ones and not both
    expected = _panels_of(rows + final, final=True)
    assert expected["activity"].active_persons == 6 and [r.feature for r in expected["activity"].features] == [
        "checkout"
    ]
    _assert_sql_equals_panels(table, expected)
    assert {r["feature"] for r in _run(table, "funnel")} == {"checkout"}
    assert _run(table, "variants") == []


def test_rates_are_the_catalogue_formulas():
    # adoption = adopters / active persons (the report's), and the live unordered ratio has its own name
    assert catalogue.metric("adoption_rate").formula.startswith("adopters / active_persons")
    assert ratio_sql("adoption_rate", {"adopters": "a", "active_persons": "b"}) == (
        "CAST(a AS DOUBLE) / NULLIF(CAST(b AS DOUBLE), 0)"
    )
    assert ratio_sql("completers_per_viewer", {"completers": "c", "feature_viewers": "v"}).startswith("CAST(c ")
    with pytest.raises(ValueError, match="not a ratio"):
        ratio_sql("adopters", {})


def test_dataset_columns_named_like_a_metric_are_catalogue_metrics():
    # `persons` of the funnel data set is the value of its stage rows (viewers, users, completers)
    for name, (_, columns) in PANEL_QUERIES.items():
        for column, _ in columns:
            if catalogue.named_like_a_metric(column) and (name, column) != ("funnel", "persons"):
                assert column in catalogue.METRIC_NAMES, (name, column)

"""The experiments setting reaches the SQL as an inline table bound by the query binder, never as text."""

from __future__ import annotations

import duckdb
import pytest

from featurepulse.local.duckdb_runner import to_duckdb
from featurepulse.reporting.experiments_config import GOAL_TABLE_COLUMNS, goal_rows, parse_experiments
from featurepulse.reporting.queries import InlineTable, QueryBindingError, TableRef, bind

SQL = "SELECT g.experiment_id, g.goal_event, g.window_start FROM experiment_goals AS g ORDER BY 1"


def run_on_duckdb(table: InlineTable) -> list[tuple[object, ...]]:
    athena = bind(SQL, {"experiment_goals": table}, TableRef()).sql(dialect="athena")
    return duckdb.connect().execute(to_duckdb(athena)).fetchall()


def test_the_setting_binds_as_a_values_table_that_athena_and_duckdb_read() -> None:
    # Given a setting with a feature goal and an event goal whose name needs quoting
    config = parse_experiments('{"b": {"goal": {"event": "Plan\'s Upgrade"}}, "a": {"start": "2026-03-01"}}')
    table = InlineTable(GOAL_TABLE_COLUMNS, goal_rows(config))
    # When the query is bound, Then the table is a VALUES list of typed literals (Athena SQL)
    athena = bind(SQL, {"experiment_goals": table}, TableRef()).sql(dialect="athena")
    assert "FROM (VALUES (CAST('a' AS VARCHAR)" in athena and "experiment_goals" not in athena.split("AS g")[1]
    # And DuckDB reads the same rows, the quote intact
    assert run_on_duckdb(table) == [("a", None, "2026-03-01"), ("b", "Plan's Upgrade", None)]


def test_an_empty_setting_binds_one_row_of_nulls_that_joins_nothing() -> None:
    assert run_on_duckdb(InlineTable(GOAL_TABLE_COLUMNS, ())) == [(None, None, None)]


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(QueryBindingError):
        bind(SQL, {"experiment_goals": InlineTable(GOAL_TABLE_COLUMNS, (("a",),))}, TableRef())


def test_an_inline_table_is_not_a_value_for_a_placeholder() -> None:
    with pytest.raises(QueryBindingError):
        bind("SELECT :x", {"x": InlineTable(("a",), ())}, TableRef())

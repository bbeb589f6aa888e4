"""The .sql files: each parses as Athena SQL, documents itself, dedups, prunes by dt, and binds safely."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlglot
from sqlglot import exp

from featurepulse.local.duckdb_runner import to_duckdb
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import (
    QUERY_NAMES,
    QueryBindingError,
    TableRef,
    bind,
    load_query,
    queries_dir,
    query_parameters,
    render_athena,
)

PARAMS = Period.containing("week", date(2026, 3, 10)).query_parameters(100)


def test_every_sql_file_is_a_known_query() -> None:
    assert sorted(p.stem for p in queries_dir().glob("*.sql")) == sorted(QUERY_NAMES)


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_each_query_parses_as_one_athena_statement(name: str) -> None:
    statements = sqlglot.parse(load_query(name), read="athena")
    assert len(statements) == 1
    assert isinstance(statements[0], exp.Query)


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_each_query_header_says_what_it_returns_and_documents_every_parameter(name: str) -> None:
    sql = load_query(name)
    header = "\n".join(line for line in sql.splitlines() if line.startswith("--"))
    assert sql.startswith("-- ")
    assert "Returns" in header
    for parameter in query_parameters(sql):
        assert f":{parameter}" in header, parameter


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_each_query_deduplicates_on_event_id_and_reads_only_a_dt_range(name: str) -> None:
    tree = sqlglot.parse_one(load_query(name), read="athena")
    windows = [w for w in tree.find_all(exp.Window) if isinstance(w.this, exp.RowNumber)]
    assert any([p.name for p in w.args.get("partition_by") or []] == ["event_id"] for w in windows)
    lake_reads = [t for t in tree.find_all(exp.Table) if t.name == "events"]
    assert len(lake_reads) == 1
    where = lake_reads[0].find_ancestor(exp.Select).args["where"]  # type: ignore[union-attr]
    between = where.find(exp.Between)
    assert between is not None and between.this.name == "dt"


def test_binding_turns_placeholders_into_literals_and_qualifies_the_table() -> None:
    sql = render_athena("period_summary", PARAMS, TableRef(table="events", database="lake_db"))
    assert ":" not in re.sub(r"'[^']*'", "", sql)
    assert "'2026-03-09'" in sql and "'2026-03-15'" in sql
    assert '"lake_db"."events"' in sql


def test_a_string_value_cannot_inject_sql() -> None:
    with pytest.raises(QueryBindingError):
        bind("SELECT 1 FROM events WHERE dt = :start_date", {"start_date": "x' OR '1'='1"}, TableRef())  # type: ignore[dict-item]


def test_a_missing_parameter_is_an_error_naming_it() -> None:
    with pytest.raises(QueryBindingError, match="lookback_start_date"):
        bind(
            load_query("active_users_daily"), {"start_date": date(2026, 1, 1), "end_date": date(2026, 1, 1)}, TableRef()
        )


@pytest.mark.parametrize("name", ["lake; DROP TABLE x", 'a"b', ""])
def test_table_and_database_names_are_validated(name: str) -> None:
    with pytest.raises(QueryBindingError):
        TableRef(table=name or " ", database="db")


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_each_query_translates_to_duckdb(name: str) -> None:
    athena_sql = bind(load_query(name), PARAMS, TableRef()).sql(dialect="athena")
    assert to_duckdb(athena_sql)

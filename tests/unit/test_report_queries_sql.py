"""The .sql files: each parses as Athena SQL, documents itself, reads the de-duplicated base view (which prunes
by dt), and binds safely."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from featurepulse.local.duckdb_runner import to_duckdb
from featurepulse.reporting.athena_runner import AthenaQueryRunner
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import (
    BASE_VIEW,
    IDENTITIES_TABLE_JOB_ARGUMENT,
    QUERY_NAMES,
    SCAN_START_PARAMETER,
    QueryBindingError,
    TableRef,
    bind,
    load_base_view,
    load_query,
    queries_dir,
    query_parameters,
    query_scan_parameters,
    render_athena,
)

PARAMS = Period.containing("week", date(2026, 3, 10)).query_parameters(100)


# SQL files that are not report queries: the base view, the traits view (docs/segments.md), the identity build's
# query (featurepulse/identity) and the live day rows' correction (featurepulse/realtime/finalize.py).
NOT_REPORT_QUERIES = (BASE_VIEW, "person_traits", "identity_links", "live_day_metrics", "campaign_spend_totals")


def test_every_sql_file_is_a_known_query() -> None:
    assert sorted(p.stem for p in queries_dir().glob("*.sql")) == sorted((*QUERY_NAMES, *NOT_REPORT_QUERIES))


def test_every_report_query_says_where_its_base_view_scan_starts() -> None:
    assert sorted(SCAN_START_PARAMETER) == sorted(QUERY_NAMES)


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


def test_the_base_view_deduplicates_on_source_and_event_id_and_reads_only_a_dt_range() -> None:
    # Given the base view
    tree = sqlglot.parse_one(load_base_view(), read="athena")
    # Then it numbers the copies of each (source_id, event_id) by arrival and keeps the first
    windows = [w for w in tree.find_all(exp.Window) if isinstance(w.this, exp.RowNumber)]
    assert [[p.name for p in w.args.get("partition_by") or []] for w in windows] == [["source_id", "event_id"]]
    assert [o.this.name for o in windows[0].args["order"].expressions] == ["received_at"]
    # And it reads the lake once, between :scan_start_date and :end_date on the partition column
    lake_reads = [t for t in tree.find_all(exp.Table) if t.name == "events"]
    assert len(lake_reads) == 1
    where = lake_reads[0].find_ancestor(exp.Select).args["where"]  # type: ignore[union-attr]
    between = where.find(exp.Between)
    assert between is not None and between.this.name == "dt"
    assert {between.args["low"].name, between.args["high"].name} == {"scan_start_date", "end_date"}


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_each_query_reads_the_base_view_and_never_the_lake_itself(name: str) -> None:
    tree = sqlglot.parse_one(load_query(name), read="athena")
    tables = {t.name for t in tree.find_all(exp.Table)} - {cte.alias for cte in tree.find_all(exp.CTE)}
    assert BASE_VIEW in tables
    assert not tables & {"events", "identities"}
    # And its header says which of its parameters starts the base view's scan
    header = "\n".join(line for line in load_query(name).splitlines() if line.startswith("--"))
    assert f"person_events with :scan_start_date = :{SCAN_START_PARAMETER[name]}" in header


def test_the_base_view_is_inlined_as_the_first_cte_bound_with_the_query_scan_start() -> None:
    # Given a day's summary (scan from the period's start) and the daily actives (30 days more for MAU)
    summary = render_athena("period_summary", PARAMS, TableRef(table="events", database="lake_db"))
    actives = render_athena("active_users_daily", PARAMS, TableRef(table="events", database="lake_db"))
    # Then each starts with the base view as a CTE, reading the lake and the identities of the same database
    for sql in (summary, actives):
        assert sql.startswith("WITH person_events AS (")
        assert '"lake_db"."events"' in sql and '"lake_db"."identities"' in sql
    # And the view's scan starts where each query needs it
    assert "BETWEEN '2026-03-09' AND '2026-03-15'" in summary
    assert "BETWEEN '2026-02-07' AND '2026-03-15'" in actives


def test_the_identities_table_name_is_qualified_like_the_events_table() -> None:
    sql = render_athena("period_summary", PARAMS, TableRef("ev", "lake_db", identities_table="persons_v2"))
    assert '"lake_db"."ev"' in sql and '"lake_db"."persons_v2"' in sql


def test_a_query_that_reads_the_base_view_needs_the_base_view_parameters() -> None:
    assert "scan_start_date" in query_parameters(load_query("feature_funnel"))
    with pytest.raises(QueryBindingError, match="scan_start_date"):
        bind(load_query("feature_funnel"), PARAMS, TableRef())
    assert query_scan_parameters("feature_funnel", PARAMS)["scan_start_date"] == PARAMS["start_date"]


def test_binding_turns_placeholders_into_literals_and_qualifies_the_table() -> None:
    sql = render_athena("period_summary", PARAMS, TableRef(table="events", database="lake_db"))
    assert ":" not in re.sub(r"'[^']*'", "", sql)  # no placeholder is left (string literals aside)
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
    with pytest.raises(QueryBindingError):
        TableRef(table="events", database="db", identities_table=name)


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_each_query_translates_to_duckdb(name: str) -> None:
    athena_sql = bind(load_query(name), query_scan_parameters(name, PARAMS), TableRef()).sql(dialect="athena")
    assert to_duckdb(athena_sql)


def test_the_athena_runner_reads_the_identity_table_the_job_names() -> None:
    # Given the Glue job's arguments with the identity table's name (the argument the CDK construct passes)
    from glue_jobs.campaign_report import OPTIONAL, parse_job_arguments

    assert IDENTITIES_TABLE_JOB_ARGUMENT in OPTIONAL
    argv = [
        *("--period", "day", "--database", "lake_db", "--events_table", "ev", "--workgroup", "wg"),
        *("--sender", "a@example.com", "--recipients", "b@example.com", "--send_log_table", "log"),
        *(f"--{IDENTITIES_TABLE_JOB_ARGUMENT}", "persons_v2"),
    ]
    args = parse_job_arguments(argv)
    seen: list[str] = []

    def read_sql_query(sql: str, **_: object) -> pd.DataFrame:
        seen.append(sql)
        return pd.DataFrame({"events": [0]})

    # When the Athena runner built from them runs a report query
    runner = AthenaQueryRunner(
        database=args.database,
        table=args.events_table,
        identities_table=args.identities_table,
        workgroup=args.workgroup,
        read_sql_query=read_sql_query,
    )
    runner.run("period_summary", PARAMS)
    # Then the query reads that identity table, in the lake's database
    assert '"lake_db"."persons_v2"' in seen[0] and '"lake_db"."ev"' in seen[0]

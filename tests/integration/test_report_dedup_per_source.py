"""The report counts an event once per (source_id, messageId): two sources that send the same messageId are two
events, and a resend of either is still one (the base view athena_queries/person_events.sql, run by DuckDB)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.reporting.periods import Period
from tests.reporting_dataset import REPORT_DAY, make_event, write_identities, write_lake

AT = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 9, 0)


def test_two_sources_with_the_same_message_id_are_both_in_the_report_and_resends_are_not(tmp_path: Path) -> None:
    # Given two sources that both send messageId order-1001 (different users), and the web one resent
    web = make_event("order-1001", "u-web", AT, event="Feature Used", feature="export", stage="use")
    ios = {
        **make_event("order-1001", "u-ios", AT, event="Feature Completed", feature="export", stage="complete"),
        "source_id": "src-ios",
    }
    resent = {**web, "received_at": web["received_at"] + timedelta(minutes=5)}
    rows = [web, ios, resent]
    write_lake(tmp_path, rows)
    write_identities(tmp_path, rows)
    # When the report's headline query runs on the lake
    runner = DuckDbQueryRunner(tmp_path)
    try:
        summary = runner.run("period_summary", Period.containing("day", REPORT_DAY).query_parameters(10)).rows
    finally:
        runner.close()
    # Then both events count, once each: two persons, both adopters, one completer
    (row,) = summary
    assert (row["events"], row["active_persons"], row["adopters"], row["completers"]) == (2, 2, 2, 1)

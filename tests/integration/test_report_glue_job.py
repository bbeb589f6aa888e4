"""The Glue job entry point: arguments as Glue passes them, the whole run against moto, the Athena runner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.reporting.athena_runner import AthenaQueryRunner
from featurepulse.reporting.dal.send_log import create_send_log_table
from glue_jobs.campaign_report import main, parse_job_arguments, resolve_options
from tests.reporting_dataset import demo_events, write_lake

REPO = Path(__file__).resolve().parents[2]
ARGS = [
    "--JOB_ID", "j_123", "--JOB_RUN_ID", "jr_456", "--job-bookmark-option", "job-bookmark-disable",
    "--period", "day",
    "--database", "featurepulse_lake",
    "--events_table", "events",
    "--workgroup", "featurepulse",
    "--sender", "Reports <reports@example.com>",
    "--recipients", "a@example.com,b@example.com",
    "--send_log_table", "report-sends",
    "--min_exposed_per_variant", "10",
]  # fmt: skip


def test_glue_arguments_are_resolved_and_unknown_ones_ignored() -> None:
    args = parse_job_arguments([*ARGS, "--date=2026-03-10", "--force", "true"])
    assert args.period == "day" and args.database == "featurepulse_lake" and args.force is True
    assert args.report_period(date(2030, 1, 1)).start == date(2026, 3, 10)
    assert args.settings().recipients == ("a@example.com", "b@example.com")


def test_auto_date_reports_yesterday_and_the_week_that_contains_it() -> None:
    assert parse_job_arguments(ARGS).report_period(date(2026, 3, 16)).start == date(2026, 3, 15)
    weekly = parse_job_arguments([*ARGS, "--period", "week"]).report_period(date(2026, 3, 16))
    assert (weekly.start, weekly.end) == (date(2026, 3, 9), date(2026, 3, 15))


def test_a_missing_argument_stops_the_job_with_its_name() -> None:
    with pytest.raises(SystemExit, match="--workgroup"):
        resolve_options(["--period", "day"], ["period", "workgroup"])


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        create_send_log_table(session.client("dynamodb"), "report-sends")
        session.client("sesv2").create_email_identity(EmailIdentity="reports@example.com")
        yield session


def test_the_job_mails_the_day_once(aws: Any, tmp_path: Path) -> None:
    # Given a lake and a verified sender; When the scheduled daily run happens twice on 11 March
    write_lake(tmp_path, demo_events())
    now = datetime(2026, 3, 11, 6, tzinfo=UTC)
    first = main(ARGS, now=now, runner=DuckDbQueryRunner(tmp_path), boto3_session=aws)
    second = main(ARGS, now=now, runner=DuckDbQueryRunner(tmp_path), boto3_session=aws)
    # Then the report of 10 March went out once
    assert first.status == "sent" and first.report_key == "feature-report#day-2026-03-10"
    assert second.status == "skipped"
    assert len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages) == 1


def test_athena_runner_sends_bound_sql_to_the_workgroup_and_keeps_bytes_scanned() -> None:
    # Given awswrangler's answer (a DataFrame with Athena's metadata)
    calls: list[dict[str, Any]] = []

    def read_sql_query(sql: str, **kwargs: Any) -> pd.DataFrame:
        calls.append({"sql": sql, **kwargs})
        frame = pd.DataFrame(
            {"feature": ["a", None], "viewed": pd.array([3, 1], dtype="Int64"), "rate": [0.5, float("nan")]}
        )
        object.__setattr__(frame, "query_metadata", {"Statistics": {"DataScannedInBytes": 1234}})  # as awswrangler
        return frame

    runner = AthenaQueryRunner(database="lake_db", table="events", workgroup="wg", read_sql_query=read_sql_query)
    # When a query runs
    result = runner.run("feature_funnel", {"start_date": date(2026, 3, 10), "end_date": date(2026, 3, 10)})
    # Then Athena got the bound SQL on the qualified table, without CTAS, in the workgroup
    (call,) = calls
    assert call["workgroup"] == "wg" and call["database"] == "lake_db" and call["ctas_approach"] is False
    assert '"lake_db"."events"' in call["sql"] and "'2026-03-10'" in call["sql"] and ":start_date" not in call["sql"]
    # And the rows are plain Python values
    assert result.rows == ({"feature": "a", "viewed": 3, "rate": 0.5}, {"feature": None, "viewed": 1, "rate": None})
    assert result.bytes_scanned == 1234


def test_a_scheduled_run_on_a_day_without_events_succeeds_without_mailing(aws: Any, tmp_path: Path) -> None:
    # Given a lake with no event on 12 March; When the scheduled daily run of 13 March happens
    write_lake(tmp_path, demo_events())
    outcome = main(
        ARGS, now=datetime(2026, 3, 13, 6, tzinfo=UTC), runner=DuckDbQueryRunner(tmp_path), boto3_session=aws
    )
    # Then the run returns (Glue marks it succeeded: no alarm), mails nothing and records nothing
    assert outcome.status == "empty" and outcome.report_key == "feature-report#day-2026-03-12"
    assert ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages == []
    assert "Item" not in aws.client("dynamodb").get_item(
        TableName="report-sends", Key={"report_key": {"S": outcome.report_key}}
    )

"""The report job builds the identity table before its queries: locally (DuckDB) and in the Glue job (Athena)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from featurepulse.identity.build import athena_refresher
from featurepulse.identity.store import IdentityStore
from featurepulse.lake.store import S3Store
from featurepulse.local.identity import local_identity_store
from featurepulse.local.reports import LocalReportTarget, run_local_report
from glue_jobs.campaign_report import identity_build, parse_job_arguments
from tests.integration.test_identity_build import AthenaOverLocalLake
from tests.reporting_dataset import LINKED_PERSONS, REPORT_DAY, linking_events, write_lake

GLUE_ARGS = [
    "--period", "day",
    "--database", "lake",
    "--events_table", "events_table",
    "--workgroup", "wg",
    "--sender", "reports@example.com",
    "--recipients", "a@example.com",
    "--send_log_table", "sends",
]  # fmt: skip


def test_a_local_report_run_builds_the_identity_table_first_and_counts_persons(tmp_path: Path) -> None:
    # Given a lake of linked persons and no identity table yet
    lake = tmp_path / "lake"
    rows = linking_events()
    write_lake(lake, rows)
    assert local_identity_store(lake).read_state() is None
    # When the day's report runs locally
    outcome, _ = run_local_report(
        "day", REPORT_DAY, LocalReportTarget(lake, tmp_path / "outbox"), now=datetime(2026, 3, 11, 6, tzinfo=UTC)
    )
    # Then the identity table was built, with the persons written by hand in the dataset
    persons = {r.id: r.person_id for r in local_identity_store(lake).read_identities()}
    assert {i: persons[i] for i in LINKED_PERSONS} == LINKED_PERSONS
    # And the report counted persons, not ids: the day's active ids collapse onto their persons
    day_rows = [r for r in rows if r["timestamp"].date() == REPORT_DAY]
    ids = {r["user_id"] or r["anonymous_id"] for r in day_rows}
    day_persons = {persons.get(r["user_id"] or r["anonymous_id"], r["user_id"] or r["anonymous_id"]) for r in day_rows}
    assert outcome.status == "sent"
    assert outcome.headline["active_persons"] == len(day_persons) < len(ids)


def test_the_glue_job_builds_the_identity_table_only_when_it_knows_the_lake_bucket() -> None:
    # Given the job's arguments without, then with, --lake_bucket
    # Then only the second has an identity build to run before the queries
    session = boto3.session.Session(region_name="us-east-1")
    assert identity_build(parse_job_arguments(GLUE_ARGS), session) is None
    assert callable(identity_build(parse_job_arguments([*GLUE_ARGS, "--lake_bucket", "lake"]), session))


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket="lake")
        yield session


def test_the_athena_build_of_the_job_writes_the_identity_table_into_the_lake_bucket(aws: Any, tmp_path: Path) -> None:
    # Given the lake's events (read by Athena's stand-in) and the lake bucket
    lake = tmp_path / "lake"
    write_lake(lake, linking_events())
    engine = AthenaOverLocalLake(lake)
    # When the report job's identity build runs
    result = athena_refresher(
        session=aws, lake_bucket="lake", database="lake", events_table="events_table", workgroup="wg",
        read_sql_query=engine,
    )()  # fmt: skip
    # Then Athena was asked in the job's workgroup, and the bucket holds the persons
    assert engine.calls and engine.calls[0][1]["workgroup"] == "wg"
    persons = {r.id: r.person_id for r in IdentityStore(S3Store(aws.client("s3"), "lake")).read_identities()}
    assert {i: persons[i] for i in LINKED_PERSONS} == LINKED_PERSONS
    assert result.persons == len(set(persons.values()))

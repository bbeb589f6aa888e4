"""`featurepulse erase` from the command line: the local lake (address book) and a bucket; user errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow.dataset as ds
import pytest
from moto import mock_aws

from featurepulse.cli import main
from featurepulse.lake.cli import parse_when
from featurepulse.lake.layout import AUDIT_ERASURE_PREFIX
from featurepulse.lake.local import local_lake_store
from featurepulse.lake.store import S3Store
from featurepulse.lake.writer import LakeWriter
from tests.lake_samples import user_events

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def local_stack(tmp_path: Path) -> Path:
    """A stopped local stack: its address book and a lake written by the local writer."""
    root = tmp_path / ".featurepulse"
    lake_dir, quarantine_dir = root / "lake", root / "quarantine"
    writer = LakeWriter([local_lake_store(lake_dir, quarantine_dir)])
    for user in ("u-alice", "u-bob"):
        writer.add_rows(user_events(user, f"a-{user}", T0, 5, timedelta(hours=1)))
    writer.flush()
    quarantine_dir.mkdir(parents=True)
    book = {"status": "stopped", "lake_dir": str(lake_dir), "quarantine_dir": str(quarantine_dir)}
    (root / "local.json").write_text(json.dumps(book))
    return root


def test_erase_on_the_local_lake_removes_the_user_and_prints_the_audit_entry(
    local_stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a local lake and a batch file naming alice
    users = tmp_path / "users.txt"
    users.write_text("# GDPR requests of the week\nu-alice\n\n")
    # When the batch form runs
    code = main(["erase", "--file", str(users), "--local-dir", str(local_stack), "--requested-by", "dpo"])
    # Then alice's rows are gone and the command says how many rows and where the audit entry is
    out = capsys.readouterr().out
    assert code == 0
    assert "removed 5 rows" in out and AUDIT_ERASURE_PREFIX in out
    rows = ds.dataset(local_stack / "lake" / "events", format="parquet").to_table().to_pylist()
    assert {r["user_id"] for r in rows} == {"u-bob"}


@pytest.fixture
def bucket() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        writer = LakeWriter([S3Store(s3, "lake")])
        writer.add_rows(user_events("u-alice", "a-alice", T0, 3, timedelta(hours=1)))
        writer.flush()
        yield s3


def test_erase_on_a_bucket_records_the_aws_caller_as_requester(bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # When erasing from a deployed bucket without --requested-by
    code = main(["erase", "--user-id", "u-alice", "--bucket", "lake"])
    # Then the audit entry names the caller's AWS identity
    assert code == 0 and "removed 3 rows" in capsys.readouterr().out
    (key,) = [o["Key"] for o in bucket.list_objects_v2(Bucket="lake", Prefix=AUDIT_ERASURE_PREFIX)["Contents"]]
    entry = json.loads(bucket.get_object(Bucket="lake", Key=key)["Body"].read())
    assert entry["requested_by"].startswith("arn:aws:")


def test_a_dry_run_changes_nothing(bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["erase", "--user-id", "u-alice", "--bucket", "lake", "--dry-run"])
    assert code == 0 and "would remove 3 rows" in capsys.readouterr().out
    assert "Contents" not in bucket.list_objects_v2(Bucket="lake", Prefix=AUDIT_ERASURE_PREFIX)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["erase"], "at least one user id"),
        (["erase", "--user-id", "u", "--file", "/nonexistent/users.txt"], "cannot read"),
        (["erase", "--user-id", "u", "--local-dir", "/nonexistent"], "no local lake"),
        (["quarantine", "replay", "--since", "yesterday-ish"], "not a time"),
        (["quarantine", "replay", "--since", "1d", "--local-dir", "/nonexistent"], "no local stack is running"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    # When a command is given wrong input / Then it exits 2 with one line naming the problem, no stack trace
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_since_accepts_dates_times_and_ages() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_when("2026-11-25", now=now) == datetime(2026, 11, 25, tzinfo=UTC)
    assert parse_when("2026-11-25T08:00Z", now=now) == datetime(2026, 11, 25, 8, tzinfo=UTC)
    assert parse_when("2026-11-25T10:00+02:00", now=now) == datetime(2026, 11, 25, 8, tzinfo=UTC)
    assert parse_when("24h", now=now) == now - timedelta(hours=24)
    assert parse_when("7d", now=now) == now - timedelta(days=7)


def test_an_aws_refusal_is_one_line_not_a_traceback(bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a bucket name that does not exist / When erasing there
    code = main(["erase", "--user-id", "u-alice", "--bucket", "no-such-lake"])
    # Then the command says what AWS refused, in one line, exit 2
    err = capsys.readouterr().err
    assert code == 2 and "NoSuchBucket" in err and "Traceback" not in err

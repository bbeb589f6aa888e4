"""`featurepulse traits import` and `featurepulse spend import` (docs/segments.md): against a lake bucket (moto, as
AWS) and against the running local stack found through its address book; re-imports replace whole, a bad file
changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from featurepulse import cli
from featurepulse.domain.traits import current_imports
from featurepulse.lake.store import LocalStore, S3Store
from featurepulse.traits.schema import CAMPAIGN_SPEND_PREFIX, TRAIT_IMPORTS_PREFIX
from featurepulse.traits.store import TraitStore

BUCKET = "lake-bucket"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def keys(s3: Any, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_a_crm_file_is_imported_into_the_bucket_and_a_reimport_replaces_it_whole(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a CRM export
    first = write(tmp_path / "crm.csv", "userId,plan,region\nu1,pro,EMEA\nu2,free,\n")
    # When it is imported into the lake bucket
    assert cli.main(["traits", "import", str(first), "--key", "userId", "--bucket", BUCKET]) == 0
    # Then its rows are in trait_imports, long form, under the file's name
    store = TraitStore(S3Store(s3, BUCKET))
    rows = store.read_trait_imports()
    assert {(r.key, r.trait, r.value, r.import_name) for r in rows} == {
        ("u1", "plan", "pro", "crm"),
        ("u1", "region", "EMEA", "crm"),
        ("u2", "plan", "free", "crm"),
    }
    assert "2 users, 2 traits (plan, region), 3 values as 'crm'" in capsys.readouterr().out
    # When a corrected export of the same name is imported
    second = write(tmp_path / "crm.csv", "userId,lifecycle\nu3,lead\n")
    assert cli.main(["traits", "import", str(second), "--key", "userId", "--bucket", BUCKET]) == 0
    # Then it replaced the first import whole: one object, only the new rows, no old version left
    assert len(keys(s3, TRAIT_IMPORTS_PREFIX)) == 1
    assert {(r.key, r.trait, r.value) for r in store.read_trait_imports()} == {("u3", "lifecycle", "lead")}
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=TRAIT_IMPORTS_PREFIX)
    assert len(versions.get("Versions", [])) == 1
    assert "replacing the earlier import 'crm'" in capsys.readouterr().out


def test_a_bad_file_is_refused_with_its_line_and_nothing_changes(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an import already in the lake
    good = write(tmp_path / "crm.csv", "userId,plan\nu1,pro\n")
    assert cli.main(["traits", "import", str(good), "--key", "userId", "--bucket", BUCKET]) == 0
    before = keys(s3, TRAIT_IMPORTS_PREFIX)
    capsys.readouterr()
    # When a new version of it has a duplicate user on line 4
    bad = write(tmp_path / "crm.csv", "userId,plan\nu1,team\nu2,free\nu1,enterprise\n")
    code = cli.main(["traits", "import", str(bad), "--key", "userId", "--bucket", BUCKET])
    # Then the command fails with one line naming the file, the line and the column, and the lake is unchanged
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == (
        f"featurepulse: error: {bad}: line 4, column 'userId' (1): duplicate key 'u1' (first on line 2); "
        "nothing imported"
    )
    assert keys(s3, TRAIT_IMPORTS_PREFIX) == before
    assert [r.value for r in TraitStore(S3Store(s3, BUCKET)).read_trait_imports()] == ["pro"]


def test_campaign_spend_is_imported_and_validated(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a spend file
    spend = write(tmp_path / "spend.csv", "campaign,spend_usd\nspring-launch,1200\nai-summary-beta,850.25\n")
    # When it is imported
    assert cli.main(["spend", "import", str(spend), "--bucket", BUCKET]) == 0
    # Then campaign_spend holds one USD row per campaign under the import name 'spend'
    rows = TraitStore(S3Store(s3, BUCKET)).read_spend()
    assert sorted((r.campaign_name, r.spend_usd, r.currency, r.import_name) for r in rows) == [
        ("ai-summary-beta", 850.25, "USD", "spend"),
        ("spring-launch", 1200.0, "USD", "spend"),
    ]
    assert len(keys(s3, CAMPAIGN_SPEND_PREFIX)) == 1
    # And a file with a negative amount is refused naming line and column
    capsys.readouterr()
    bad = write(tmp_path / "bad.csv", "campaign,spend_usd\nspring-launch,-3\n")
    assert cli.main(["spend", "import", str(bad), "--bucket", BUCKET]) == 2
    assert "line 2, column 'spend_usd' (2): negative spend '-3'" in capsys.readouterr().err


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_without_a_bucket_the_import_goes_to_the_running_local_stack_lake_and_its_bucket(
    tmp_path: Path, moto_url: str
) -> None:
    # Given a running local stack (its address book, its moto lake bucket and its lake directory)
    root, lake_dir = tmp_path / ".featurepulse", tmp_path / "lake"
    root.mkdir()
    book = {"status": "running", "aws_endpoint_url": moto_url, "region": "us-east-1", "lake_bucket": BUCKET}
    (root / "local.json").write_text(json.dumps({**book, "lake_dir": str(lake_dir)}), encoding="utf-8")
    s3 = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    s3.create_bucket(Bucket=BUCKET)
    accounts = write(tmp_path / "Accounts export.csv", "groupId,size\nacct_001,11-50\n")
    # When account traits are imported with no --bucket
    assert cli.main(["traits", "import", str(accounts), "--key", "groupId", "--account", "--local-dir", str(root)]) == 0
    # Then the local lake (read by the local report) and the stack's bucket (read by erasure) both hold them
    for store in (LocalStore(lake_dir), S3Store(s3, BUCKET)):
        rows = current_imports(TraitStore(store).read_trait_imports())
        assert [(r.key_kind, r.key, r.trait, r.value, r.import_name) for r in rows] == [
            ("account", "acct_001", "size", "11-50", "Accounts-export")
        ]


def test_a_local_stack_that_died_is_not_written_to_only_its_lake_directory(tmp_path: Path) -> None:
    # Given an address book that still says 'running' for a process that has exited, on an unreachable endpoint
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    root, lake_dir = tmp_path / ".featurepulse", tmp_path / "lake"
    root.mkdir()
    book = {"status": "running", "pid": finished.pid, "aws_endpoint_url": "http://127.0.0.1:9", "region": "us-east-1"}
    (root / "local.json").write_text(json.dumps({**book, "lake_bucket": BUCKET, "lake_dir": str(lake_dir)}))
    crm = write(tmp_path / "crm.csv", "userId,plan\nu1,pro\n")
    # When traits are imported with no --bucket
    code = cli.main(["traits", "import", str(crm), "--key", "userId", "--local-dir", str(root)])
    # Then the import succeeds into the lake directory, and nothing tried the dead stack's endpoint
    assert code == 0
    assert [(r.key, r.value) for r in TraitStore(LocalStore(lake_dir)).read_trait_imports()] == [("u1", "pro")]

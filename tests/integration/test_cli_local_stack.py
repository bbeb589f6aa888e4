"""CLI verbs find the running local stack by themselves (`.featurepulse/local.json`), as docs/local.md says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from featurepulse import address_book, cli
from featurepulse.local.runtime import sources_table_definition


@pytest.fixture
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _book(root: Path, url: str, status: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    entries = {"status": status, "aws_endpoint_url": url, "region": "us-east-1", "sources_table": "local-sources"}
    (root / "local.json").write_text(json.dumps(entries), encoding="utf-8")


def test_sources_list_uses_the_running_local_stack_without_flags(
    tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # Given a running local stack's address book and its sources table on its moto server, and no AWS settings
    # (every variable the CLI sets is registered with monkeypatch first, so the test leaves the environment as
    # it found it: a leaked AWS_ENDPOINT_URL would send later tests to this test's stopped moto server)
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "SOURCES_TABLE_NAME",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    root = tmp_path / ".featurepulse"
    _book(root, moto_url, "running")
    monkeypatch.setenv(address_book.LOCAL_DIR_ENV, str(root))
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    dynamodb.create_table(TableName="local-sources", **sources_table_definition())
    # When a source is created and listed with no --table
    assert cli.main(["sources", "create", "--name", "web app"]) == 0
    assert cli.main(["sources", "list", "--json"]) == 0
    # Then both went to the local stack's table, and the user was told so
    captured = capsys.readouterr()
    listed = json.loads(captured.out.strip().splitlines()[-1])
    assert [s["name"] for s in listed] == ["web app"]
    assert "using the local stack" in captured.err


def test_a_stopped_local_stack_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Given an address book of a stack that has stopped
    root = tmp_path / ".featurepulse"
    _book(root, "http://127.0.0.1:1", "stopped")
    # When looked up, Then there is no running stack to use
    assert address_book.running_local_stack(root) is None

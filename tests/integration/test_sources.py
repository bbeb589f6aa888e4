"""Sources and write keys against moto: the programmatic API and `featurepulse sources`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from featurepulse import constants
from featurepulse.cli import main
from featurepulse.dal.sources import get_source_by_write_key
from featurepulse.sources import SourceNotFoundError, create_source, list_sources, revoke_source

TABLE = "featurepulse-test-sources"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        monkeypatch.delenv(constants.ENV_SOURCES_TABLE, raising=False)
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": constants.SOURCES_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": constants.SOURCES_TABLE_PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_a_created_source_stores_only_the_hash_of_its_write_key(dynamodb: Any) -> None:
    # Given an empty sources table
    # When a source is created
    created = create_source(TABLE, "web app", dynamodb_client=dynamodb)

    # Then its key is shown once, stored only as its sha256, and looks it up
    (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    assert item[constants.SOURCES_TABLE_PARTITION_KEY]["S"] == hashlib.sha256(created.write_key.encode()).hexdigest()
    assert created.write_key not in json.dumps(item)
    assert item["status"]["S"] == "active"
    assert len(created.write_key) >= 32
    source = get_source_by_write_key(dynamodb, TABLE, created.write_key)
    assert source is not None
    assert (source.source_id, source.name, source.active) == (created.source_id, "web app", True)


def test_every_source_gets_its_own_id_and_key(dynamodb: Any) -> None:
    # Given two sources created with the same name
    first = create_source(TABLE, "app", dynamodb_client=dynamodb)
    second = create_source(TABLE, "app", dynamodb_client=dynamodb)

    # When they are listed / Then both are there, with different ids and keys
    assert first.source_id != second.source_id
    assert first.write_key != second.write_key
    assert {s.source_id for s in list_sources(TABLE, dynamodb_client=dynamodb)} == {first.source_id, second.source_id}


def test_revoking_a_source_keeps_it_listed_as_revoked(dynamodb: Any) -> None:
    # Given a source
    created = create_source(TABLE, "ios app", dynamodb_client=dynamodb)

    # When it is revoked twice
    revoked = revoke_source(TABLE, created.source_id, dynamodb_client=dynamodb)
    again = revoke_source(TABLE, created.source_id, dynamodb_client=dynamodb)

    # Then its key resolves to a revoked source, and the first revocation time is kept
    assert not revoked.active
    assert again.revoked_at == revoked.revoked_at
    source = get_source_by_write_key(dynamodb, TABLE, created.write_key)
    assert source is not None and source.status == "revoked"


def test_revoking_an_unknown_source_is_an_error(dynamodb: Any) -> None:
    # Given no such source / When it is revoked / Then it is refused
    with pytest.raises(SourceNotFoundError):
        revoke_source(TABLE, "src_missing", dynamodb_client=dynamodb)


def test_a_source_name_is_required(dynamodb: Any) -> None:
    # Given a blank name / When a source is created / Then it is refused
    with pytest.raises(ValueError, match="source name"):
        create_source(TABLE, "  ", dynamodb_client=dynamodb)


def test_the_cli_creates_lists_and_revokes(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the sources table
    # When a source is created, listed and revoked with the CLI
    assert main(["sources", "--table", TABLE, "create", "--name", "web app", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert main(["sources", "--table", TABLE, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert main(["sources", "--table", TABLE, "revoke", created["source_id"]]) == 0
    revoked_text = capsys.readouterr().out
    assert main(["sources", "--table", TABLE, "list"]) == 0
    table_text = capsys.readouterr().out

    # Then the key is printed once at creation, never when listing, and the revocation shows
    assert created["write_key"]
    assert [s["source_id"] for s in listed] == [created["source_id"]]
    assert created["write_key"] not in json.dumps(listed)
    assert f"revoked {created['source_id']}" in revoked_text
    assert "gets 401 from" in revoked_text and "cache keys for 60 s" in revoked_text
    assert "revoked" in table_text and created["source_id"] in table_text


def test_the_cli_reads_the_table_from_the_environment(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given SOURCES_TABLE_NAME set
    monkeypatch.setenv(constants.ENV_SOURCES_TABLE, TABLE)

    # When a source is created without --table
    assert main(["sources", "create", "--name", "backend"]) == 0

    # Then it is created, and the key is printed with the warning that it is shown once
    out = capsys.readouterr().out
    assert "write_key:" in out
    assert "cannot be shown again" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["sources", "list"],
            "no sources table: pass --table, set SOURCES_TABLE_NAME, or start the local stack (make serve)",
        ),
        (["sources", "--table", "missing-table", "list"], "sources table 'missing-table' not found"),
        (["sources", "--table", TABLE, "revoke", "src_nope"], "no source with id 'src_nope'"),
        (["sources", "--table", TABLE, "create", "--name", ""], "a source name must be 1 to 128 characters"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(
    dynamodb: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    # Given a user mistake, and no local stack running (a developer's own `make serve` must not answer instead)
    monkeypatch.setenv("FEATUREPULSE_LOCAL_DIR", str(Path(__file__).parent / "no-local-stack-here"))
    # When the command runs
    code = main(argv)

    # Then it exits 2 with one line naming the problem, no stack trace
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"featurepulse: error: {message}"


def test_the_cli_honours_aws_endpoint_url(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a moto server reached only through AWS_ENDPOINT_URL (as in local mode), with a sources table
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="endpoint-sources",
            KeySchema=[{"AttributeName": constants.SOURCES_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": constants.SOURCES_TABLE_PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        # When a source is created and listed with the CLI
        assert main(["sources", "--table", "endpoint-sources", "create", "--name", "local", "--json"]) == 0
        created = json.loads(capsys.readouterr().out)
        assert main(["sources", "--table", "endpoint-sources", "list", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)

        # Then both went to the server
        assert [s["source_id"] for s in listed] == [created["source_id"]]
    finally:
        server.stop()


@pytest.mark.parametrize("where", ["header", "body"])
def test_an_over_long_write_key_gets_401_with_its_reason(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    from featurepulse.dal.sources import MAX_WRITE_KEY_CHARS
    from tests.integration.ingest_support import invoke, moto_stack, proxy_event

    # Given the ingest API over moto, and a 400 KB write key
    with moto_stack(monkeypatch):
        key = "k" * 400_000
        body: dict[str, Any] = {"batch": [{"type": "track", "event": "x", "userId": "u1"}]}
        if where == "body":
            body["writeKey"] = key
            event = proxy_event("/v1/batch", body=body)
        else:
            event = proxy_event("/v1/batch", body=body, write_key=key)

        # When it is sent
        status, _, answer = invoke(event)

    # Then the request is refused as unauthenticated, saying why
    assert status == 401
    assert answer["code"] == "invalid_write_key"
    assert f"longer than {MAX_WRITE_KEY_CHARS} characters" in answer["message"]

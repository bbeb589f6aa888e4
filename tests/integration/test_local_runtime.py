"""The local runtime in-process: moto, the CDK's resources, the real ingest handler over HTTP, the components."""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path

import pytest
from rich.console import Console

from featurepulse.constants import SOURCES_TABLE_PARTITION_KEY
from featurepulse.local.components import LocalContext
from featurepulse.local.demo import DemoOutcome, run_demo
from featurepulse.local.runtime import (
    LOCAL_LAKE_BUCKET,
    LOCAL_SOURCES_TABLE,
    LOCAL_STREAM_NAME,
    LocalStack,
    LocalStackError,
    LocalStackOptions,
    load_components,
    read_quarantine,
    read_stream,
)
from featurepulse.local.traffic import SegmentHttpSender

CALLS: list[tuple[str, str]] = []


class RecordingComponent:
    """A component that records what the runtime asks of it and publishes an address."""

    name = "recorder"

    def start(self, ctx: LocalContext) -> None:
        CALLS.append((self.name, "start"))
        self.stream_name = ctx.stream_name
        ctx.address_book.update(recorder_url="http://127.0.0.1:1/recorder")

    def drain(self, ctx: LocalContext, timeout_s: float) -> None:
        CALLS.append((self.name, "drain"))

    def summary(self, ctx: LocalContext) -> list[str]:
        return [f"recorder saw stream {self.stream_name}"]

    def stop(self) -> None:
        CALLS.append((self.name, "stop"))


class BrokenComponent(RecordingComponent):
    name = "broken"

    def start(self, ctx: LocalContext) -> None:
        CALLS.append((self.name, "start"))
        raise RuntimeError("cannot start")


RECORDER = f"{__name__}:RecordingComponent"
BROKEN = f"{__name__}:BrokenComponent"


@pytest.fixture(autouse=True)
def _clean_calls():
    CALLS.clear()


@pytest.fixture
def options(tmp_path: Path) -> LocalStackOptions:
    return LocalStackOptions(root=tmp_path / ".featurepulse", port=0, port_is_default=False, components=())


@pytest.fixture
def started(options: LocalStackOptions):
    stack = LocalStack(options)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_stack_creates_the_stacks_resources_and_a_demo_source_and_writes_the_address_book(started: LocalStack):
    # Given a started stack
    book = json.loads(started.address_book.path.read_text())
    # Then local.json has the addresses of every part that exists
    assert book["status"] == "running"
    assert book["endpoint"].startswith("http://127.0.0.1:")
    assert book["aws_endpoint_url"] == os.environ["AWS_ENDPOINT_URL"]
    assert book["write_key"] == started.write_key and book["write_key"]
    assert (book["region"], book["stream_name"], book["sources_table"]) == (
        "us-east-1",
        LOCAL_STREAM_NAME,
        LOCAL_SOURCES_TABLE,
    )
    # And moto has the stream (on-demand), the sources table (the shared key), the lake bucket
    stream = started.client("kinesis").describe_stream_summary(StreamName=LOCAL_STREAM_NAME)
    assert stream["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    table = started.client("dynamodb").describe_table(TableName=LOCAL_SOURCES_TABLE)["Table"]
    assert table["KeySchema"] == [{"AttributeName": SOURCES_TABLE_PARTITION_KEY, "KeyType": "HASH"}]
    assert started.client("dynamodb").scan(TableName=LOCAL_SOURCES_TABLE)["Count"] == 1
    started.client("s3").head_bucket(Bucket=LOCAL_LAKE_BUCKET)


def test_an_event_posted_to_the_endpoint_goes_through_the_real_handler_onto_the_stream(started: LocalStack):
    # Given the demo source's write key
    sender = SegmentHttpSender(started.address_book.snapshot()["endpoint"], started.write_key)
    # When a track call is posted
    status, _ = sender.post(
        "/v1/track",
        {"messageId": "rt-1", "userId": "u1", "event": "Feature Used", "properties": {"feature": "smart-search"}},
    )
    sender.close()
    # Then it is accepted and on the stream, enriched
    assert status == 200
    events = {e["event_id"]: e for e in read_stream(started.client("kinesis"), LOCAL_STREAM_NAME).events}
    assert events["rt-1"]["stage"] == "use"
    assert events["rt-1"]["source_id"] == started.source_id


def test_an_invalid_event_beside_a_valid_one_is_quarantined_in_the_lake_bucket(started: LocalStack):
    sender = SegmentHttpSender(started.address_book.snapshot()["endpoint"], started.write_key)
    status, answer = sender.post(
        "/v1/batch",
        {
            "batch": [
                {"type": "track", "messageId": "ok-1", "userId": "u", "event": "x"},
                {"type": "track", "event": "y"},
            ]
        },
    )
    sender.close()
    assert status == 200
    assert [item["index"] for item in answer.get("rejected") or answer.get("errors")] == [1]
    quarantined = read_quarantine(started.client("s3"), LOCAL_LAKE_BUCKET)
    assert [q["index"] for q in quarantined] == [1]
    assert "ok-1" in {e["event_id"] for e in read_stream(started.client("kinesis"), LOCAL_STREAM_NAME).events}


def test_components_start_drain_and_stop_in_order_and_a_broken_one_does_not_stop_the_others(
    options: LocalStackOptions,
):
    # Given a working and a broken component
    options.components = (RECORDER, BROKEN)
    stack = LocalStack(options)
    # When the stack starts, drains and stops
    stack.start()
    try:
        book = stack.address_book.snapshot()
        stack.drain(5)
        summaries = dict(stack.summaries())
    finally:
        stack.stop()
    # Then the working one ran its whole life cycle and published its address, the broken one is reported
    assert book["recorder_url"] == "http://127.0.0.1:1/recorder"
    assert book["status"] == "running"
    assert summaries["recorder"] == [f"recorder saw stream {LOCAL_STREAM_NAME}"]
    assert summaries["broken"][0].startswith("FAILED: RuntimeError: cannot start")
    assert [s.name for s in stack.failed_components] == ["broken"]
    assert CALLS == [
        ("recorder", "start"),
        ("broken", "start"),
        ("recorder", "drain"),
        ("broken", "stop"),
        ("recorder", "stop"),
    ]


def test_stop_closes_the_ports_restores_the_environment_and_marks_the_address_book(options: LocalStackOptions):
    # Given a started stack
    before = os.environ.get("AWS_ENDPOINT_URL")
    stack = LocalStack(options)
    stack.start()
    book = stack.address_book.snapshot()
    assert _port_open(book["endpoint"]) and _port_open(book["aws_endpoint_url"])
    # When it stops (twice: stopping is idempotent)
    stack.stop()
    stack.stop()
    # Then nothing listens any more, the environment is as before, local.json says stopped
    assert not _port_open(book["endpoint"])
    assert not _port_open(book["aws_endpoint_url"])
    assert os.environ.get("AWS_ENDPOINT_URL") == before
    assert json.loads(stack.address_book.path.read_text())["status"] == "stopped"


def test_a_second_stack_on_the_same_directory_is_refused_while_the_first_runs(started: LocalStack):
    second = LocalStack(LocalStackOptions(root=started.root, port=0, port_is_default=False, components=()))
    # Pretend the first stack belongs to another process (it is this one in the test)
    started.address_book.update(pid=os.getppid())
    with pytest.raises(LocalStackError, match="already running") as refused:
        second.start()
    # And the message names the running pid to stop, and the refused stack never began (nothing to stop)
    assert f"`kill {os.getppid()}`" in str(refused.value)
    assert not second.began


def test_a_busy_default_port_falls_back_to_a_free_one_and_a_busy_explicit_port_is_an_error(tmp_path: Path):
    # Given a port that something else listens on
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # When the stack is asked for it as the default, Then it takes another one
        fallback = LocalStack(LocalStackOptions(root=tmp_path / "a", port=port, port_is_default=True, components=()))
        fallback.start()
        try:
            assert not fallback.address_book.snapshot()["endpoint"].endswith(f":{port}")
        finally:
            fallback.stop()
        # And when the user asked for it explicitly, Then it is an error that names the port
        explicit = LocalStack(LocalStackOptions(root=tmp_path / "b", port=port, port_is_default=False, components=()))
        with pytest.raises(LocalStackError, match=str(port)):
            explicit.start()


def test_components_of_capabilities_not_built_yet_are_skipped():
    states = load_components(("featurepulse.not_built_yet.local:Thing", RECORDER))
    assert [s.name for s in states] == ["recorder"]


def test_an_unknown_component_name_is_refused_before_anything_starts(options: LocalStackOptions):
    # Given a typo in the components asked for
    options.components = (RECORDER,)
    options.only_components = frozenset({"recordr"})
    before = dict(os.environ)
    # When the stack starts, Then it refuses with the names it knows, before moto or local.json exist
    with pytest.raises(LocalStackError, match=r"recordr.*available: recorder"):
        LocalStack(options).start()
    assert not options.root.joinpath("local.json").exists()
    assert dict(os.environ) == before
    assert CALLS == []


def test_the_demo_accounts_for_every_event_it_sent(options: LocalStackOptions):
    # Given the demo with a recording component, for 2 seconds at 30 events/s
    options.components = (RECORDER,)
    console = Console(file=open(os.devnull, "w"), width=120)  # noqa: SIM115 - closed with the console below
    # When it runs
    try:
        outcome = run_demo(options, duration_s=2, rate_eps=30, seed=5, console=console)
    finally:
        console.file.close()
    # Then every accepted event is on the stream, every invalid one in quarantine, and the exit code is 0
    assert isinstance(outcome, DemoOutcome)
    assert outcome.exit_code == 0
    assert outcome.traffic.sent_valid == 60
    assert outcome.traffic.accepted_ids <= outcome.stream.event_ids
    assert len(outcome.quarantined) == sum(outcome.traffic.sent_invalid.values())
    assert ("recorder", "drain") in CALLS and CALLS[-1] == ("recorder", "stop")


def test_the_endpoint_serves_the_openapi_document_of_the_handler(started: LocalStack):
    host, port = started.address_book.snapshot()["endpoint"].removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/openapi.json")
        response = conn.getresponse()
        document = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200
    assert "/v1/batch" in document["paths"]

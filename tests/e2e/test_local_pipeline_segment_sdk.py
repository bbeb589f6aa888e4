"""End to end: `featurepulse local --serve` in its own process, a stock Segment SDK as the client.

The real `segment-analytics-python` SDK (only its host changed) sends every call type to the local endpoint,
which runs the real ingest handler; the events are read back from the (moto) Kinesis stream and every field of
the enriched event is checked. Raw HTTP covers what an SDK refuses to send (bad bodies, oversize requests).
The last tests run the CLI the way people do: SIGTERM on `--serve`, and the bounded demo.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from segment.analytics.client import Client
from segment.analytics.request import APIError

from featurepulse.domain.packing import unpack_record
from featurepulse.domain.schema import EnrichedEvent, format_timestamp, parse_timestamp
from featurepulse.local.stream_reader import StreamReader

EVENTS = Path(__file__).resolve().parents[1] / "events" / "local"
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90
SOURCE_IP = "127.0.0.1"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "featurepulse.cli", "local", *args]


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO)
    return env


def _wait_for_address_book(path: Path, process: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"featurepulse local exited early with {process.returncode}")
        if path.is_file():
            try:
                book = json.loads(path.read_text())
            except ValueError:
                book = {}
            if book.get("status") == "running":
                return book
        time.sleep(0.2)
    raise AssertionError(f"featurepulse local did not become ready within {timeout_s} s")


def _process_group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc), whatever its process group or session."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


class LocalStackClient:
    """What the tests know about the running stack: its address book, and the stream read from the start."""

    def __init__(self, book: dict[str, Any]) -> None:
        self.book = book
        session = boto3.session.Session(
            region_name=book["region"], aws_access_key_id="featurepulse-local", aws_secret_access_key="x"
        )
        self.kinesis = session.client("kinesis", endpoint_url=book["aws_endpoint_url"])
        self.s3 = session.client("s3", endpoint_url=book["aws_endpoint_url"])
        self.reader = StreamReader(self.kinesis, book["stream_name"], from_start=True)
        self.events: dict[str, dict[str, Any]] = {}
        self.raw_records: list[bytes] = []
        self.copies: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        return str(self.book["endpoint"])

    def poll(self) -> None:
        for record in self.reader.poll():
            self.raw_records.append(record.data)
            for event in unpack_record(record.data):
                self.events[event["event_id"]] = event
                self.copies[event["event_id"]] = self.copies.get(event["event_id"], 0) + 1

    def wait_for(self, event_ids: set[str], timeout_s: float = 15) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            if event_ids <= set(self.events) or time.monotonic() > deadline:
                return {i: self.events[i] for i in event_ids if i in self.events}
            time.sleep(0.2)

    def quarantined(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        bucket = self.book["lake_bucket"]
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="quarantine/"):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                out.extend(json.loads(line) for line in body.splitlines() if line.strip())
        return out

    def post(
        self, path: str, body: bytes, *, write_key: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        key = self.book["write_key"] if write_key is None else write_key
        all_headers = {
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
            **(headers or {}),
        }
        host, port = self.endpoint.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("POST", path, body=body, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode(errors="replace")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    # Given `featurepulse local --serve` in its own process group, ingest only (the pipeline components have
    # their own e2e tests; the SIGTERM and demo tests below run them all)
    state = tmp_path_factory.mktemp("featurepulse-serve")
    process = subprocess.Popen(
        _cli("--serve", "--port", "0", "--dir", str(state), "--components", "none"),
        cwd=state,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        book = _wait_for_address_book(state / "local.json", process, START_TIMEOUT_S)
        yield LocalStackClient(book)
    finally:
        _stop(process)


@pytest.fixture
def sdk(stack: LocalStackClient):
    """The stock SDK, pointed at the local endpoint (only `host` changed), sending each call synchronously."""
    client = Client(write_key=stack.book["write_key"], host=stack.endpoint, sync_mode=True, max_retries=0)
    yield client


def _calls() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / "sdk_calls.json").read_text())
    data.pop("_comment")
    return data


CALLS = _calls()


def test_the_address_book_names_every_part_that_exists(stack: LocalStackClient):
    # Then local.json has the addresses of the running ingest stack
    for key in ("endpoint", "write_key", "aws_endpoint_url", "region", "stream_name", "sources_table"):
        assert stack.book[key], key
    assert stack.book["endpoint"].startswith("http://127.0.0.1:")
    assert stack.book["status"] == "running"


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_stock_segment_sdk_call_arrives_on_the_stream_with_every_field_enriched(
    stack: LocalStackClient, sdk: Client, call: str
):
    # Given one call of the Segment SDK with a client timestamp an hour in the past (a queued event)
    spec = CALLS[call]
    message_id = f"e2e-{call}-{uuid.uuid4()}"
    happened = datetime.now(UTC) - timedelta(hours=1)
    before = datetime.now(UTC)
    # When the SDK sends it to the local endpoint
    _, message = getattr(sdk, spec["method"])(**spec["kwargs"], timestamp=happened, message_id=message_id)
    after = datetime.now(UTC)
    # Then it is on the stream, exactly once, as an enriched event
    event = stack.wait_for({message_id}).get(message_id)
    assert event is not None, f"{call} event not on the stream"
    assert stack.copies[message_id] == 1
    EnrichedEvent.model_validate(event)
    expected = dict(spec["expected"])
    expected_properties = expected.pop("properties")
    for name, value in expected.items():
        assert event[name] == value, name
    assert event["event_id"] == message_id
    assert event["source_id"] == stack.book["source_id"]
    assert event["schema_version"] == 1
    assert json.loads(event["properties"]) == expected_properties
    # And the times: received now, sent by the SDK, the event placed by the skew rule (received - (sent - ts))
    received = parse_timestamp(event["received_at"])
    assert before - timedelta(milliseconds=1) <= received <= after + timedelta(milliseconds=1)
    sent = parse_timestamp(event["sent_at"])
    assert abs(sent - received) < timedelta(seconds=5)
    client_ts = parse_timestamp(message["timestamp"])
    assert event["timestamp"] == format_timestamp(received - (sent - client_ts))
    assert abs(parse_timestamp(event["timestamp"]) - happened) < timedelta(seconds=5)
    # And the context is the one sent, with the library the SDK added, and never the IP
    context = json.loads(event["context"])
    sent_context = dict(spec["kwargs"].get("context", {}))
    sent_ip = sent_context.pop("ip", None)
    assert "ip" not in context
    assert context == {**sent_context, "library": message["context"]["library"]}
    assert context["library"]["name"] == "analytics-python"
    if sent_ip is not None:
        assert not any(sent_ip.encode() in raw for raw in stack.raw_records)


def test_the_sdk_in_batch_mode_with_gzip_delivers_every_queued_event(stack: LocalStackClient):
    # Given the SDK in its default (queued, batching) mode with gzip request bodies
    client = Client(write_key=stack.book["write_key"], host=stack.endpoint, gzip=True, upload_interval=0.1)
    ids = {f"e2e-batch-{i}-{uuid.uuid4()}" for i in range(25)}
    # When it queues 25 events and flushes
    for message_id in sorted(ids):
        client.track(
            user_id="usr_batch", event="Feature Viewed", properties={"feature": "bulk-edit"}, message_id=message_id
        )
    client.flush()
    client.join()
    # Then every one is on the stream once, enriched
    arrived = stack.wait_for(ids)
    assert set(arrived) == ids
    assert all(stack.copies[i] == 1 for i in ids)
    assert {(e["feature"], e["stage"]) for e in arrived.values()} == {("bulk-edit", "view")}


def test_the_analytics_js_wire_format_is_accepted(stack: LocalStackClient):
    # Given what analytics.js 2.0 sends for one call: the one-letter route, text/plain (no CORS preflight),
    # the write key in the body instead of Basic auth, sentAt in the message
    message_id = f"ajs-{uuid.uuid4()}"
    now = format_timestamp(datetime.now(UTC))
    body = {
        "type": "track",
        "event": "Feature Used",
        "properties": {"feature": "ai-summary"},
        "anonymousId": "anon-ajs",
        "messageId": message_id,
        "timestamp": now,
        "sentAt": now,
        "writeKey": stack.book["write_key"],
        "context": {"library": {"name": "analytics.js", "version": "next-1.70.0"}, "locale": "fr-FR"},
        "integrations": {},
        "_metadata": {"bundled": ["Segment.io"], "unbundled": []},
    }
    # When it is posted without an Authorization header
    host, port = stack.endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/v1/t", body=json.dumps(body), headers={"Content-Type": "text/plain"})
        status = conn.getresponse().status
    finally:
        conn.close()
    # Then it is accepted and enriched as a web event
    assert status == 200
    event = stack.wait_for({message_id})[message_id]
    assert (event["type"], event["stage"], event["platform"], event["country"]) == ("track", "use", "web", "FR")


def test_a_wrong_write_key_is_refused_with_401(stack: LocalStackClient):
    # Given the SDK configured with a key that no source has
    client = Client(write_key="wk_not_a_real_key", host=stack.endpoint, sync_mode=True, max_retries=0)
    message_id = f"e2e-badkey-{uuid.uuid4()}"
    # When it sends an event, Then the API answers 401 and nothing reaches the stream
    with pytest.raises(APIError) as refused:
        client.track(user_id="u", event="Feature Viewed", message_id=message_id)
    assert refused.value.status == 401
    # And over raw HTTP, with no credentials at all, too
    status, answer = stack.post("/v1/track", b'{"userId": "u", "event": "x"}', write_key="")
    assert status == 401
    assert "Traceback" not in json.dumps(answer)
    assert stack.wait_for({message_id}, timeout_s=1) == {}


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2, 3]", b'{"batch": "not a list"}', b""],
    ids=["malformed-json", "not-an-object", "batch-not-a-list", "empty"],
)
def test_a_bad_body_is_refused_with_400_and_a_reason(stack: LocalStackClient, body: bytes):
    status, answer = stack.post("/v1/batch", body)
    assert status == 400
    assert isinstance(answer, dict)
    assert "Traceback" not in json.dumps(answer)


def test_a_request_over_500_kb_is_refused_with_413(stack: LocalStackClient):
    # Given a batch of 40 valid events of 15 KB each (600 KB)
    batch = [
        {"type": "track", "messageId": f"big-{i}", "userId": "u", "event": "x", "properties": {"pad": "x" * 15_000}}
        for i in range(40)
    ]
    # When it is posted, Then the API refuses the request as too large
    status, answer = stack.post("/v1/batch", json.dumps({"batch": batch}).encode())
    assert status == 413
    assert "Traceback" not in json.dumps(answer)


def test_a_mixed_batch_over_http_loses_no_valid_event_and_quarantines_the_invalid_ones(stack: LocalStackClient):
    # Given a batch where invalid events sit between valid ones
    spec = json.loads((EVENTS / "mixed_batch.json").read_text())
    suffix = uuid.uuid4().hex[:8]
    now = format_timestamp(datetime.now(UTC))
    batch = [{**e, "messageId": f"{e['messageId']}-{suffix}", "timestamp": now} for e in spec["batch"]]
    invalid = set(spec["invalid_indexes"])
    quarantined_before = len(stack.quarantined())
    # When it is posted
    status, answer = stack.post("/v1/batch", json.dumps({"batch": batch, "sentAt": now}).encode())
    # Then the answer is 200 and lists exactly the invalid events, by index, with a reason
    assert status == 200
    listed = answer.get("rejected") or answer.get("errors")
    assert {item["index"] for item in listed} == invalid
    assert all(item.get("reason") for item in listed)
    # And every valid event is on the stream, and the invalid ones in quarantine with their reasons
    valid_ids = {e["messageId"] for i, e in enumerate(batch) if i not in invalid}
    assert set(stack.wait_for(valid_ids)) == valid_ids
    quarantined = [q for q in stack.quarantined() if str(q.get("message_id", "")).endswith(suffix)]
    assert {q["index"] for q in quarantined} == invalid
    assert all(q["reason"] for q in quarantined)
    assert len(stack.quarantined()) == quarantined_before + len(invalid)
    assert not ({q["message_id"] for q in quarantined} & set(stack.events))


def test_a_device_clock_ten_minutes_fast_is_corrected_with_sent_at(stack: LocalStackClient):
    # Given a device whose clock is 10 minutes fast, sending an event that happened 2 s before the request
    spec = json.loads((EVENTS / "skewed_clock_batch.json").read_text())
    device_now = datetime.now(UTC) + timedelta(seconds=spec["clock_ahead_s"])
    message_id = f"skew-{uuid.uuid4()}"
    event = {
        **spec["batch"][0],
        "messageId": message_id,
        "timestamp": format_timestamp(device_now - timedelta(seconds=spec["event_age_s"])),
    }
    # When it is posted
    status, _ = stack.post("/v1/batch", json.dumps({"batch": [event], "sentAt": format_timestamp(device_now)}).encode())
    # Then the event is placed 2 s before the server received it, not 10 minutes in the future
    assert status == 200
    enriched = stack.wait_for({message_id})[message_id]
    received = parse_timestamp(enriched["received_at"])
    assert parse_timestamp(enriched["timestamp"]) == received - timedelta(seconds=spec["event_age_s"])


def test_the_serve_mode_shuts_down_cleanly_on_sigterm_with_every_component(tmp_path: Path):
    # Given `featurepulse local --serve` with every registered component, in its own process group
    process = subprocess.Popen(
        _cli("--serve", "--port", "0", "--dir", str(tmp_path)),
        cwd=tmp_path,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        book = _wait_for_address_book(tmp_path / "local.json", process, START_TIMEOUT_S)
    except BaseException:
        _stop(process)
        raise
    children = _descendants(process.pid)
    # When it gets SIGTERM
    code = _stop(process)
    output = process.stdout.read().decode() if process.stdout else ""
    # Then it exits 0, says so, leaves no process behind (in its group or not), and closes its ports
    assert code == 0, output
    assert "local stack stopped" in output
    assert _process_group_gone(process.pid), "processes of featurepulse local are still running"
    assert not [pid for pid in children if _alive(pid)], "subprocesses of featurepulse local outlived it"
    assert json.loads((tmp_path / "local.json").read_text())["status"] == "stopped"
    host, port = book["endpoint"].removeprefix("http://").split(":")
    with pytest.raises(OSError):
        http.client.HTTPConnection(host, int(port), timeout=2).connect()


def test_the_demo_runs_for_its_duration_prints_the_counts_and_the_report_equals_the_ground_truth(tmp_path: Path):
    # Given the bounded demo of 5 seconds with every registered component
    # When it runs
    result = subprocess.run(
        _cli("--duration", "5", "--port", "0", "--dir", str(tmp_path)),
        check=False,
        cwd=tmp_path,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )
    # Then it exits 0 after printing what it sent and what arrived, by feature and stage and by reason
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Accepted feature events on the stream" in output
    assert "Quarantined events by reason" in output
    assert "Check" in output and "PROBLEM" not in output
    # And the e-mailed report's person figures were printed beside the generator's ground truth, all equal
    assert "beside the generator's ground truth" in output
    assert "active_persons" in output and "funnel_viewed" in output and "campaign_reached" in output
    assert "differs" not in output
    # And the dashboard address is marked as closing with the demo, pointing to `make demo`
    assert "stops with this demo: `make demo`" in output
    assert "local stack stopped" in output

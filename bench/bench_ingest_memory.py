"""Ingest memory: the handler's peak memory for the worst requests within the limits, against the Lambda's memory.

Each request goes through `lambdas.ingest.handler.lambda_handler` whole (API Gateway event in, answer out):
body decoding, JSON parse, validation and enrichment, packing, the quarantine object, botocore's serialization
of PutRecords/PutObject, the answer. AWS itself is stood in for at the boundary: a botocore `before-send` hook on
the real clients answers every call as AWS would (success), so nothing is stored in this process and the
figure is the handler's own. Peak: `tracemalloc`'s peak of Python allocations (orjson allocates through Python's
allocator too) during the call, over what was held before it; each request measured on a warmed-up handler.
The configured Lambda memory is `cdk.settings.StackSettings`' default `ingestMemoryMb`.

Requests (all within the limits: body <= 500 KB, <= 5,000 events, each event and the batch context <= 32 KB):
- `max_events`: 5,000 small valid track events;
- `max_context`: a batch context of 31 KB merged into as many small valid events as fit (about 4,700), the
  amplification case (its stored size is bounded per request);
- `max_context_invalid`: the same with every event invalid (no user or anonymous id): all go to the quarantine;
- `large_events`: 15 events of about 32 KB each (long property strings);
- `many_keys`: events of about 21 KB of tiny properties (`"k123":0`), the most Python objects per byte;
- `deep_nesting`: events nested 1,000 levels (lists of lists), filling the body: each is refused and quarantined.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from featurepulse import constants
from featurepulse.ingest.deepjson import dumps_any
from featurepulse.ingest.limits import MAX_BATCH_EVENTS, MAX_REQUEST_BYTES

WRITE_KEY = "bench-write-key-0123456789abcdef"
SOURCE_ITEM = {
    "source_id": {"S": "src_bench"},
    "name": {"S": "bench"},
    "created_at": {"S": "2026-12-04T00:00:00.000Z"},
    "status": {"S": "active"},
}
REPEATS = 2


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _aws_answers(request: Any, **_: Any) -> Any:
    """What AWS answers a successful call: PutRecords (every record accepted), PutObject, GetItem."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    headers = HTTPHeaders()
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else str(target)
    if target.endswith("PutRecords"):
        count = orjson.loads(request.body)["Records"].__len__()
        body = orjson.dumps(
            {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "shardId-0"}] * count}
        )
        headers["Content-Type"] = "application/x-amz-json-1.1"
    elif target.endswith("GetItem"):
        body = orjson.dumps({"Item": {constants.SOURCES_TABLE_PARTITION_KEY: {"S": "h"}, **SOURCE_ITEM}})
        headers["Content-Type"] = "application/x-amz-json-1.0"
    else:  # S3 PutObject
        body = b""
        headers["ETag"] = '"0"'
    return AWSResponse(request.url, 200, headers, _Raw(body))


def _handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ[constants.ENV_STREAM_NAME] = "bench-events"
    os.environ[constants.ENV_SOURCES_TABLE] = "bench-sources"
    os.environ[constants.ENV_QUARANTINE_BUCKET] = "bench-lake"
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from featurepulse.dal import clients
    from lambdas.ingest.handler import lambda_handler, reset_process_state

    reset_process_state()
    for client in (clients.kinesis_client(), clients.s3_client(), clients.dynamodb_client()):
        client.meta.events.register_first("before-send", _aws_answers)
    return lambda_handler


@dataclass
class LambdaContext:
    function_name: str = "featurepulse-ingest"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:featurepulse-ingest"
    aws_request_id: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _proxy_event(body: bytes) -> dict[str, Any]:
    return {
        "resource": "/{proxy+}",
        "path": "/v1/batch",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "pathParameters": {"proxy": "v1/batch"},
        "requestContext": {
            "httpMethod": "POST",
            "path": "/prod/v1/batch",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": time.time_ns() // 1_000_000,
            "identity": {"sourceIp": "198.51.100.23"},
            "stage": "prod",
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _fill(
    make_event: Callable[[int], dict[str, Any]], *, context: dict[str, Any] | None = None, limit: int = MAX_BATCH_EVENTS
) -> bytes:
    """The largest batch of `make_event(i)` events within the body limit and the event count limit."""
    document: dict[str, Any] = {"writeKey": WRITE_KEY, "batch": []}
    if context is not None:
        document["context"] = context
    size = len(dumps_any(document))
    for index in range(limit):
        event = make_event(index)
        event_size = len(dumps_any(event)) + 1
        if size + event_size > MAX_REQUEST_BYTES:
            break
        document["batch"].append(event)
        size += event_size
    return dumps_any(document)


def _small(index: int) -> dict[str, Any]:
    return {"type": "track", "event": "Feature Used", "userId": f"u{index % 97}", "messageId": f"m{index}"}


def _invalid(index: int) -> dict[str, Any]:
    return {"type": "track", "event": "Feature Used", "messageId": f"m{index}"}


def _large(index: int) -> dict[str, Any]:
    return {**_small(index), "properties": {"text": "x" * 32_000}}


def _many_keys(index: int) -> dict[str, Any]:
    return {**_small(index), "properties": {f"k{i}": 0 for i in range(2_400)}}


def _deep(index: int) -> dict[str, Any]:
    value: Any = 0
    for _ in range(1_000):
        value = [value]
    return {"type": value, "userId": f"u{index}"}


CONTEXT_31_KB = {"blob": "c" * 31_000, "app": {"version": "1.0"}}
REQUESTS: dict[str, Callable[[], bytes]] = {
    "max_events": lambda: _fill(_small),
    "max_context": lambda: _fill(_small, context=CONTEXT_31_KB),
    "max_context_invalid": lambda: _fill(_invalid, context=CONTEXT_31_KB),
    "large_events": lambda: _fill(_large),
    "many_keys": lambda: _fill(_many_keys),
    "deep_nesting": lambda: _fill(_deep),
}


@dataclass
class Measurement:
    name: str
    body_bytes: int
    events: int
    status: int
    accepted: int
    rejected: int
    peak_bytes: int
    rss_growth_bytes: int = 0
    rss_total_bytes: int = 0


def rss_growth(body: bytes) -> tuple[int, int]:
    """In a fresh process without tracemalloc: how far the request raises the resident-memory high-water mark
    over that of the warmed-up handler, and the high-water mark itself (what the Lambda's memory limit counts).
    The body is read from a file: building it in that process would raise the mark before the call."""
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(body)
        file.flush()
        result = subprocess.run(
            [sys.executable, "-m", "bench.bench_ingest_memory", "--rss", file.name],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent.parent,
        )
    growth, total = result.stdout.strip().splitlines()[-1].split()
    return int(growth), int(total)


def _rss_growth_here(body_path: str) -> tuple[int, int]:
    handler = _handler()
    body = Path(body_path).read_bytes()
    handler(_proxy_event(_fill(_small, limit=100)), LambdaContext())  # warm-up on a small request
    before = _resident_high_water_bytes()
    handler(_proxy_event(body), LambdaContext())
    after = _resident_high_water_bytes()
    return after - before, after


def _resident_high_water_bytes() -> int:
    """VmHWM of this process (Linux). Not `ru_maxrss`: a child process inherits its parent's high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(handler: Callable[[dict[str, Any], Any], dict[str, Any]], name: str, body: bytes) -> Measurement:
    events = len(orjson.loads(body)["batch"])
    handler(_proxy_event(body), LambdaContext())  # warm-up: imports, clients, the write-key cache
    peaks: list[int] = []
    response: dict[str, Any] = {}
    for _ in range(REPEATS):
        event = _proxy_event(body)
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            response = handler(event, LambdaContext())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        peaks.append(peak - before)
    answer = orjson.loads(response.get("body") or b"{}")
    return Measurement(
        name=name,
        body_bytes=len(body),
        events=events,
        status=int(response["statusCode"]),
        accepted=int(answer.get("accepted", 0)),
        rejected=len(answer.get("rejected", [])),
        peak_bytes=max(peaks),
    )


def configured_memory_mb() -> int:
    """`ingestMemoryMb`'s default in cdk/settings.py, read from the source (importing it would start jsii)."""
    source = (Path(__file__).parent.parent / "cdk" / "settings.py").read_text()
    match = re.search(r"ingest_memory_mb: int = Field\(default=(\d+)", source)
    if match is None:
        raise RuntimeError("cdk/settings.py has no ingest_memory_mb default")
    return int(match.group(1))


def main() -> None:
    handler = _handler()
    limit_mb = configured_memory_mb()
    results = []
    for name, make in REQUESTS.items():
        body = make()
        result = measure(handler, name, body)
        result.rss_growth_bytes, result.rss_total_bytes = rss_growth(body)
        results.append(result)
    print(f"configured ingest Lambda memory: {limit_mb} MB")
    print(
        "peak: tracemalloc's peak allocation during the call; rss: growth of the resident high-water mark over the "
        "warmed-up handler's, and the high-water mark itself (fresh process each)"
    )
    print(
        f"{'request':22} {'body':>9} {'events':>7} {'status':>6} {'accepted':>9} {'rejected':>9} {'peak':>10} "
        f"{'rss':>10} {'rss total':>10}"
    )
    for r in results:
        print(
            f"{r.name:22} {r.body_bytes / 1024:7.0f}KB {r.events:7} {r.status:6} {r.accepted:9} {r.rejected:9} "
            f"{r.peak_bytes / 2**20:8.1f}MB {r.rss_growth_bytes / 2**20:8.1f}MB {r.rss_total_bytes / 2**20:8.1f}MB"
        )
    worst = max(results, key=lambda r: r.peak_bytes)
    worst_rss = max(results, key=lambda r: r.rss_total_bytes)
    limit = limit_mb * 2**20
    print(
        f"worst allocation: {worst.name}, peak {worst.peak_bytes / 2**20:.1f} MB = "
        f"{100 * worst.peak_bytes / limit:.1f}% of {limit_mb} MB; "
        f"worst resident: {worst_rss.name}, {worst_rss.rss_total_bytes / 2**20:.0f} MB = "
        f"{100 * worst_rss.rss_total_bytes / limit:.1f}% of {limit_mb} MB (interpreter and libraries included)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        print(*_rss_growth_here(sys.argv[2]))
    else:
        main()

"""Real time: freshness of the live numbers, and the Flink job's throughput on the local mini-cluster.

One local stack (moto server, the real ingest handler behind the local Segment endpoint, the PyFlink job in
its mini-cluster fed from the moto stream, writing to moto DynamoDB) serves both measurements.

1. Freshness. Single-event requests are sent to the endpoint at a steady rate; for each, the clock runs from
   the endpoint's 200 answer (the event is durably on the stream) to the moment the feature's day row in
   DynamoDB counts it. p50/p95 over the run; target p95 <= 10 s. Baseline in the same run: the time until the
   same events are readable on the (moto) Kinesis stream by a consumer polling like the job's source does.
2. Throughput. A backlog of enriched events (many users, features, campaigns, variants, event times over five
   minutes in stream order) is packed into stream records (per request of 100 events) and handed to the
   running job at once, as one spool file; the clock runs until the aggregates account for every event.
   Baseline in the same run: the plain-Python reference model of the same aggregation
   (featurepulse/realtime/model.py, one thread) on the same events.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from featurepulse.domain.packing import pack_events, record_text
from featurepulse.local.runtime import LocalStack, LocalStackOptions
from featurepulse.local.stream_reader import StreamReader
from featurepulse.realtime import items
from featurepulse.realtime.events import STAGES, engagement_from_enriched
from featurepulse.realtime.local import LocalFlink
from featurepulse.realtime.model import ReferenceAggregation
from featurepulse.realtime.windows import day_start_ms

FRESHNESS_EVENTS = 150
FRESHNESS_RATE_PER_S = 5.0
FRESHNESS_TARGET_P95_S = 10.0
BACKLOG_EVENTS = 40_000
POLL_S = 0.05
FEATURE = "bench-freshness"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class _Endpoint:
    def __init__(self, url: str, write_key: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self.auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()

    def track(self, user: str, message_id: str) -> None:
        body = json.dumps(
            {
                "type": "track",
                "event": "Feature Viewed",
                "userId": user,
                "messageId": message_id,
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "properties": {"feature": FEATURE},
            }
        )
        self.connection.request(
            "POST", "/v1/track", body, {"Content-Type": "application/json", "Authorization": self.auth}
        )
        answer = self.connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"the endpoint answered {answer.status}")


def measure_freshness(stack: LocalStack, flink: LocalFlink) -> tuple[list[float], list[float]]:
    """(seconds to the DynamoDB count, seconds to the stream) for each event."""
    ctx = stack.context
    assert ctx is not None and flink._reader is not None
    reader = flink._reader
    endpoint = _Endpoint(ctx.endpoint, ctx.write_key)
    stream = StreamReader(ctx.client("kinesis"), ctx.stream_name, from_start=False)
    accepted: dict[str, float] = {}
    order: list[str] = []
    on_stream: dict[str, float] = {}
    in_table: dict[int, float] = {}
    done = threading.Event()

    def watch_stream() -> None:
        while not done.is_set():
            for record in stream.poll():
                seen = time.monotonic()
                for line in record_text(record.data).splitlines():
                    event = json.loads(line)
                    if event.get("feature") == FEATURE:
                        on_stream.setdefault(str(event["event_id"]), seen)
            time.sleep(POLL_S)

    def watch_table() -> None:
        key_day = items.day_sort_key(day_start_ms(int(time.time() * 1000)))
        counted = 0
        while not done.is_set():
            item = reader.get(items.feature_pk(FEATURE), key_day)
            count = int(item["events"]) if item else 0
            now = time.monotonic()
            for k in range(counted + 1, count + 1):
                in_table[k] = now
            counted = max(counted, count)
            time.sleep(POLL_S)

    threads = [threading.Thread(target=watch_stream, daemon=True), threading.Thread(target=watch_table, daemon=True)]
    for thread in threads:
        thread.start()
    for i in range(FRESHNESS_EVENTS):
        message_id = str(uuid.uuid4())
        endpoint.track(f"fresh-user-{i % 40}", message_id)
        accepted[message_id] = time.monotonic()
        order.append(message_id)
        time.sleep(1 / FRESHNESS_RATE_PER_S)
    deadline = time.monotonic() + 60
    while len(in_table) < FRESHNESS_EVENTS and time.monotonic() < deadline:
        time.sleep(0.2)
    done.set()
    for thread in threads:
        thread.join(timeout=5)
    # The k-th accepted event is counted once the row's count reaches k (the day row counts every event).
    to_table = [in_table[k + 1] - accepted[m] for k, m in enumerate(order) if k + 1 in in_table]
    to_stream = [on_stream[m] - accepted[m] for m in order if m in on_stream]
    return to_table, to_stream


def backlog(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Enriched events in stream order over five minutes: 4 features, 2000 users, campaigns, an A/B test."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    names = {"view": "Feature Viewed", "use": "Feature Used", "complete": "Feature Completed"}
    names["dismiss"] = "Feature Dismissed"
    out = []
    for i in range(n):
        t = start + timedelta(milliseconds=i * 300_000 // n)
        stage = rng.choice(STAGES)
        out.append(
            {
                "event_id": f"bench-{uuid.UUID(int=rng.getrandbits(128))}",
                "source_id": "bench",
                "type": "track",
                "event": names[stage],
                "feature": f"bench-feature-{rng.randrange(4)}",
                "stage": stage,
                "user_id": f"bench-user-{rng.randrange(2000)}",
                "timestamp": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "received_at": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "campaign_name": rng.choice([None, "spring", "newsletter", "partner"]),
                "experiment_id": "bench-exp",
                "variation_id": rng.choice(["A", "B"]),
                "duration_ms": rng.randrange(100, 60_000) if stage in ("use", "complete") else None,
                "properties": "{}",
                "context": "{}",
            }
        )
    return out


def measure_throughput(flink: LocalFlink, events: list[dict[str, Any]]) -> float:
    """Seconds from handing the backlog to the job until the aggregates account for every event."""
    assert flink._spool is not None
    before = flink.accounted_events()
    records = []
    for i in range(0, len(events), 100):  # packed per ingest request of 100 events, in stream order
        records += pack_events((e["user_id"], e["event_id"], json.dumps(e).encode()) for e in events[i : i + 100])
    started = time.monotonic()
    flink._spool.write([r.data for r in records])  # one file, as the local source hands over a backlog
    while flink.accounted_events() < before + len(events):
        time.sleep(0.2)
        if time.monotonic() - started > 900:
            raise TimeoutError("the job did not account for the backlog in 15 minutes")
    return time.monotonic() - started


def model_seconds(events: list[dict[str, Any]]) -> float:
    parsed = [engagement_from_enriched(e) for e in events]
    started = time.perf_counter()
    model = ReferenceAggregation(LocalFlink().settings)
    model.add_batch(parsed)
    model.items()
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as root:
        options = LocalStackOptions(
            root=Path(root) / ".featurepulse",
            port=0,
            port_is_default=False,
            components=("featurepulse.realtime.local:LocalFlink",),
        )
        stack = LocalStack(options)
        try:
            stack.start()
            flink = next(c for c in stack.running_components() if isinstance(c, LocalFlink))
            started = time.monotonic()
            flink.wait_until_running()
            print(f"job started in {time.monotonic() - started:.1f} s (mini-cluster start and planning)")

            to_table, to_stream = measure_freshness(stack, flink)
            p50, p95 = _percentile(to_table, 0.5), _percentile(to_table, 0.95)
            s50, s95 = _percentile(to_stream, 0.5), _percentile(to_stream, 0.95)
            print(
                f"freshness ({len(to_table)} of {FRESHNESS_EVENTS} events at {FRESHNESS_RATE_PER_S:g}/s): "
                f"accepted -> counted in DynamoDB p50 {p50:.2f} s, p95 {p95:.2f} s (target p95 <= "
                f"{FRESHNESS_TARGET_P95_S:g} s: {'met' if p95 <= FRESHNESS_TARGET_P95_S else 'NOT met'})"
            )
            print(
                f"baseline: accepted -> readable on the stream p50 {s50:.2f} s, p95 {s95:.2f} s; "
                f"the job adds {p50 - s50:.2f} s at p50 (mean {statistics.fmean(to_table):.2f} s)"
            )

            events = backlog(BACKLOG_EVENTS)
            seconds = measure_throughput(flink, events)
            baseline = model_seconds(events)
            assert flink._reader is not None
            dau = flink._reader.get(items.APP_PK, items.day_sort_key(day_start_ms(int(time.time() * 1000))))
            exact = len({e["user_id"] for e in events}) + len({f"fresh-user-{i % 40}" for i in range(FRESHNESS_EVENTS)})
            print(f"distinct persons today: table {dau['persons'] if dau else 0}, exact {exact} (exact scheme)")
            print(
                f"throughput: {len(events)} events in {seconds:.1f} s = {len(events) / seconds:,.0f} events/s "
                f"(mini-cluster, parallelism 1); baseline plain-Python model {len(events) / baseline:,.0f} "
                f"events/s; ratio job/model {baseline / seconds:.2f}x"
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()

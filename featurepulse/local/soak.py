"""`make soak`: N events through the local pipeline under injected faults, then exact checks (docs/reliability.md).

    featurepulse soak --events 1000000          # or: python -m featurepulse.local.soak --events 1000000

The local stack runs the real ingest handler behind the local endpoint, the lake writer (Firehose stand-in) and
the real-time job (PyFlink mini-cluster, checkpointing to the file system). While the traffic generator's
requests go in:

- clients resend about `resend_rate` of their requests with the same messageIds (an SDK retrying a request whose
  answer it did not get), and resend every request answered 429/5xx until it is accepted (an SDK's queue);
  `clients` requests are on their way at once;
- the ingest handler's Kinesis client is throttled and partially refused (featurepulse/local/faults.py), and now
  and then Kinesis refuses every call for longer than the handler's time budget (an outage): the requests that
  meet it are answered 503 and sent again. An outage begins at the first request after `first_outage_at` of the
  run and then with probability `outage_rate` per request; it ends after `outage_503s` answers 503 (counted
  whichever request they answer: clients retrying requests already answered 503 end it too), so a share of
  the requests near `outage_rate` x `outage_503s` is answered 503, whatever the machine's speed. The
  handler runs with a `put_time_budget_ms` of 500 ms (PUT_TIME_BUDGET_MS; 3 s by default): the local endpoint
  has one execution environment, and every request that meets an outage holds it for a whole budget;
- at `lake_restart_at` of the run the lake writer crashes (its buffered rows are lost) and a new one starts;
- at `flink_kill_at` the Flink job is killed (SIGKILL of its process group) and restarted from its latest
  retained checkpoint, while the traffic goes on (events wait on the stream).

The kill happens right after a checkpoint that covers all the job's input so far: the feeder stops writing spool
files, the job catches up, the table stops changing, a checkpoint completes, then SIGKILL. The job's live
persons (featurepulse/realtime/persons.py) are operator memory, not Flink state, so a restarted job forgets the
identity links it had seen; the reference model is told where that happened (it starts with no links there),
which it can only know when the restart point is a spool-file boundary. The window and de-duplication state come
from the checkpoint; the file source resumes from its checkpointed position. The job reads the spool files in
the order they were written (featurepulse/realtime/local.py lets one file wait at a time), which is the order
the reference model reads them in.

Checks, all exact: the lake's (source_id, event_id) pairs are the accepted events, each once; the aggregates
table is the reference model (featurepulse/realtime/model.py) fed the job's input in the job's order; the
quarantine holds exactly the invalid events sent.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featurepulse.constants import ENV_PUT_TIME_BUDGET_MS
from featurepulse.lake.local import LocalFirehose
from featurepulse.local.components import LocalContext
from featurepulse.local.faults import FaultCounts, PutRecordsFaults
from featurepulse.local.runtime import LocalStack, LocalStackOptions, read_quarantine
from featurepulse.local.traffic import (
    MAX_EVENTS_PER_BATCH,
    OutgoingRequest,
    SegmentHttpSender,
    SentMessage,
    SyntheticUser,
    TrafficGenerator,
    restamp_sent_at,
)
from featurepulse.realtime import metrics
from featurepulse.realtime.local import LocalFlink

DEFAULT_EVENTS = 1_000_000
# The aggregates' distinct-person counters (COUNT(DISTINCT person_key)): what the job's live persons decide.
PERSON_COUNTERS = frozenset(m.name for m in metrics.COUNTERS if m.kind == "distinct_persons")
SOAK_COMPONENTS = ("featurepulse.local.soak:SoakLakeWriter", "featurepulse.local.soak:CheckpointedLocalFlink")
# A loaded machine starts a mini-cluster slowly; this is a limit for a hung start, not a speed assumption.
JOB_START_TIMEOUT_S = 900.0
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
RESULTS_BEGIN = "<!-- soak-results:begin -->"
RESULTS_END = "<!-- soak-results:end -->"


class CheckpointedLocalFlink(LocalFlink):
    """The local Flink component with file-system checkpoints every 2 s (off in `make run`)."""

    def __init__(self) -> None:
        super().__init__(checkpoint_interval_ms=2000)


class SoakLakeWriter(LocalFirehose):
    """The lake component, mirroring the quarantine objects to the local directory once, when drained, instead of
    after every poll of the stream.

    The mirror lists every quarantine object in moto S3 each time: that listing grows with the run until it takes
    most of the lake writer's time (py-spy, `--gil`: a quarter of the process's samples at 35,000 events when
    done after every poll; still a quarter at 108,000 events when done every 30 s). The soak checks the
    quarantine in S3 itself; the local mirror is a convenience for reading it."""

    def __init__(self) -> None:
        super().__init__()
        self._draining = False

    def _mirror_quarantine(self) -> None:
        if self._draining:
            super()._mirror_quarantine()

    def drain(self, ctx: LocalContext, timeout_s: float) -> None:
        self._draining = True
        super().drain(ctx, timeout_s)


class SoakTraffic(TrafficGenerator):
    """The traffic generator, drawing a returning user without listing every user first.

    `TrafficGenerator._pick_user` builds the list of all users not in a session for each new session: O(users),
    and users grow with the run (a quarter of the soak's samples at 108,000 events). This picks the same user
    with the same random draws (`rng.choice` over n items draws one number below n): the k-th user not in a
    session, found from the positions of the few users that are (tests/unit/test_soak_traffic.py)."""

    def __init__(self, seed: int, *, concurrent_sessions: int) -> None:
        self._positions: dict[str, int] = {}
        super().__init__(seed, concurrent_sessions=concurrent_sessions)

    def _new_user(self) -> SyntheticUser:
        user = super()._new_user()
        self._positions[user.anonymous_id] = len(self.users) - 1
        return user

    def _pick_user(self) -> SyntheticUser:
        active = {s.user.anonymous_id for s in self._sessions}
        taken = sorted({self._positions[a] for a in active if a in self._positions})
        returning = len(self.users) - len(taken)
        if returning and self.rng.random() < 0.35:
            position = self.rng.choice(range(returning))  # the draw rng.choice(list of returning users) makes
            for p in taken:
                if p > position:
                    break
                position += 1
            return self.users[position]
        return self._new_user()


@dataclass
class SoakOptions:
    events: int = DEFAULT_EVENTS
    seed: int = 2026
    resend_rate: float = 0.05
    throttle_rate: float = 0.03
    partial_rate: float = 0.05
    # Kinesis outages: one at `first_outage_at` of the run, then the chance per request sent that one begins; each
    # lasts until the API has answered 503 `outage_503s` times.
    first_outage_at: float = 0.1
    outage_rate: float = 0.004
    outage_503s: int = 4
    put_time_budget_ms: int = 500
    clients: int = 4
    lake_restart_at: float = 0.35
    flink_kill_at: float = 0.55
    events_per_tick: int = 400
    concurrent_sessions: int = 40
    drain_timeout_s: float = 3600.0
    settle_s: float = 30.0
    root: Path = Path(".featurepulse-soak")


@dataclass
class SoakResult:
    events: int = 0
    requests: int = 0
    resent_requests: int = 0
    retried_requests: int = 0
    answered_503: int = 0  # requests answered 503 at least once (then sent again until accepted)
    statuses: Counter[int] = field(default_factory=Counter)
    valid_sent: int = 0
    invalid_sent: set[str] = field(default_factory=set)
    accepted: set[tuple[str, str]] = field(default_factory=set)
    undeliverable: int = 0
    faults: FaultCounts = field(default_factory=FaultCounts)
    lake_restarts: int = 0
    flink_restarts: int = 0
    restored_checkpoint: str = ""
    lake_rows: int = 0
    lake_keys: set[tuple[str, str]] = field(default_factory=set)
    job_input_keys: set[tuple[str, str]] = field(default_factory=set)
    job_input_copies: int = 0  # event copies the job read (the stream's: resends and re-puts included)
    expected_items: int = 0
    actual_items: int = 0
    missing_items: list[tuple[str, str]] = field(default_factory=list)
    wrong_items: list[tuple[str, str]] = field(default_factory=list)
    # Items in the table when the job was killed (windows with data from before the restart).
    items_at_kill: set[tuple[str, str]] = field(default_factory=set)
    # Of `wrong_items`: those that differ only in distinct-person counters, in windows open across the restart.
    person_only_items: list[tuple[str, str]] = field(default_factory=list)
    extra_items: list[tuple[str, str]] = field(default_factory=list)
    quarantined_rows: int = 0
    quarantined_ids: set[str] = field(default_factory=set)
    send_s: float = 0.0
    total_s: float = 0.0

    @property
    def lake_missing(self) -> int:
        return len(self.accepted - self.lake_keys)

    @property
    def lake_unexpected(self) -> int:
        return len(self.lake_keys - self.accepted)

    @property
    def lake_duplicates(self) -> int:
        return self.lake_rows - len(self.lake_keys)

    @property
    def lake_ok(self) -> bool:
        return self.lake_keys == self.accepted and self.lake_duplicates == 0

    @property
    def aggregates_ok(self) -> bool:
        return not (self.missing_items or self.wrong_items or self.extra_items) and self.expected_items > 0

    @property
    def deduplicated(self) -> int:
        """Event copies on the stream beyond the first of each event (dropped by the job and the lake writer)."""
        return self.job_input_copies - len(self.job_input_keys)

    @property
    def quarantine_ok(self) -> bool:
        return self.quarantined_ids == self.invalid_sent

    @property
    def ok(self) -> bool:
        return self.lake_ok and self.aggregates_ok and self.quarantine_ok and self.undeliverable == 0

    def table(self) -> str:
        def mark(ok: bool) -> str:
            return "yes" if ok else "NO"

        rows = [
            ("valid events generated (the invalid ones are extra, below)", f"{self.events:,}"),
            ("requests (first sends)", f"{self.requests:,}"),
            ("requests resent with the same messageIds (client resends)", f"{self.resent_requests:,}"),
            (
                "requests answered 503 (they met a Kinesis outage) / share of the requests",
                f"{self.answered_503:,} / {self.answered_503 / max(1, self.requests):.1%}",
            ),
            ("sends again after a 429/5xx answer or a dropped connection", f"{self.retried_requests:,}"),
            ("answers by status", ", ".join(f"{s}: {n:,}" for s, n in sorted(self.statuses.items()))),
            ("PutRecords calls / throttled (injected)", f"{self.faults.calls:,} / {self.faults.throttled_calls:,}"),
            (
                "Kinesis outages (every call refused) / calls refused in them",
                f"{self.faults.outages:,} / {self.faults.outage_calls:,}",
            ),
            (
                "PutRecords partially failed (injected) / records refused",
                f"{self.faults.partial_calls:,} / {self.faults.refused_records:,}",
            ),
            ("lake writer crashes + restarts", f"{self.lake_restarts}"),
            ("Flink job kills + restarts from checkpoint", f"{self.flink_restarts} ({self.restored_checkpoint})"),
            ("valid events sent / accepted (distinct)", f"{self.valid_sent:,} / {len(self.accepted):,}"),
            ("events never accepted", f"{self.undeliverable:,}"),
            ("lake rows / distinct (source_id, event_id)", f"{self.lake_rows:,} / {len(self.lake_keys):,}"),
            (
                "lake: missing / not accepted / duplicate rows",
                f"{self.lake_missing:,} / {self.lake_unexpected:,} / {self.lake_duplicates:,}",
            ),
            ("**lake rows == accepted events**", mark(self.lake_ok)),
            (
                "event copies on the stream / distinct / copies de-duplicated",
                f"{self.job_input_copies:,} / {len(self.job_input_keys):,} / {self.deduplicated:,}",
            ),
            ("aggregate items: reference model / table", f"{self.expected_items:,} / {self.actual_items:,}"),
            (
                "aggregate items: missing / different / unexpected",
                f"{len(self.missing_items)} / {len(self.wrong_items)} / {len(self.extra_items)}",
            ),
            (
                "of the different: distinct-person counters only, in windows open across the Flink restart",
                f"{len(self.person_only_items)} (of {len(self.items_at_kill)} windows open then)",
            ),
            ("**aggregates == reference model** (every item, every attribute)", mark(self.aggregates_ok)),
            (
                "invalid events sent / quarantined (distinct)",
                f"{len(self.invalid_sent):,} / {len(self.quarantined_ids):,}",
            ),
            ("quarantine rows (a resent request quarantines again)", f"{self.quarantined_rows:,}"),
            ("**quarantine == invalid events sent**", mark(self.quarantine_ok)),
            ("sending time / whole run", f"{self.send_s:,.0f} s / {self.total_s:,.0f} s"),
        ]
        lines = ["| | |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in rows]
        return "\n".join(lines)


class _Sender:
    """`clients` concurrent clients: each sends a request until it is accepted, like an SDK's queue, and resends a
    share of the accepted ones. Starts and ends the injected Kinesis outages (see `SoakOptions`)."""

    def __init__(self, ctx: LocalContext, result: SoakResult, options: SoakOptions, faults: PutRecordsFaults) -> None:
        self.ctx = ctx
        self.result = result
        self.faults = faults
        self.rng = random.Random(options.seed + 1)
        self.options = options
        self.source_id = ""
        self._lock = threading.Lock()
        self._local = threading.local()
        self._http: list[SegmentHttpSender] = []
        self._slots = threading.BoundedSemaphore(2 * options.clients)
        self._pool = ThreadPoolExecutor(options.clients, thread_name_prefix="soak-client")
        self._errors: list[BaseException] = []
        self._outage_503s_left: int | None = None  # answers 503 until the current outage ends

    def _client(self) -> SegmentHttpSender:
        client: SegmentHttpSender | None = getattr(self._local, "client", None)
        if client is None:
            client = SegmentHttpSender(self.ctx.endpoint, self.ctx.write_key, max_retries=0)
            self._local.client = client
            with self._lock:
                self._http.append(client)
        return client

    def deliver(self, request: OutgoingRequest) -> tuple[int, Any]:
        answered_503 = False
        for attempt in range(60):
            if attempt:
                with self._lock:
                    self.result.retried_requests += 1
                time.sleep(min(2.0, 0.05 * 2**attempt))
            try:
                status, answer = self._client().post(request.route, request.payload)
            except (OSError, http.client.HTTPException):
                self._local.client = None
                continue
            with self._lock:
                self.result.statuses[status] += 1
                if status == 503:
                    if not answered_503:
                        answered_503 = True
                        self.result.answered_503 += 1
                    # Every 503 counts, also one to a request answered 503 before the outage began: when all the
                    # clients retry such requests, no new request reaches the API until the outage ends.
                    if self._outage_503s_left is not None:
                        self._outage_503s_left -= 1
                        if self._outage_503s_left <= 0:
                            self._outage_503s_left = None
                            self.faults.end_outage()
            if status != 429 and status < 500:
                return status, answer
        return 0, None

    def send(self, request: OutgoingRequest, progress: float) -> None:
        """Hand the request to a client (waits while every client has two requests on hand)."""
        with self._lock:
            self.result.requests += 1
            first = not self.faults.counts.outages and progress >= self.options.first_outage_at
            if self._outage_503s_left is None and (first or self.rng.random() < self.options.outage_rate):
                self._outage_503s_left = self.options.outage_503s
                self.faults.begin_outage()
            resend = self.rng.random() < self.options.resend_rate
        self._slots.acquire()
        future = self._pool.submit(self._send, request, resend)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        self._slots.release()
        error = future.exception()
        if error is not None:
            with self._lock:
                self._errors.append(error)

    def _send(self, request: OutgoingRequest, resend: bool) -> None:
        status, answer = self.deliver(request)
        rejected: set[int] = set()
        if isinstance(answer, dict):
            rejected = {r["index"] for r in answer.get("rejected") or [] if isinstance(r, dict) and "index" in r}
        with self._lock:
            for index, message in enumerate(request.messages):
                if message.invalid is not None:
                    if message.message_id:
                        self.result.invalid_sent.add(message.message_id)
                    continue
                self.result.valid_sent += 1
                if 200 <= status < 300 and index not in rejected and message.message_id:
                    self.result.accepted.add((self.source_id, message.message_id))
                else:
                    self.result.undeliverable += 1
            resend = resend and 200 <= status < 300
            if resend:
                self.result.resent_requests += 1
        if resend:
            self.deliver(request)

    def close(self) -> None:
        """End any outage, wait for every request on hand, raise what a client raised."""
        with self._lock:
            self._outage_503s_left = None
            self.faults.end_outage()
        self._pool.shutdown(wait=True)
        for client in self._http:
            client.close()
        if self._errors:
            raise self._errors[0]


def _differing(expected: dict[str, Any], actual: dict[str, Any]) -> set[str]:
    return {a for a in expected.keys() | actual.keys() if expected.get(a) != actual.get(a)}


def merge_requests(requests: list[OutgoingRequest], max_messages: int = MAX_EVENTS_PER_BATCH) -> list[OutgoingRequest]:
    """Requests with the same `sentAt` (devices whose clocks agree) merged into `/v1/batch` requests of up to
    `max_messages`, as a server-side SDK (analytics-node, analytics-python) batches the messages of many users.

    Fewer, larger requests: the soak's bottleneck is the per-request cost of the local endpoint. Requests with
    another `sentAt` (a skewed device clock) stay as they are, so each event's time is corrected as before.
    """
    groups: dict[Any, list[tuple[dict[str, Any], SentMessage]]] = {}
    for request in requests:
        payload = request.payload
        bodies = payload["batch"] if "batch" in payload else [{k: v for k, v in payload.items() if k != "sentAt"}]
        groups.setdefault(payload.get("sentAt"), []).extend(zip(bodies, request.messages, strict=True))
    merged: list[OutgoingRequest] = []
    for sent_at, messages in groups.items():
        for start in range(0, len(messages), max_messages):
            chunk = messages[start : start + max_messages]
            merged.append(
                OutgoingRequest(
                    route="/v1/batch",
                    payload={"batch": [body for body, _ in chunk], "sentAt": sent_at},
                    messages=tuple(meta for _, meta in chunk),
                )
            )
    return merged


def _component(stack: LocalStack, name: str) -> Any:
    for state in stack.components:
        if state.name == name and state.component is not None:
            return state.component
    raise RuntimeError(f"the soak needs the {name} component")


def restart_lake_writer(stack: LocalStack) -> None:
    """The lake writer crashes (buffered rows lost) and a new one starts on the same lake."""
    assert stack.context is not None
    for state in stack.components:
        if isinstance(state.component, LocalFirehose):
            state.component.stop(flush=False)
            replacement = type(state.component)()
            replacement.start(stack.context)
            state.component = replacement
            return
    raise RuntimeError("the soak needs the lake component")


def kill_and_restore_flink(
    flink: LocalFlink, ctx: LocalContext, log: Callable[[str], None]
) -> tuple[str, int, set[tuple[str, str]]]:
    """Quiesce, checkpoint, SIGKILL, restart from the retained checkpoint.

    Returns the checkpoint's name, the number of spool files before the kill and the table's keys then."""
    flink.pause_feeding()
    spool = flink.spool
    assert spool is not None
    files = -1
    while files != spool.files:  # a write that saw job.ready before the pause ends
        files = spool.files
        time.sleep(3 * flink.poll_interval_s + flink.file_interval_s)
    while flink.accounted_events() < len(spool.event_ids):
        time.sleep(0.5)
    digest, since = flink._digest(), time.monotonic()
    quiet_s = max(3.0, 3 * flink.settings.early_fire_delay_ms / 1000)
    while time.monotonic() - since < quiet_s:
        time.sleep(0.5)
        current = flink._digest()
        if current != digest:
            digest, since = current, time.monotonic()
    settled_ns = time.time_ns()
    while True:
        latest = flink.latest_checkpoint()
        if latest is not None and (latest / "_metadata").stat().st_mtime_ns > settled_ns:
            break
        time.sleep(0.3)
    log(f"  Flink: input caught up ({spool.files} spool files), {latest.name} completed; SIGKILL")
    keys_at_kill = set(read_table(flink))
    flink.kill_job()
    checkpoint = flink.latest_checkpoint()
    assert checkpoint is not None
    flink.restart_job(ctx, restore_from=checkpoint)
    flink.wait_until_running(JOB_START_TIMEOUT_S)
    log(f"  Flink: restarted from {checkpoint.parent.name[:8]}…/{checkpoint.name}")
    return checkpoint.name, files, keys_at_kill


def spool_files(flink: LocalFlink) -> list[Path]:
    spool = flink.spool
    assert spool is not None
    return sorted(p for p in spool.directory.iterdir() if not p.name.startswith("."))


def reference_table(flink: LocalFlink, restart_after_files: int | None) -> tuple[dict[Any, Any], set[Any], int]:
    """The reference model fed the job's input file by file, in the job's order; no identity links after the
    restart point. Returns the expected items (None attributes left out, like the sink), the input's keys and
    the number of event copies in it."""
    from featurepulse.realtime.events import EngagementEvent, unpack_engagement
    from featurepulse.realtime.model import ReferenceAggregation
    from featurepulse.realtime.persons import LivePersons
    from featurepulse.realtime.sql import RECORD_CHARSET

    model = ReferenceAggregation(flink.settings)
    keys: set[tuple[str, str]] = set()
    copies = 0
    for number, path in enumerate(spool_files(flink)):
        if restart_after_files is not None and number == restart_after_files:
            model.persons = LivePersons()
        batch: list[EngagementEvent] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                for event in unpack_engagement(json.loads(line)["data"].encode(RECORD_CHARSET)):
                    if isinstance(event, EngagementEvent):
                        batch.append(event)
                        keys.add(event.dedup_key)
                        copies += 1
        model.add_batch(batch)
    expected = {k: {a: v for a, v in item.items() if v is not None} for k, item in model.items().items()}
    return expected, keys, copies


def read_table(flink: LocalFlink) -> dict[tuple[str, str], dict[str, Any]]:
    from featurepulse.realtime.dal import from_dynamodb

    assert flink._reader is not None
    client = flink._reader.client
    out: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": flink.table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            item = from_dynamodb(raw)
            out[(item["pk"], item["sk"])] = item
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def lake_contents(lake_dir: Path) -> tuple[int, set[tuple[str, str]]]:
    import pyarrow.parquet as pq

    from featurepulse.lake.layout import EVENTS_PREFIX, PARQUET_SUFFIX

    rows, keys = 0, set[tuple[str, str]]()
    for path in (lake_dir / EVENTS_PREFIX).rglob(f"*{PARQUET_SUFFIX}"):
        table = pq.read_table(path, columns=["source_id", "event_id"])
        rows += table.num_rows
        keys.update(zip(table.column("source_id").to_pylist(), table.column("event_id").to_pylist(), strict=True))
    return rows, keys


def run_soak(options: SoakOptions, log: Callable[[str], None] = print) -> SoakResult:
    from featurepulse.dal.clients import kinesis_client

    result = SoakResult(events=options.events)
    started = time.monotonic()
    stack = LocalStack(LocalStackOptions(root=options.root, port=0, port_is_default=False, components=SOAK_COMPONENTS))
    # The mini-cluster's own log (JobManager, TaskManager: checkpoints, restore) under the run's directory, not the
    # PyFlink installation's shared log folder; both job processes inherit it.
    previous_env = {name: os.environ.get(name) for name in ("FLINK_LOG_DIR", ENV_PUT_TIME_BUDGET_MS)}
    os.environ["FLINK_LOG_DIR"] = str(options.root.resolve() / "logs" / "flink")
    os.environ[ENV_PUT_TIME_BUDGET_MS] = str(options.put_time_budget_ms)  # read by the handler's settings
    try:
        ctx = stack.start()
        if stack.failed_components:
            raise RuntimeError(f"components failed to start: {[(s.name, s.error) for s in stack.failed_components]}")
        flink: LocalFlink = _component(stack, "realtime")
        log(f"soak: {options.events:,} events; starting the Flink job (mini-cluster) ...")
        flink.wait_until_running(JOB_START_TIMEOUT_S)
        faults = PutRecordsFaults(
            passthrough_client=ctx.client("kinesis"),
            throttle_rate=options.throttle_rate,
            partial_rate=options.partial_rate,
            seed=options.seed,
        )
        faults.install(kinesis_client())  # the client the ingest handler uses (created once per process)
        restart_point: dict[str, Any] = {}
        chaos_errors: list[BaseException] = []

        def flink_chaos() -> None:
            try:
                name, files, keys = kill_and_restore_flink(flink, ctx, log)
                restart_point.update(checkpoint=name, files=files, keys=keys)
            except BaseException as exc:
                chaos_errors.append(exc)

        generator = SoakTraffic(options.seed, concurrent_sessions=options.concurrent_sessions)
        sender = _Sender(ctx, result, options, faults)
        sender.source_id = stack.source_id
        planned = 0
        lake_done = False
        chaos: threading.Thread | None = None
        next_report = 0.0
        send_started = time.monotonic()
        while planned < options.events:
            n = min(options.events_per_tick, options.events - planned)
            planned_at = datetime.now(UTC)
            for request in merge_requests(generator.tick(planned_at, n)):
                restamp_sent_at(request, datetime.now(UTC) - planned_at)
                sender.send(request, planned / options.events)
            planned += n
            progress = planned / options.events
            if not lake_done and progress >= options.lake_restart_at:
                log(f"  {planned:,} events: the lake writer crashes and restarts")
                restart_lake_writer(stack)
                result.lake_restarts += 1
                lake_done = True
            if chaos is None and progress >= options.flink_kill_at:
                log(f"  {planned:,} events: killing the Flink job after its next checkpoint")
                chaos = threading.Thread(target=flink_chaos, name="soak-flink-chaos", daemon=True)
                chaos.start()
            if time.monotonic() >= next_report:
                rate = planned / max(1e-9, time.monotonic() - send_started)
                log(
                    f"  sent {planned:,}/{options.events:,} events ({rate:,.0f} events/s); {result.requests:,} requests"
                )
                next_report = time.monotonic() + 10
        result.send_s = time.monotonic() - send_started
        sender.close()
        if chaos is not None:
            chaos.join()
        if chaos_errors:
            raise chaos_errors[0]
        result.flink_restarts = 1 if restart_point else 0
        result.restored_checkpoint = str(restart_point.get("checkpoint", "none"))
        faults.uninstall()
        result.faults = faults.counts
        log(f"soak: sent in {result.send_s:,.0f} s; draining the lake writer and the Flink job ...")
        stack.drain(options.drain_timeout_s)
        if stack.failed_components:
            raise RuntimeError(f"components failed: {[(s.name, s.error) for s in stack.failed_components]}")
        log("soak: checking the lake, the aggregates and the quarantine ...")
        result.lake_rows, result.lake_keys = lake_contents(ctx.lake_dir)
        quarantined = read_quarantine(ctx.client("s3"), ctx.lake_bucket)
        result.quarantined_rows = len(quarantined)
        result.quarantined_ids = {str(q.get("message_id")) for q in quarantined}
        expected, result.job_input_keys, result.job_input_copies = reference_table(flink, restart_point.get("files"))
        result.expected_items = len(expected)
        # The job's last early firings may still be on their way: compare until equal, or until the table has
        # not changed for `settle_s` (then the difference is the answer).
        actual, since = read_table(flink), time.monotonic()
        while actual != expected and time.monotonic() - since < options.settle_s:
            time.sleep(1.0)
            current = read_table(flink)
            if current != actual:
                actual, since = current, time.monotonic()
        result.actual_items = len(actual)
        result.missing_items = sorted(set(expected) - set(actual))
        result.wrong_items = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
        result.items_at_kill = set(restart_point.get("keys", set()))
        result.person_only_items = [
            k
            for k in result.wrong_items
            if k in result.items_at_kill and _differing(expected[k], actual[k]) <= PERSON_COUNTERS
        ]
        result.extra_items = sorted(set(actual) - set(expected))
        person_only = set(result.person_only_items)
        for key in [k for k in result.wrong_items if k not in person_only][:3] + result.person_only_items[:2]:
            different = {
                a for a in expected[key].keys() | actual[key].keys() if expected[key].get(a) != actual[key].get(a)
            }
            log(
                f"  differs {key}: "
                + ", ".join(f"{a} {expected[key].get(a)!r} != {actual[key].get(a)!r}" for a in sorted(different))
            )
        for key in result.missing_items[:3]:
            log(f"  missing {key}")
        for key in result.extra_items[:3]:
            log(f"  unexpected {key}: {actual[key]}")
    finally:
        stack.stop()
        for name, value in previous_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        result.total_s = time.monotonic() - started
    return result


def write_doc(result: SoakResult, path: Path = DOC_PATH) -> None:
    """Replace the results section of docs/reliability.md with this run's table."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(RESULTS_BEGIN)
    _, _, tail = rest.partition(RESULTS_END)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"{RESULTS_BEGIN}\nRun of {when}, {result.events:,} events:\n\n{result.table()}\n{RESULTS_END}"
    path.write_text(head + section + tail, encoding="utf-8")


def _run(args: argparse.Namespace) -> int:
    # SIGTERM (`kill`, CI cancelling) unwinds like Ctrl-C, so the stack stops the Flink job it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    options = SoakOptions(events=args.events, seed=args.seed, root=args.dir)
    # This stdout, not sys.stdout at the time: the local stack swaps sys.stdout while the handler runs (its
    # metrics lines go to a file), and the soak's clients keep the handler busy while this thread logs.
    console = sys.stdout
    result = run_soak(options, log=lambda line: print(line, file=console, flush=True))
    print(result.table())
    if args.write_doc:
        write_doc(result)
        print(f"soak: results written to {DOC_PATH}")
    print("soak: PASSED" if result.ok else "soak: FAILED")
    return 0 if result.ok else 1


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events to send (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--dir", type=Path, default=Path(".featurepulse-soak"), help="working directory")
    parser.add_argument("--write-doc", action="store_true", help="write the table into docs/reliability.md")
    parser.set_defaults(func=_run)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("soak", help="N events through the local pipeline under faults; exact checks")
    _add_arguments(parser)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m featurepulse.local.soak", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

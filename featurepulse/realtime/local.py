"""`LocalFlink`: the real-time job in PyFlink's local mini-cluster, fed from the moto stream (`make run`).

PyFlink 1.20 pins old pyarrow/numpy, so the job runs in its own virtual environment (`.venv-flink`, built by
the Makefile) as a subprocess: `python -m featurepulse_flink_local.job`. This component
1. creates the aggregates table in moto (the keys `cdk/realtime.py` gives the real one),
2. reads the moto Kinesis stream like the Flink Kinesis source (every shard from the start) and drops each
   batch of records into the job's spool directory (the local stand-in for the Kinesis connector),
3. starts the job, which writes the aggregates to moto DynamoDB with boto3 (the stand-in for the DynamoDB
   connector). The aggregation between them is the one that runs in AWS.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from featurepulse.local.components import LocalContext
from featurepulse.local.runtime import FAKE_CREDENTIALS
from featurepulse.local.stream_reader import StreamReader
from featurepulse.realtime import items, sql
from featurepulse.realtime.dal import AggregatesReader, create_aggregates_table
from featurepulse.realtime.events import EngagementEvent, unpack_engagement
from featurepulse.realtime.finalize import FinalizedDay, finalize_day
from featurepulse.realtime.settings import RealtimeSettings

logger = logging.getLogger(__name__)

LOCAL_AGGREGATES_TABLE = "featurepulse-aggregates"
SHARED_AGGREGATES_TABLE = "aggregates_table"  # key in LocalContext.shared
REPO_ROOT = Path(__file__).resolve().parents[2]
# The job's packages: the application Managed Flink runs (flink/app/python) and the local runner (flink/local).
FLINK_PYTHONPATH = (REPO_ROOT, REPO_ROOT / "flink" / "app" / "python", REPO_ROOT / "flink" / "local")
FLINK_PYTHON_ENV = "FEATUREPULSE_FLINK_PYTHON"  # overrides the interpreter of the job
# A ceiling, not the expected start time (10-30 s): a job that dies is seen at once (`_check_alive`), a live one on
# a loaded machine is given the time it needs.
JOB_START_TIMEOUT_S = 600.0


def flink_python() -> Path:
    override = os.environ.get(FLINK_PYTHON_ENV)
    return Path(override) if override else REPO_ROOT / ".venv-flink" / "bin" / "python"


class SpoolWriter:
    """Writes batches of stream records as `{"data": ...}` JSON Lines files, atomically (dot-name, rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = 0
        self.records = 0
        self.events = 0
        self.event_ids: set[tuple[str, str]] = set()  # (source_id, event_id): what the job de-duplicates on
        # The job writes the name of each file it starts reading here (`--read-marker`): its file source hands out
        # waiting files in no particular order, so the feeder lets only one file wait at a time.
        self.read_marker = directory.parent / f"{directory.name}.read"
        self.read_marker.unlink(missing_ok=True)
        self.last_name: str | None = None

    def last_file_taken(self) -> bool:
        """Whether the job has started reading the newest file (names sort in the order they were written)."""
        if self.last_name is None:
            return True
        try:
            return self.read_marker.read_text(encoding="utf-8") >= self.last_name
        except FileNotFoundError:
            return False

    def write(self, records: list[bytes]) -> None:
        if not records:
            return
        self.files += 1
        name = f"{time.time_ns():020d}-{self.files:08d}.json"
        self.last_name = name
        tmp = self.directory / f".{name}"
        with tmp.open("w", encoding="utf-8") as out:
            for data in records:
                # The record's bytes as the AWS source gives them to the job (sql.RECORD_CHARSET: one per byte).
                out.write(json.dumps({"data": data.decode(sql.RECORD_CHARSET)}) + "\n")
                for event in unpack_engagement(data):
                    self.events += 1
                    if isinstance(event, EngagementEvent):
                        self.event_ids.add(event.dedup_key)
        os.replace(tmp, self.directory / name)
        self.records += len(records)


class LocalFlink:
    name = "realtime"

    def __init__(
        self,
        *,
        settings: RealtimeSettings | None = None,
        table_name: str = LOCAL_AGGREGATES_TABLE,
        poll_interval_s: float = 0.2,
        file_interval_s: float = 1.0,
        checkpoint_interval_ms: int | None = None,
    ) -> None:
        self.settings = settings or RealtimeSettings()
        # Off by default. When set, the job checkpoints to <root>/flink/checkpoints and `kill_job` +
        # `restart_job(restore_from=...)` restart it from a retained checkpoint (the soak's fault injection).
        self.checkpoint_interval_ms = checkpoint_interval_ms
        self.table_name = table_name
        self.poll_interval_s = poll_interval_s
        self.file_interval_s = file_interval_s
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._spool: SpoolWriter | None = None
        self._workdir: Path | None = None
        self._reader: AggregatesReader | None = None

    # --- LocalComponent -------------------------------------------------------------------------
    def start(self, ctx: LocalContext) -> None:
        python = flink_python()
        if not python.exists():
            raise RuntimeError(f"{python} not found: build the PyFlink environment with `make .venv-flink/.installed`")
        dynamodb = ctx.client("dynamodb")
        create_aggregates_table(dynamodb, self.table_name)
        self._reader = AggregatesReader(dynamodb, self.table_name)
        ctx.shared[SHARED_AGGREGATES_TABLE] = self.table_name
        ctx.address_book.update(aggregates_table=self.table_name)

        self._workdir = ctx.root / "flink"
        spool = self._workdir / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        for old in spool.iterdir():
            old.unlink()
        self._spool = SpoolWriter(spool)
        shutil.rmtree(self._workdir / "checkpoints", ignore_errors=True)
        log_path = ctx.root / "logs" / "flink-job.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self._launch(ctx)
        ctx.address_book.update(flink_job_log=log_path)
        kinesis = ctx.client("kinesis")
        self._thread = threading.Thread(
            target=self._feed, args=(StreamReader(kinesis, ctx.stream_name, from_start=True),), daemon=True
        )
        self._thread.name = "local-flink-feeder"
        self._thread.start()

    def _launch(self, ctx: LocalContext, restore_from: Path | None = None) -> None:
        assert self._workdir is not None and self._spool is not None
        ready = self._workdir / "job.ready"
        ready.unlink(missing_ok=True)  # the feeder writes no spool file until the new job runs
        command = [
            str(flink_python()),
            "-m",
            "featurepulse_flink_local.job",
            "--spool",
            str(self._spool.directory),
            "--table",
            self.table_name,
            "--endpoint-url",
            ctx.aws_endpoint_url,
            "--region",
            ctx.region,
            "--ready-file",
            str(ready),
            "--read-marker",
            str(self._spool.read_marker),
        ]
        for key, value in self.settings.to_properties().items():
            command += ["--property", f"{key}={value}"]
        if self.checkpoint_interval_ms is not None:
            command += ["--checkpoint-dir", str(self._workdir / "checkpoints")]
            command += ["--checkpoint-interval-ms", str(self.checkpoint_interval_ms)]
        if restore_from is not None:
            command += ["--restore-from", str(restore_from)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in FLINK_PYTHONPATH)
        for name, value in FAKE_CREDENTIALS.items():
            env.setdefault(name, value)
        # Its own process group: stop() ends the job's JVM with it.
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True
        )

    # --- fault injection (the soak, featurepulse/local/soak.py); unused by `make run` ---------------
    def latest_checkpoint(self) -> Path | None:
        """The newest completed checkpoint (`chk-N` holding `_metadata`) of any run of the job, or None."""
        if self._workdir is None:
            return None
        done = list((self._workdir / "checkpoints").glob("*/chk-*/_metadata"))
        return max(done, key=lambda p: p.stat().st_mtime_ns).parent if done else None

    def pause_feeding(self) -> None:
        """The feeder writes no further spool file until the job is (re)started (`job.ready` reappears)."""
        assert self._workdir is not None
        (self._workdir / "job.ready").unlink(missing_ok=True)

    @property
    def spool(self) -> SpoolWriter | None:
        return self._spool

    def kill_job(self) -> None:
        """SIGKILL the job and its JVM, as a crash would: no cancel, no final checkpoint, no flush."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def restart_job(self, ctx: LocalContext, restore_from: Path | None) -> None:
        """Start the job again (from a retained checkpoint when given); the feeder resumes once it runs."""
        self._launch(ctx, restore_from)

    def _feed(self, reader: StreamReader) -> None:
        """Stream -> spool files, in stream order.

        The job's file source takes the files it finds in one directory listing in no particular order, so the
        feeder keeps them apart: nothing is written before the job runs (what arrives meanwhile becomes one
        file), then at most one file per `file_interval_s`, twice the source's monitor interval. Out-of-order
        files would make Kinesis's per-shard order look shuffled: many events behind the watermark.
        """
        assert self._spool is not None and self._workdir is not None
        ready = self._workdir / "job.ready"
        pending: list[bytes] = []
        last_write = 0.0
        while not self._stop.is_set():
            try:
                batch = reader.poll()
            except Exception:  # moto restarting or stopping: retry until stopped
                logger.exception("reading the stream for the Flink job failed")
                self._stop.wait(1.0)
                continue
            pending += [r.data for r in batch]
            due = pending and time.monotonic() - last_write >= self.file_interval_s
            if due and ready.exists() and self._spool.last_file_taken():
                self._spool.write(pending)
                pending, last_write = [], time.monotonic()
            if pending or batch:
                self._caught_up.clear()
            else:
                self._caught_up.set()
            self._stop.wait(self.poll_interval_s)

    def wait_until_running(self, timeout_s: float = JOB_START_TIMEOUT_S) -> None:
        """Block until the job is submitted (the mini-cluster takes ~10-30 s to start)."""
        assert self._workdir is not None
        deadline = time.monotonic() + timeout_s
        ready = self._workdir / "job.ready"
        while not ready.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Flink job did not start within {timeout_s:.0f} s (see logs/flink-job.log)")
            time.sleep(0.2)

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"the Flink job exited with code {self._process.returncode} (see logs/flink-job.log)")

    def drain(self, ctx: LocalContext, timeout_s: float) -> None:
        """Return once every event on the stream is accounted for in the aggregates and the table is still."""
        assert self._spool is not None
        deadline = time.monotonic() + timeout_s
        self.wait_until_running(max(1.0, deadline - time.monotonic()))
        while not self._caught_up.wait(0.2):
            if time.monotonic() > deadline:
                return
        while self.accounted_events() < len(self._spool.event_ids):
            self._check_alive()
            if time.monotonic() > deadline:
                logger.warning("real time: drain timed out before every event reached the aggregates")
                return
            time.sleep(0.5)
        # Each window fires on its own timer: give the others a few early-firing periods to settle.
        quiet_s = max(2.0, 2 * self.settings.early_fire_delay_ms / 1000)
        last, stable_since = self._digest(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - stable_since < quiet_s:
            time.sleep(0.5)
            digest = self._digest()
            if digest != last:
                last, stable_since = digest, time.monotonic()

    def accounted_events(self) -> int:
        """Distinct events the aggregates account for: in a day of the app-level rows, or counted late."""
        assert self._reader is not None
        on_time = sum(int(i.get("events") or 0) for i in self._reader.with_prefix(items.APP_PK, "D#"))
        late = sum(int(i.get("late_events") or 0) for i in self._reader.with_prefix(items.APP_PK, "L#"))
        return on_time + late

    def _digest(self) -> str:
        """A fingerprint of the whole table (small locally): tells when the job has stopped writing."""
        assert self._reader is not None
        client = self._reader.client
        h = hashlib.sha256()
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        while True:
            page = client.scan(**kwargs)
            for item in sorted(page.get("Items", []), key=lambda i: (i[items.PK]["S"], i[items.SK]["S"])):
                h.update(json.dumps(item, sort_keys=True).encode())
            if "LastEvaluatedKey" not in page:
                return h.hexdigest()
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def summary(self, ctx: LocalContext) -> list[str]:
        spool = self._spool
        if spool is None or self._reader is None:
            return ["real time:  not started"]
        rows = int(self._reader.client.scan(TableName=self.table_name, Select="COUNT").get("Count", 0))
        state = "running" if self._process is not None and self._process.poll() is None else "stopped"
        return [
            f"real time:  Flink job (local mini-cluster, {state}) read {spool.events} events in {spool.records} "
            f"records; the aggregates account for {self.accounted_events()} of {len(spool.event_ids)} distinct events",
            f"            DynamoDB table {self.table_name}: {rows} rows; job log {ctx.root / 'logs' / 'flink-job.log'}",
        ]

    def stop(self) -> None:
        self._stop.set()
        process, self._process = self._process, None
        if process is not None:
            # The job cancels itself on SIGTERM and exits; its JVM (same process group) follows it.
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    logger.warning("the Flink job did not stop within 20 s; killing it")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group (the JVM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._log is not None:
            self._log.close()
            self._log = None


def finalize_lake_day(
    lake_dir: Path, dynamodb: Any, table_name: str, day: date, *, now: datetime, force: bool = False
) -> FinalizedDay:
    """The daily correction on the local lake: the identity table brought up to date, then the day's batch
    figures (DuckDB) written as final day rows (featurepulse/realtime/finalize.py)."""
    from featurepulse.local.duckdb_runner import DuckDbQueryRunner
    from featurepulse.local.identity import local_refresher

    local_refresher(lake_dir)()
    runner = DuckDbQueryRunner(lake_dir)
    try:
        return finalize_day(runner, dynamodb, table_name, day, now=now, force=force)
    finally:
        runner.close()


def finalize_local_days(ctx: LocalContext | None, *, now: datetime | None = None) -> list[FinalizedDay]:
    """After the local pipeline has drained (`make run`): correct the live day rows of every day in the lake.

    Forced: the days are not over, but nothing more arrives once the demo's traffic has drained, so the batch's
    figures are final for them. (In AWS the report job corrects a day only after it is final.)
    """
    if ctx is None or SHARED_AGGREGATES_TABLE not in ctx.shared:
        return []  # the real-time component is not running
    days = sorted(date.fromisoformat(p.name[3:]) for p in (ctx.lake_dir / "events").glob("dt=*") if p.is_dir())
    dynamodb = ctx.client("dynamodb")
    table = str(ctx.shared[SHARED_AGGREGATES_TABLE])
    at = now or datetime.now(UTC)
    done = []
    for day in days:
        try:
            done.append(finalize_lake_day(ctx.lake_dir, dynamodb, table, day, now=at, force=True))
        except Exception:  # the dashboard keeps the live figures; the demo goes on and its log says why
            logger.exception("correcting the live rows of %s failed", day.isoformat())
    return done

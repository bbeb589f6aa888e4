"""`LocalFirehose`: the local stand-in for the Firehose delivery stream (moto's Firehose neither reads Kinesis
nor converts to Parquet).

It reads the moto stream like Firehose's Kinesis source (every shard, from the start), splits each record into
its events (JSON de-aggregation), buffers per partition like Firehose and writes the same Parquet files into the
local lake directory and into the moto lake bucket, so that erasure and replay behave the same on both. It also
mirrors the quarantine objects the ingest handler wrote to moto S3 into the local quarantine directory.

A restart (a new `LocalFirehose` on a lake that already holds files, e.g. after a crash that lost the buffered
rows) reads the stream from the start again, like a Firehose source that lost its position; its
de-duplication starts from the (source_id, event_id) pairs already in the local lake, so every event is
written once: the buffered rows the crash lost are written, nothing already written is written again.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from featurepulse.constants import QUARANTINE_PREFIX
from featurepulse.lake.layout import EVENTS_PREFIX, PARQUET_SUFFIX
from featurepulse.lake.store import LocalStore, ObjectStore, S3Store
from featurepulse.lake.writer import BufferingHints, LakeWriter
from featurepulse.local.components import LocalContext
from featurepulse.local.stream_reader import StreamReader

logger = logging.getLogger(__name__)

LOCAL_BUFFERING = BufferingHints(size_bytes=64 * 1024 * 1024, interval_s=60.0)


def local_lake_store(lake_dir: Path, quarantine_dir: Path) -> LocalStore:
    """The local lake as an object store: `lake_dir` is the bucket root, `quarantine/` is `quarantine_dir`."""
    return LocalStore(lake_dir, mounts={QUARANTINE_PREFIX: quarantine_dir})


class LocalFirehose:
    name = "lake"

    def __init__(self, *, hints: BufferingHints = LOCAL_BUFFERING, poll_interval_s: float = 0.5) -> None:
        self.hints = hints
        self.poll_interval_s = poll_interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: StreamReader | None = None
        self._writer: LakeWriter | None = None
        self._bucket: S3Store | None = None
        self._local: LocalStore | None = None
        self._mirrored: set[str] = set()

    # --- LocalComponent -------------------------------------------------------------------------
    def start(self, ctx: LocalContext) -> None:
        ctx.lake_dir.mkdir(parents=True, exist_ok=True)
        ctx.quarantine_dir.mkdir(parents=True, exist_ok=True)
        self._local = local_lake_store(ctx.lake_dir, ctx.quarantine_dir)
        self._bucket = S3Store(ctx.client("s3"), ctx.lake_bucket)
        stores: list[ObjectStore] = [self._local, self._bucket]
        self._writer = LakeWriter(
            stores,
            writer_name=f"{ctx.stream_name}-lake",
            hints=self.hints,
            seen=lake_event_keys(ctx.lake_dir),  # a restart: what is already in the lake
        )
        self._reader = StreamReader(ctx.client("kinesis"), ctx.stream_name, from_start=True)
        ctx.address_book.update(lake_dir=ctx.lake_dir, quarantine_dir=ctx.quarantine_dir, lake_bucket=ctx.lake_bucket)
        self._thread = threading.Thread(target=self._run, name="local-firehose", daemon=True)
        self._thread.start()

    def drain(self, ctx: LocalContext, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._cycle() and time.monotonic() < deadline:
                pass
            if self._writer is not None:
                self._writer.flush()
            self._mirror_quarantine()

    def summary(self, ctx: LocalContext) -> list[str]:
        files, rows, size = lake_totals(ctx.lake_dir)
        per_event = f"{size / rows:.1f} bytes/event" if rows else "no events"
        where = ctx.lake_dir / EVENTS_PREFIX
        lines = [f"lake:       {where}  ({files} Parquet files, {rows} rows, {size} bytes, {per_event})"]
        writer = self._writer
        if writer is not None and writer.stats.rows:
            raw = writer.stats.incoming_bytes / max(1, writer.stats.rows + writer.stats.duplicates)
            lines.append(
                f"            raw JSON on the stream: {raw:.1f} bytes/event; duplicates dropped: "
                f"{writer.stats.duplicates}; records sent to errors/: {writer.stats.errors}"
            )
        quarantined = sorted(ctx.quarantine_dir.rglob("*.jsonl")) if ctx.quarantine_dir.is_dir() else []
        events = sum(sum(1 for line in p.read_bytes().splitlines() if line.strip()) for p in quarantined)
        lines.append(f"quarantine: {ctx.quarantine_dir}  ({len(quarantined)} objects, {events} events)")
        lines.append(
            "            query it: .venv/bin/featurepulse lake query --lake-dir "
            f'{ctx.lake_dir} "SELECT dt, hr, count(*) AS events FROM events GROUP BY ALL ORDER BY ALL"'
        )
        return lines

    def stop(self, *, flush: bool = True) -> None:
        """Stop; `flush=False` drops the buffered rows, as a crash would (the soak's fault injection)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        with self._lock:
            if self._writer is not None and flush:
                try:
                    self._writer.flush()
                except Exception:  # moto may already be gone at shutdown; the local files are written first
                    logger.warning("lake: final flush failed", exc_info=True)

    # --- internals ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    got = self._cycle()
                    self._mirror_quarantine()
            except Exception:  # keep consuming: a failed poll is retried, nothing is acknowledged
                logger.exception("lake: local Firehose cycle failed")
                got = False
            if not got:
                self._stop.wait(self.poll_interval_s)

    def _cycle(self) -> bool:
        """One poll of the stream; returns whether anything arrived."""
        if self._reader is None or self._writer is None:
            return False
        batch = self._reader.poll()
        for record in batch:
            self._writer.add_record(record.data)
        self._writer.flush_due()
        return bool(batch)

    def _mirror_quarantine(self) -> None:
        if self._bucket is None or self._local is None:
            return
        for key in self._bucket.list_keys(QUARANTINE_PREFIX):
            if key not in self._mirrored:
                self._local.put(key, self._bucket.get(key))
                self._mirrored.add(key)


def lake_totals(lake_dir: Path) -> tuple[int, int, int]:
    """(files, rows, bytes) of the Parquet files of a local lake directory (footers only)."""
    files = rows = size = 0
    events = lake_dir / EVENTS_PREFIX
    if not events.is_dir():
        return 0, 0, 0
    for path in events.rglob(f"*{PARQUET_SUFFIX}"):
        files += 1
        size += path.stat().st_size
        rows += pq.ParquetFile(path).metadata.num_rows
    return files, rows, size


def lake_event_keys(lake_dir: Path) -> set[tuple[str, str]]:
    """The (source_id, event_id) pairs of every row in a local lake directory (empty for a new lake)."""
    events = lake_dir / EVENTS_PREFIX
    keys: set[tuple[str, str]] = set()
    if not events.is_dir():
        return keys
    for path in events.rglob(f"*{PARQUET_SUFFIX}"):
        table = pq.read_table(path, columns=["source_id", "event_id"])
        keys.update(zip(table.column("source_id").to_pylist(), table.column("event_id").to_pylist(), strict=True))
    return keys

"""The lake: bytes per event in Parquet, and the time to erase one user from a lake of 10 M events.

1. Bytes per event. The local traffic generator's requests go through the ingest code (validate, enrich, pack)
   exactly as in the Lambda; the stream records are written by the lake writer with Firehose's layout and
   buffering (one file per partition and flush; flushes every `lakeBufferIntervalSeconds` of simulated time).
   Baseline in the same run: the JSON bytes of the same enriched events on the stream. Shown for three traffic
   rates (rows per file drive compression) and for SNAPPY, Firehose's default, against our GZIP.
2. Erasure. A lake of 10 M events (7 days, 12 files per hour as a 300 s Firehose buffer cuts them) is generated
   once with pyarrow into `.build/bench-lake-erase/` (outside git) and reused. Each run erases the next user of
   the lake (`usr_000000`, `usr_000001`...) with `featurepulse.lake.erasure` on the local directory. Baseline in
   the same run: reading every column of every file once (the floor of a naive "rewrite the whole lake").
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.ingest.enrich import EnrichmentConfig
from featurepulse.ingest.request import parse_request, prepare_events
from featurepulse.lake.erasure import ErasureRequest, LakeEraser
from featurepulse.lake.layout import Partition, data_file_name
from featurepulse.lake.parquet import PARQUET_COMPRESSION, arrow_schema, table_to_parquet
from featurepulse.lake.store import LocalStore
from featurepulse.lake.writer import BufferingHints, LakeWriter
from featurepulse.local.traffic import TrafficGenerator

TARGET_BYTES_PER_EVENT = 60.0
FLUSH_SECONDS = 300
SIMULATED_SECONDS = 3600
RATES = (5, 20, 60)  # events per second: ~1.5k, 6k and 18k rows per 300 s file

LAKE_DIR = Path(".build/bench-lake-erase")
LAKE_EVENTS = 10_000_000
LAKE_DAYS = 7
FILES_PER_HOUR = 3600 // FLUSH_SECONDS
LAKE_USERS = 100_000
LAKE_ANONYMOUS_SHARE = 0.10
LAKE_SEED = 11


# --- 1. bytes per event ---------------------------------------------------------------------------------------
class _SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def stream_records_of_traffic(rate: int, seconds: int, seed: int = 7) -> tuple[list[bytes], int]:
    """The stream records ingest produces for `seconds` of synthetic traffic at `rate` events/s."""
    generator = TrafficGenerator(seed=seed, invalid_rate=0.0)
    config = EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP)
    start = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    records: list[bytes] = []
    accepted = 0
    for second in range(seconds):
        now = start + timedelta(seconds=second + 1)
        for request in generator.tick(now, rate):
            parsed = parse_request(json.dumps(request.payload).encode(), request.route.rsplit("/", 1)[1])
            prepared = prepare_events(
                parsed,
                source_id="src-bench",
                request_id=f"r{second}",
                received_at_ms=int(now.timestamp() * 1000),
                config=config,
            )
            accepted += prepared.accepted
            records.extend(r.data for r in prepared.records)
    return records, accepted


def lake_bytes(records: list[bytes], compression: str, tmp: Path) -> tuple[int, int, int]:
    """(files, rows, bytes) of the lake written from `records`, flushing every FLUSH_SECONDS of simulated time."""
    clock = _SimClock()
    store = LocalStore(tmp)
    writer = LakeWriter(
        [store],
        hints=BufferingHints(size_bytes=128 * 1024 * 1024, interval_s=FLUSH_SECONDS),
        compression=compression,
        monotonic=clock,
    )
    per_second = max(1, len(records) // SIMULATED_SECONDS)
    for index, data in enumerate(records):
        clock.now = index / per_second
        writer.add_record(data)
    writer.flush()
    return writer.stats.files, writer.stats.rows, writer.stats.bytes


def bytes_per_event() -> list[dict[str, Any]]:
    results = []
    for rate in RATES:
        records, accepted = stream_records_of_traffic(rate, SIMULATED_SECONDS)
        raw = sum(len(r) for r in records)
        row: dict[str, Any] = {"rate": rate, "events": accepted, "raw_json_per_event": raw / accepted}
        for compression in (PARQUET_COMPRESSION, "SNAPPY"):
            with tempfile.TemporaryDirectory() as tmp:
                files, rows, size = lake_bytes(records, compression, Path(tmp))
            assert rows == accepted, (rows, accepted)
            row[compression] = size / rows
            row["rows_per_file"] = rows / files
        results.append(row)
    return results


# --- 2. erasure -------------------------------------------------------------------------------------------------
def _uuid_strings(rng: np.random.Generator, n: int) -> pa.Array:
    """n random UUID-shaped strings, vectorized (no Python loop over rows)."""
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    chars = hexdigits[nibbles]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    parts = [chars[:, 0:8], dash, chars[:, 8:12], dash, chars[:, 12:16], dash, chars[:, 16:20], dash, chars[:, 20:32]]
    joined = np.ascontiguousarray(np.concatenate(parts, axis=1))
    offsets = np.arange(0, (n + 1) * 36, 36, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(joined.tobytes())])


def _choice(rng: np.random.Generator, values: Sequence[str | None], n: int, p: list[float] | None = None) -> pa.Array:
    indices = rng.choice(len(values), size=n, p=p).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(values, type=pa.string())).cast(pa.string())


def _lake_file(rng: np.random.Generator, n: int, start: datetime, seconds: int, user_anons: pa.Array) -> pa.Table:
    users = rng.integers(0, LAKE_USERS, size=n)
    anonymous = rng.random(n) < LAKE_ANONYMOUS_SHARE
    user_names = np.char.add("usr_", np.char.zfill(users.astype(str), 6)).astype(object)
    user_names[anonymous] = None
    offsets_ms = np.sort(rng.integers(0, seconds * 1000, size=n))
    base_ms = int(start.timestamp() * 1000)
    ts = pa.array(base_ms + offsets_ms, type=pa.int64()).cast(pa.timestamp("ms"))
    received = pa.array(base_ms + offsets_ms + rng.integers(300, 2500, size=n), type=pa.int64()).cast(
        pa.timestamp("ms")
    )
    sent = pa.array(base_ms + offsets_ms + rng.integers(5, 300, size=n), type=pa.int64()).cast(pa.timestamp("ms"))
    events = list(DEFAULT_STAGE_MAP)
    event = _choice(rng, events, n, [0.4, 0.3, 0.2, 0.1])
    stage_by_event = pa.array([DEFAULT_STAGE_MAP[e] for e in events])
    stage = stage_by_event.take(pa.array([events.index(e) for e in event.to_pylist()]))
    columns: dict[str, Any] = {
        "event_id": _uuid_strings(rng, n),
        "source_id": pa.array(["src-web"] * n),
        "type": pa.array(["track"] * n),
        "event": event,
        "feature": _choice(rng, ["smart-reports", "bulk-export", "ai-summary", "dark-mode"], n),
        "stage": stage,
        "user_id": pa.array(user_names, type=pa.string()),
        "anonymous_id": user_anons.take(pa.array(users)),
        "session_id": pa.array(np.char.add("s", (users * 7 + offsets_ms // 1_800_000).astype(str)), type=pa.string()),
        "timestamp": ts,
        "sent_at": sent,
        "received_at": received,
        "campaign_name": _choice(rng, [None, "winter_launch", "partner_week"], n, [0.7, 0.2, 0.1]),
        "campaign_source": _choice(rng, [None, "newsletter", "google"], n, [0.7, 0.2, 0.1]),
        "campaign_medium": _choice(rng, [None, "email", "cpc"], n, [0.7, 0.2, 0.1]),
        "campaign_term": _choice(rng, [None, "reports"], n, [0.9, 0.1]),
        "campaign_content": _choice(rng, [None, "hero"], n, [0.9, 0.1]),
        "experiment_id": _choice(rng, [None, "exp-onboarding-v2"], n, [0.5, 0.5]),
        "variation_id": _choice(rng, [None, "control", "treatment"], n, [0.5, 0.25, 0.25]),
        "duration_ms": pa.array(rng.integers(100, 120_000, size=n)),
        "platform": _choice(rng, ["web", "ios", "android"], n, [0.6, 0.25, 0.15]),
        "app_version": _choice(rng, ["2.4.1", "2.5.0", "3.0.0"], n),
        "country": _choice(rng, ["US", "DE", "GB", "FR", "IN", "BR"], n),
        "ip_prefix": pa.array(np.char.add(np.char.add("203.0.", rng.integers(0, 256, n).astype(str)), ".0/24")),
        "user_agent": _choice(rng, ["Mozilla/5.0 (Macintosh) Chrome/131.0", "FeaturePulseApp/2.5 iOS 18.1"], n),
        "properties": _choice(rng, ['{"feature":"smart-reports","duration_ms":4200}', '{"feature":"ai-summary"}'], n),
        "context": _choice(rng, ['{"library":{"name":"analytics.js"},"locale":"en-US"}', '{"locale":"de-DE"}'], n),
        "schema_version": pa.array(np.ones(n, dtype=np.int64)),
    }
    return pa.Table.from_pydict(columns).cast(arrow_schema())


def ensure_erasure_lake(root: Path = LAKE_DIR) -> dict[str, Any]:
    manifest_path = root / "manifest.json"
    wanted = {"events": LAKE_EVENTS, "days": LAKE_DAYS, "files_per_hour": FILES_PER_HOUR, "seed": LAKE_SEED}
    if manifest_path.is_file():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in wanted} == wanted:
            return manifest
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    rng = np.random.default_rng(LAKE_SEED)
    user_anons = _uuid_strings(rng, LAKE_USERS)
    files = LAKE_DAYS * 24 * FILES_PER_HOUR
    per_file = LAKE_EVENTS // files
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for index in range(files):
        file_start = start + timedelta(seconds=index * FLUSH_SECONDS)
        table = _lake_file(rng, per_file, file_start, FLUSH_SECONDS, user_anons)
        part = Partition(dt=file_start.strftime("%Y-%m-%d"), hr=file_start.strftime("%H"))
        path = root / part.prefix() / data_file_name("bench", file_start, f"{index:06d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(table_to_parquet(table))
    manifest = {**wanted, "files": files, "generated_in_s": round(time.perf_counter() - started, 1), "next_user": 0}
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest


def erase_one_user(root: Path = LAKE_DIR) -> dict[str, Any]:
    manifest = ensure_erasure_lake(root)
    store = LocalStore(root)
    # Baseline: read every column of every data file once.
    started = time.perf_counter()
    total_rows = 0
    total_bytes = 0
    for path in sorted((root / "events").rglob("*.parquet")):
        total_rows += pq.read_table(path).num_rows
        total_bytes += path.stat().st_size
    read_all_s = time.perf_counter() - started
    user = f"usr_{manifest['next_user']:06d}"
    manifest["next_user"] += 1
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    eraser = LakeEraser(store, workers=2 * (os.cpu_count() or 1))
    request = ErasureRequest(user_ids=frozenset({user}))
    started = time.perf_counter()
    eraser.erase(request, requested_by="bench", dry_run=True)
    dry_run_s = time.perf_counter() - started
    started = time.perf_counter()
    audit = eraser.erase(request, requested_by="bench")
    erase_s = time.perf_counter() - started
    return {
        "user": user,
        "lake_rows": total_rows,
        "lake_bytes": total_bytes,
        "files": audit.lake_files_scanned,
        "files_rewritten": len(audit.lake_files),
        "rows_removed": audit.rows_removed,
        "erase_s": erase_s,
        "dry_run_s": dry_run_s,
        "read_all_s": read_all_s,
        "generated_in_s": manifest["generated_in_s"],
    }


def main() -> None:
    if os.environ.get("BENCH_LAKE_ONLY") != "erase":
        bytes_per_event_report()
    erase_report()


def bytes_per_event_report() -> None:
    head = f"Parquet {PARQUET_COMPRESSION}, {FLUSH_SECONDS} s Firehose flushes, 1 h of synthetic traffic"
    print(f"bytes per event in the lake ({head})")
    columns = ("events/s", "events", "rows/file", "raw JSON B/ev", "GZIP B/ev", "SNAPPY B/ev", "JSON/GZIP")
    print(" ".join(f"{c:>13}" for c in columns))
    rows = bytes_per_event()
    for r in rows:
        ratio = r["raw_json_per_event"] / r[PARQUET_COMPRESSION]
        values = [r["rate"], r["events"], round(r["rows_per_file"]), f"{r['raw_json_per_event']:.1f}"]
        values += [f"{r[PARQUET_COMPRESSION]:.1f}", f"{r['SNAPPY']:.1f}", f"{ratio:.1f}x"]
        print(" ".join(f"{v:>13}" for v in values))
    met = [r["rate"] for r in rows if r[PARQUET_COMPRESSION] <= TARGET_BYTES_PER_EVENT]
    print(f"target <= {TARGET_BYTES_PER_EVENT:.0f} B/event met at {met or 'no'} events/s")


def erase_report() -> None:
    layout = f"{LAKE_DAYS} days, {FILES_PER_HOUR} files/hour"
    print(f"\nerasing one user from a lake of {LAKE_EVENTS:,} events ({layout})")
    result = erase_one_user()
    print(
        f"lake: {result['files']} files, {result['lake_rows']:,} rows, {result['lake_bytes'] / 1e6:.0f} MB "
        f"({result['lake_bytes'] / result['lake_rows']:.1f} B/event; generated once in {result['generated_in_s']} s)"
    )
    print(
        f"erase {result['user']}: {result['erase_s']:.1f} s, {result['rows_removed']} rows removed, "
        f"{result['files_rewritten']} of {result['files']} files rewritten "
        f"(dry run, i.e. scan + read of the affected files: {result['dry_run_s']:.1f} s)"
    )
    print(
        f"baseline, read the whole lake once: {result['read_all_s']:.1f} s; erasure / baseline = "
        f"{result['erase_s'] / result['read_all_s']:.2f}"
    )

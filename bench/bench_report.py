"""Reports: the time of the daily and weekly report jobs on a local lake of 10 M events, and the bytes each
query reads, showing that a daily report reads only the partitions of its day (plus the declared look-back
of MAU and D30 retention), not the lake.

The lake (56 days, 2 Parquet files per hour, GZIP as the lake writes, 1% duplicated event ids) is generated
once with vectorised pyarrow into `.build/bench-lake-report/` (outside git) and reused while its parameters
are unchanged. Each query runs with DuckDB's profiler on: the files and bytes it read come from the profile
(`Total Files Read`, summed over scans, and `io.total_bytes_read`). Baseline in the same run:
`period_summary` over the whole lake (every partition), the cost of a query without partition pruning.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from featurepulse.domain.schema import lake_columns
from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.reporting.job import ReportSettings, build_report
from featurepulse.reporting.periods import Period, PeriodKind
from featurepulse.reporting.queries import QUERY_NAMES

REPO = Path(__file__).resolve().parent.parent
LAKE_DIR = Path(os.environ.get("FEATUREPULSE_BENCH_REPORT_LAKE", REPO / ".build" / "bench-lake-report"))
EVENTS = 10_000_000
DAYS = 56
FIRST_DAY = date(2026, 1, 5)  # a Monday: 8 full ISO weeks
FILES_PER_HOUR = 2
USERS = 400_000
DUPLICATE_SHARE = 0.01
COMPRESSION = "GZIP"
PARAMS = {"events": EVENTS, "days": DAYS, "first_day": FIRST_DAY.isoformat(), "files_per_hour": FILES_PER_HOUR,
          "users": USERS, "duplicates": DUPLICATE_SHARE, "compression": COMPRESSION, "version": 1}  # fmt: skip
REPORT_DAY = FIRST_DAY + timedelta(days=DAYS - 3)  # late enough for full MAU and D30 windows

_ARROW = {"string": pa.string(), "bigint": pa.int64(), "timestamp": pa.timestamp("ms")}
SCHEMA = pa.schema([pa.field(c.name, _ARROW[c.type], nullable=c.nullable) for c in lake_columns()])
EVENT_KINDS = [  # (type, event, stage, probability)
    ("page", "Page Viewed", None, 0.40),
    ("track", "Feature Viewed", "view", 0.25),
    ("track", "Feature Used", "use", 0.15),
    ("track", "Feature Completed", "complete", 0.08),
    ("track", "Feature Dismissed", "dismiss", 0.04),
    ("track", "Experiment Viewed", None, 0.08),
]
FEATURES = ["smart-search", "ai-summary", "bulk-edit", "dark-mode"]
CAMPAIGNS = [
    (None, None, None),
    ("google", "cpc", "spring"),
    ("newsletter", "email", "march"),
    ("linkedin", "social", "webinar"),
]


def _strings(values: list[str] | list[str | None], indices: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(values, pa.string())).cast(
        pa.string()
    )


def _day_table(rng: np.random.Generator, day: date, n: int, first_id: int) -> pa.Table:
    seconds = np.sort(rng.integers(0, 86_400_000, n))
    start_ms = int(datetime(day.year, day.month, day.day).timestamp() * 1000) - int(
        datetime(1970, 1, 1).timestamp() * 1000
    )
    ts = pa.array(start_ms + seconds, pa.timestamp("ms"))
    kind = rng.choice(len(EVENT_KINDS), n, p=[k[3] for k in EVENT_KINDS])
    user = np.minimum(rng.zipf(1.3, n) - 1, USERS - 1)
    feature = rng.integers(0, len(FEATURES), n)
    has_feature = np.isin(kind, [1, 2, 3, 4])
    is_exposure = kind == 5
    campaign = rng.choice(len(CAMPAIGNS), n, p=[0.6, 0.15, 0.15, 0.1])
    user_ids = [f"usr_{i:06d}" for i in range(USERS)]
    columns: dict[str, Any] = {
        "event_id": pc.binary_join_element_wise(
            "evt_", pa.array(np.arange(first_id, first_id + n)).cast(pa.string()), ""
        ),
        "source_id": _strings(["src_bench"], np.zeros(n, np.int32)),
        "type": _strings([k[0] for k in EVENT_KINDS], kind),
        "event": _strings([k[1] for k in EVENT_KINDS], kind),
        "feature": pc.if_else(pa.array(has_feature), _strings(FEATURES, feature), pa.nulls(n, pa.string())),
        "stage": _strings([k[2] for k in EVENT_KINDS], kind),
        "user_id": _strings(user_ids, user),
        "anonymous_id": _strings([f"anon_{i:06d}" for i in range(USERS)], user),
        "session_id": _strings([f"ses_{i:06d}" for i in range(USERS)], user),
        "timestamp": ts,
        "sent_at": ts,
        "received_at": pa.array(start_ms + seconds + 300, pa.timestamp("ms")),
        "campaign_source": _strings([c[0] for c in CAMPAIGNS], campaign),
        "campaign_medium": _strings([c[1] for c in CAMPAIGNS], campaign),
        "campaign_name": _strings([c[2] for c in CAMPAIGNS], campaign),
        "experiment_id": pc.if_else(pa.array(is_exposure), pa.scalar("exp-onboarding"), pa.nulls(n, pa.string())),
        "variation_id": pc.if_else(
            pa.array(is_exposure), _strings(["control", "treatment"], user % 2), pa.nulls(n, pa.string())
        ),
        "duration_ms": pc.if_else(
            pa.array(kind == 2), pa.array(rng.integers(500, 900_000, n)), pa.nulls(n, pa.int64())
        ),
        "platform": _strings(["web", "ios", "android"], user % 3),
        "app_version": _strings(["4.2.0"], np.zeros(n, np.int32)),
        "country": _strings(["FR", "DE", "US", "GB"], user % 4),
        "ip_prefix": _strings(["203.0.113.0/24"], np.zeros(n, np.int32)),
        "user_agent": _strings(["Mozilla/5.0 (bench)"], np.zeros(n, np.int32)),
        "properties": _strings(["{}"], np.zeros(n, np.int32)),
        "context": _strings(["{}"], np.zeros(n, np.int32)),
        "schema_version": pa.array(np.ones(n, np.int64)),
    }
    table = pa.table({f.name: columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in SCHEMA}).cast(
        SCHEMA
    )
    duplicates = table.take(pa.array(np.sort(rng.choice(n, int(n * DUPLICATE_SHARE), replace=False))))
    duplicates = duplicates.set_column(
        SCHEMA.get_field_index("received_at"),
        "received_at",
        pc.add(duplicates["received_at"], pa.scalar(30_000, pa.duration("ms"))).cast(pa.timestamp("ms")),
    )
    return pa.concat_tables([table, duplicates.cast(SCHEMA)]).sort_by("timestamp")


def ensure_lake() -> tuple[Path, float | None]:
    """The benchmark lake; generated when missing or made with other parameters. Returns (dir, seconds or None)."""
    marker = LAKE_DIR / "bench-params.json"
    if marker.is_file() and json.loads(marker.read_text()) == PARAMS:
        return LAKE_DIR, None
    started = time.perf_counter()
    if LAKE_DIR.exists():
        import shutil

        shutil.rmtree(LAKE_DIR)
    rng = np.random.default_rng(20260105)
    per_day = EVENTS // DAYS
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        table = _day_table(rng, day, per_day, offset * per_day)
        hours = pc.hour(table["timestamp"]).to_numpy()
        for hour in range(24):
            rows = table.filter(pa.array(hours == hour))
            directory = LAKE_DIR / "events" / f"dt={day.isoformat()}" / f"hr={hour:02d}"
            directory.mkdir(parents=True, exist_ok=True)
            for part in range(FILES_PER_HOUR):
                chunk = rows.slice(part * len(rows) // FILES_PER_HOUR, len(rows) // FILES_PER_HOUR + 1)
                pq.write_table(chunk, directory / f"bench-{part}.parquet", compression=COMPRESSION)
    marker.write_text(json.dumps(PARAMS))
    return LAKE_DIR, time.perf_counter() - started


def lake_size(lake: Path) -> tuple[int, int]:
    files = list((lake / "events").glob("dt=*/hr=*/*.parquet"))
    return len(files), sum(f.stat().st_size for f in files)


def profiled(runner: DuckDbQueryRunner, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one query with DuckDB's profiler: seconds, files read, bytes read."""
    runner.run("period_summary", params)  # creates the view; not measured
    sql = runner.translate(name, params)
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "profile.json"
        runner.connection.execute("PRAGMA enable_profiling = 'json'")
        runner.connection.execute(f"SET profiling_output = '{output}'")
        started = time.perf_counter()
        runner.connection.execute(sql).fetchall()
        seconds = time.perf_counter() - started
        runner.connection.execute("PRAGMA disable_profiling")
        profile = json.loads(output.read_text())
    files = 0
    stack = list(profile.get("operator", []))
    while stack:
        node = stack.pop()
        files += int(node.get("extra_info", {}).get("Total Files Read", 0) or 0)
        stack.extend(node.get("children", []))
    return {"seconds": seconds, "files": files, "bytes": int(profile["io"]["total_bytes_read"])}


def main() -> None:
    lake, generated = ensure_lake()
    files, size = lake_size(lake)
    print(
        f"lake: {lake} ({files} files, {size / 1e6:.0f} MB, {EVENTS / 1e6:.0f} M events + 1% duplicates, {DAYS} days)"
    )
    print("generated in " + (f"{generated:.0f} s" if generated is not None else "an earlier run (reused)"))
    runner = DuckDbQueryRunner(lake)
    day = Period.containing("day", REPORT_DAY)
    params: dict[str, Any] = dict(day.query_parameters(100))
    whole = dict(params, start_date=FIRST_DAY, end_date=FIRST_DAY + timedelta(days=DAYS - 1))
    baseline = profiled(runner, "period_summary", whole)
    print(f"\nbaseline: period_summary over the whole lake: {baseline['files']} file scans, "
          f"{baseline['bytes'] / 1e6:.1f} MB read, {baseline['seconds']:.2f} s")  # fmt: skip
    print(f"\ndaily report of {REPORT_DAY} (DuckDB, {os.cpu_count()} cores): per query")
    print(f"  {'query':32} {'file scans':>10} {'MB read':>8} {'s':>6}  share of the whole-lake bytes")
    for name in QUERY_NAMES:
        p = profiled(runner, name, params)
        share = p["bytes"] / baseline["bytes"]
        print(f"  {name:32} {p['files']:10d} {p['bytes'] / 1e6:8.1f} {p['seconds']:6.2f}  {share:.3f}")
    one_day = profiled(runner, "period_summary", params)
    day_files = len(list((lake / "events" / f"dt={REPORT_DAY.isoformat()}").glob("hr=*/*.parquet")))
    print(f"\npruning: period_summary of one day: {one_day['files']} file scans (DuckDB reads each file twice: the "
          f"filter/window pass, then late materialisation); the day has {day_files} files, the lake {files}. "
          f"Bytes: {one_day['bytes'] / baseline['bytes']:.4f} x the whole-lake scan "
          f"({baseline['bytes'] / max(one_day['bytes'], 1):.0f}x less)")  # fmt: skip
    runner.close()

    settings = ReportSettings(sender="bench@example.com", recipients=("r@example.com",), send_log_table="bench")
    kinds: tuple[PeriodKind, ...] = ("day", "week")
    for kind in kinds:
        period = Period.containing(kind, REPORT_DAY)
        fresh = DuckDbQueryRunner(lake)
        started = time.perf_counter()
        report = build_report(fresh, period, settings, now=datetime(2026, 3, 3, 6))
        seconds = time.perf_counter() - started
        fresh.close()
        print(f"{kind} report job (all queries, previous period, charts, HTML, CSV, MIME): {seconds:.1f} s, "
              f"{len(report.raw) / 1e3:.0f} kB e-mail")  # fmt: skip

"""Time-on-feature percentiles from a fixed log-bucket histogram.

Flink SQL has no percentile aggregate, and Python aggregate functions cannot be early-fired, so each window
counts its durations into fixed buckets (plain `COUNT(*) FILTER (WHERE duration_bucket = k)` aggregates, as
fast as any built-in) and p50/p95 are read back from the bucket counts. Buckets grow by `RATIO`, so an
estimate is within sqrt(RATIO) - 1 (about 9.5 %) of the true value between `BASE_MS` and `MAX_MS`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

BASE_MS = 100  # bucket 0 holds [0, 100 ms)
RATIO = 1.2
MAX_MS = 4 * 3600 * 1000  # beyond 4 h everything falls in the last (open) bucket

# Lower bounds of buckets 1..N-1. Integer bounds and bisect: no floating-point edge at a boundary.
BOUNDS: tuple[int, ...] = tuple(
    round(BASE_MS * RATIO**i) for i in range(math.ceil(math.log(MAX_MS / BASE_MS) / math.log(RATIO)) + 1)
)
BUCKET_COUNT = len(BOUNDS) + 1
MAX_RELATIVE_ERROR = math.sqrt(RATIO) - 1


def bucket_of(duration_ms: int) -> int:
    """Index of the bucket holding `duration_ms` (negative durations are refused upstream)."""
    return bisect.bisect_right(BOUNDS, duration_ms)


def representative_ms(bucket: int) -> int:
    """The value reported for a bucket: the geometric middle of its bounds."""
    if bucket == 0:
        return BASE_MS // 2
    if bucket >= len(BOUNDS):
        return BOUNDS[-1]
    return round(math.sqrt(BOUNDS[bucket - 1] * BOUNDS[bucket]))


def percentile_ms(histogram: Sequence[int], quantile: float) -> int | None:
    """Nearest-rank percentile (the value at rank ceil(q * n)) from bucket counts; None when empty."""
    if not 0 < quantile <= 1:
        raise ValueError("quantile must be in (0, 1]")
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(quantile * total))
    seen = 0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return representative_ms(bucket)
    raise AssertionError("unreachable: rank <= total")


def histogram_of(durations: Sequence[int]) -> list[int]:
    counts = [0] * BUCKET_COUNT
    for d in durations:
        counts[bucket_of(d)] += 1
    return counts

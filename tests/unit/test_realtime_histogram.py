"""Time-on-feature percentiles from the log-bucket histogram: error bound and edge cases."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurepulse.realtime import histogram


def _exact_nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@given(st.integers(histogram.BASE_MS, histogram.MAX_MS))
def test_representative_is_within_the_stated_relative_error(duration):
    estimate = histogram.representative_ms(histogram.bucket_of(duration))
    # +1 ms covers the rounding of bounds and representatives to whole milliseconds
    assert abs(estimate - duration) <= duration * histogram.MAX_RELATIVE_ERROR + 1


@given(
    st.lists(st.integers(histogram.BASE_MS, histogram.MAX_MS), min_size=1, max_size=300), st.sampled_from([0.5, 0.95])
)
def test_percentile_matches_exact_nearest_rank_within_error(durations, q):
    # Given any durations between 100 ms and 4 h
    estimate = histogram.percentile_ms(histogram.histogram_of(durations), q)
    exact = _exact_nearest_rank(durations, q)
    # Then the estimate is the exact nearest-rank percentile within the bucket error
    assert estimate is not None
    assert abs(estimate - exact) <= exact * histogram.MAX_RELATIVE_ERROR + 1


def test_edges_short_long_and_empty():
    assert histogram.bucket_of(0) == 0
    assert histogram.representative_ms(0) == 50
    assert histogram.bucket_of(10**12) == histogram.BUCKET_COUNT - 1
    assert histogram.percentile_ms([0] * histogram.BUCKET_COUNT, 0.5) is None
    with pytest.raises(ValueError, match="quantile"):
        histogram.percentile_ms([1], 0)


def test_buckets_are_strictly_increasing_and_few():
    assert all(a < b for a, b in zip(histogram.BOUNDS, histogram.BOUNDS[1:], strict=False))
    assert histogram.BUCKET_COUNT <= 80  # each bucket is one aggregate per window in the job

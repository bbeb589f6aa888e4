"""End to end: after the local pipeline has drained and the day is corrected, the live dashboard's day figures
(its JSON API) equal the report's for the same day, metric by metric.

The local stack runs the lake writer, the real-time job (PyFlink mini-cluster) and the dashboard; the demo's
traffic generator sends a few seconds of traffic with anonymous visitors who sign in (identity links). After
the drain, the correction the demo runs (`finalize_local_days`) writes the day's batch figures; the report's
queries (DuckDB on the same lake and identity table) give the numbers to compare with.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from featurepulse.domain import metrics as catalogue
from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.local.runtime import LocalStack, LocalStackOptions
from featurepulse.local.traffic import run_traffic
from featurepulse.realtime.local import finalize_local_days, flink_python
from featurepulse.reporting.periods import Period

pytestmark = [pytest.mark.flink, pytest.mark.slow]

RATE_EPS = 60.0
DURATION_S = 5.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if not flink_python().exists() or shutil.which("java") is None:
        pytest.fail("needs .venv-flink and a JDK: run `make setup`")
    options = LocalStackOptions(
        root=tmp_path_factory.mktemp("stack") / ".featurepulse",
        port=0,
        port_is_default=False,
        only_components=frozenset({"lake", "realtime", "dashboard"}),
    )
    stack = LocalStack(options)
    stack.start()
    yield stack
    stack.stop()


def _api(base_url: str, feature: str | None, at: datetime) -> dict[str, Any]:
    query = f"at={quote(at.strftime('%Y-%m-%dT%H:%M:%SZ'))}" + (f"&feature={quote(feature)}" if feature else "")
    with urllib.request.urlopen(f"{base_url}api/panels?{query}", timeout=30) as answer:
        body: dict[str, Any] = json.loads(answer.read())
    return body


def _same(live: Any, report: Any) -> bool:
    if isinstance(report, float) or isinstance(live, float):
        return live is not None and report is not None and round(float(report), 4) == live
    return bool(live == report)


def test_after_the_drain_and_the_correction_the_dashboard_day_figures_are_the_reports(stack: LocalStack):
    ctx = stack.context
    assert ctx is not None
    # Given a few seconds of the demo's traffic (anonymous visitors, sign-ins, features, campaigns), drained
    stats = run_traffic(ctx.endpoint, ctx.write_key, rate_eps=RATE_EPS, duration_s=DURATION_S, seed=11)
    assert stats.sent_valid > 0
    stack.drain(300)
    at = datetime.now(UTC)
    day = at.date()
    dashboard = str(stack.address_book.snapshot()["dashboard_url"])
    assert _api(dashboard, None, at)["day_source"] == "live"
    # When the day is corrected, as the demo does after its drain
    done = finalize_local_days(ctx, now=at)
    assert [d.day for d in done if d.rows] == [day]
    # Then the report's day figures (its queries on the same lake)...
    runner = DuckDbQueryRunner(ctx.lake_dir)
    try:
        params: dict[str, Any] = dict(Period.containing("day", day).query_parameters(100))
        (summary,) = runner.run("period_summary", params).rows
        adoption = {r["feature"]: r for r in runner.run("feature_adoption_daily", params).rows}
    finally:
        runner.close()
    assert adoption, "the traffic had no feature event"
    # ...equal the dashboard's, metric by metric, for the app and for every feature
    overall = _api(dashboard, None, at)
    assert overall["day_source"] == "final"
    assert overall["activity"]["events"] == summary["events"]
    assert overall["activity"]["active_persons"] == summary["active_persons"]
    assert sorted(overall["features"]) == sorted(adoption)
    compared: set[str] = set()
    for feature, row in adoption.items():
        panels = _api(dashboard, feature, at)
        adoption_row = next(r for r in panels["activity"]["features"] if r["feature"] == feature)
        live = {**panels["funnel"], **adoption_row, "active_persons": panels["activity"]["active_persons"]}
        for name, value in row.items():
            if name in catalogue.METRIC_NAMES and name in live:
                assert _same(live[name], value), (feature, name, live[name], value)
                compared.add(name)
    assert {"active_persons", "feature_viewers", "adopters", "adoption_rate"} <= compared

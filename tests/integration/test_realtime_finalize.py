"""The daily correction on the same events as the report: after it, every live panel metric equals the report
metric of the same name (DuckDB report SQL vs panels), a late firing of the stream cannot undo it, a re-run
rewrites it, and a day that is not over is refused."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws

from featurepulse.cli import main
from featurepulse.domain import metrics as catalogue
from featurepulse.local.duckdb_runner import DuckDbQueryRunner
from featurepulse.realtime import items, metrics
from featurepulse.realtime.dal import AggregatesReader, create_aggregates_table
from featurepulse.realtime.events import engagement_from_enriched
from featurepulse.realtime.finalize import (
    DayFinalizer,
    DayNotFinalError,
    final_items,
    finalize_day,
    write_final_items,
)
from featurepulse.realtime.local import finalize_lake_day
from featurepulse.realtime.model import reference_items
from featurepulse.realtime.panels import Panels
from featurepulse.realtime.settings import RealtimeSettings
from featurepulse.reporting.periods import Period
from tests.reporting_dataset import REPORT_DAY, demo_events, linking_events, write_lake

TABLE = "aggregates"
SETTINGS = RealtimeSettings()
NOON = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 12, tzinfo=UTC)
AFTER = NOON + timedelta(days=1)  # the day is final
_serializer = TypeSerializer()


def _enriched(row: dict[str, Any]) -> dict[str, Any]:
    """A lake row as the stream carries it (times as ISO-8601 text)."""
    return {k: (v.isoformat() + "Z" if isinstance(v, datetime) else v) for k, v in row.items()}


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    return demo_events() + linking_events()


@functools.cache
def _live_items_of_report_day() -> list[dict[str, Any]]:
    """The stream's rows of REPORT_DAY, every event arriving in the order it was received (links included)."""
    rows = sorted(demo_events() + linking_events(), key=lambda r: r["received_at"])
    arrivals = [engagement_from_enriched(_enriched(r)) for r in rows]
    day = REPORT_DAY.isoformat()
    return [i for i in reference_items([arrivals], SETTINGS).values() if str(i["window_start"]).startswith(day)]


@pytest.fixture
def lake(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    write_lake(tmp_path / "lake", rows)
    return tmp_path / "lake"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_aggregates_table(dynamodb, TABLE)
        # Given the live rows the stream writes for the same events (those of REPORT_DAY: what the tests read)
        for item in _live_items_of_report_day():
            dynamodb.put_item(TableName=TABLE, Item={k: _serializer.serialize(v) for k, v in item.items()})
        yield dynamodb


def _report(lake: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The report's day figures: period_summary of the day and feature_adoption_daily by feature."""
    runner = DuckDbQueryRunner(lake)
    try:
        params: dict[str, Any] = dict(Period.containing("day", REPORT_DAY).query_parameters(100))
        (summary,) = runner.run("period_summary", params).rows
        adoption = {r["feature"]: r for r in runner.run("feature_adoption_daily", params).rows}
    finally:
        runner.close()
    return summary, adoption


def _live_values(panels: Panels, feature: str) -> dict[str, Any]:
    """The panel fields of one feature's day, by name."""
    row = next(r for r in panels.activity.features if r.feature == feature)
    return {
        "events": panels.activity.events,
        "active_persons": panels.activity.active_persons,
        **panels.funnel.model_dump(),
        **row.model_dump(exclude={"feature"}),
    }


def _same(live: Any, report: Any) -> bool:
    if isinstance(report, float) or isinstance(live, float):
        return live is not None and report is not None and round(float(report), 4) == live
    return bool(live == report)


def test_after_the_correction_every_live_day_metric_equals_the_report_metric_of_the_same_name(lake, client):
    # When the day, now final, is corrected (local lake: identity build, then DuckDB)
    done = finalize_lake_day(lake, client, TABLE, REPORT_DAY, now=AFTER)
    assert done.rows > 0
    reader = AggregatesReader(client, TABLE)
    summary, adoption = _report(lake)
    compared: set[str] = set()
    for feature, report_row in adoption.items():
        panels = reader.panels(feature, int(NOON.timestamp() * 1000))
        assert panels.day_source == "final"
        live = _live_values(panels, feature)
        # Then each report column that is a catalogue metric shown on the panels has the same value there
        for name, value in report_row.items():
            if name in catalogue.METRIC_NAMES and name in live:
                assert _same(live[name], value), (feature, name, live[name], value)
                compared.add(name)
        for name in ("events", "active_persons"):
            assert live[name] == summary[name], name
    assert {"active_persons", "feature_viewers", "adopters", "adoption_rate"} <= compared


def test_before_the_correction_the_panels_show_the_live_rows(lake, client):
    panels = AggregatesReader(client, TABLE).panels(None, int(NOON.timestamp() * 1000))
    assert panels.day_source == "live" and panels.activity.active_persons > 0


def test_a_late_firing_of_the_stream_does_not_overwrite_the_final_rows(lake, client):
    # Given a corrected day
    finalize_lake_day(lake, client, TABLE, REPORT_DAY, now=AFTER)
    reader = AggregatesReader(client, TABLE)
    at = int(NOON.timestamp() * 1000)
    before = reader.panels(None, at)
    # When the job fires the day's windows again with other figures (a late event, a replay)
    day_key = items.day_sort_key(at - at % 86_400_000)
    for pk in {items.APP_PK, items.feature_pk(str(before.feature))}:
        live = reader.get(pk, day_key)
        assert live is not None and live["source"] == items.SOURCE_STREAM
        live.update(persons=999, adopters=999, persons_view=999)
        client.put_item(TableName=TABLE, Item={k: _serializer.serialize(v) for k, v in live.items()})
    # Then the panels still show the final figures
    assert reader.panels(None, at) == before


def test_running_the_correction_again_rewrites_it_and_drops_groups_that_are_gone(lake, client):
    # Given a corrected day with a stale final campaign row (e.g. of a person erased since)
    finalize_lake_day(lake, client, TABLE, REPORT_DAY, now=AFTER)
    reader = AggregatesReader(client, TABLE)
    day_ms = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000)
    feature = reader.features_of_day(day_ms, final=True)[0]["feature"]
    stale = dict(reader.get(items.feature_pk(feature), items.final(items.day_sort_key(day_ms))) or {})
    stale.update(sk=items.final(items.campaign_day_prefix(day_ms)) + "gone", dimension="campaign")
    stale["dimensions"] = {"campaign": "gone"}
    client.put_item(TableName=TABLE, Item={k: _serializer.serialize(v) for k, v in stale.items() if v is not None})
    # When the day is corrected again
    finalize_lake_day(lake, client, TABLE, REPORT_DAY, now=AFTER)
    # Then the stale row is gone and the others are there
    campaigns = reader.with_prefix(items.feature_pk(feature), items.final(items.campaign_day_prefix(day_ms)))
    assert campaigns and all(c["dimensions"]["campaign"] != "gone" for c in campaigns)


def test_a_day_that_is_not_over_is_refused_and_the_report_job_corrects_only_final_days(lake, client):
    runner = DuckDbQueryRunner(lake)
    try:
        # A day is final after its end + allowed lateness + out-of-orderness
        with pytest.raises(DayNotFinalError):
            finalize_day(runner, client, TABLE, REPORT_DAY, now=NOON)
        end = datetime(2026, 3, 11, tzinfo=UTC) + timedelta(seconds=SETTINGS.allowed_lateness_s)
        finalizer = DayFinalizer(client, TABLE, end + timedelta(seconds=SETTINGS.out_of_orderness_s))
        # When the report job of the week runs on the morning after REPORT_DAY
        done = finalizer(runner, date(2026, 3, 9), date(2026, 3, 15))
    finally:
        runner.close()
    # Then it corrected the days up to REPORT_DAY, not the later ones
    assert [d.day for d in done] == [date(2026, 3, 9), REPORT_DAY]
    assert AggregatesReader(client, TABLE).is_day_final(int(NOON.timestamp() * 1000))


def test_final_rows_are_written_with_the_app_row_last(client):
    # Given final rows of a day whose app row is the last of many groups
    day = date(2026, 3, 10)
    rows = [
        {"dimension": "app", "feature": "", "campaign": "", "experiment_id": "", "variation_id": ""},
        *(
            {"dimension": "campaign", "feature": "f", "campaign": f"c{i:02d}", "experiment_id": "", "variation_id": ""}
            for i in range(40)
        ),
    ]
    final = final_items([{**r, **dict.fromkeys(metrics.COUNTER_NAMES, 1)} for r in rows], day, SETTINGS)
    calls: list[list[str]] = []
    original = client.batch_write_item

    def record(**kwargs: Any) -> Any:
        calls.append([json.dumps(r) for r in kwargs["RequestItems"][TABLE]])
        return original(**kwargs)

    client.batch_write_item = record
    write_final_items(client, TABLE, day, final)
    # Then the app row (the "day is final" marker) is written in the last request, alone
    assert len(calls) >= 2 and calls[-1] == [c for c in calls[-1] if '"FD#2026-03-10"' in c] and len(calls[-1]) == 1


def test_cli_corrects_a_local_day_and_refuses_one_that_is_not_over(lake, client, tmp_path, capsys):
    # Given the local stack's address book pointing at the lake and the table (moto in process)
    root = tmp_path / ".featurepulse"
    root.mkdir()
    (root / "local.json").write_text(json.dumps({"lake_dir": str(lake), "aggregates_table": TABLE}))
    today = datetime.now(UTC).date().isoformat()
    # Then a day that is not over is refused, and --force or a past day is corrected
    assert main(["realtime", "finalize", "--date", today, "--root", str(root)]) == 2
    assert "use --force" in capsys.readouterr().err
    assert main(["realtime", "finalize", "--date", REPORT_DAY.isoformat(), "--root", str(root)]) == 0
    assert "final day rows written" in capsys.readouterr().out
    assert main(["realtime", "finalize", "--date", "2026-03-12", "--root", str(root)]) == 0
    assert "nothing to correct" in capsys.readouterr().out
    assert main(["realtime", "finalize", "--date", "yesterday"]) == 2


def test_a_failing_correction_is_logged_and_the_report_goes_on(lake, client, caplog):
    # Given a report job whose correction cannot write (the table does not exist)
    runner = DuckDbQueryRunner(lake)
    try:
        finalizer = DayFinalizer(client, "missing-table", AFTER)
        # When it corrects the period
        done = finalizer(runner, REPORT_DAY, REPORT_DAY)
    finally:
        runner.close()
    # Then nothing is raised (the e-mail still goes out) and the log says which day failed
    assert done == []
    assert f"correcting the live rows of {REPORT_DAY.isoformat()} failed" in caplog.text


def test_the_glue_job_corrects_only_when_given_the_aggregates_table(client):
    from glue_jobs.campaign_report import _day_finalizer, parse_job_arguments

    required = ["--period", "day", "--database", "db", "--events_table", "events", "--workgroup", "wg"]
    required += ["--sender", "r@example.com", "--recipients", "m@example.com", "--send_log_table", "log"]
    session = boto3.session.Session(region_name="us-east-1")
    with_table = _day_finalizer(parse_job_arguments([*required, "--aggregates_table", TABLE]), session, AFTER)
    assert isinstance(with_table, DayFinalizer) and with_table.table_name == TABLE
    assert _day_finalizer(parse_job_arguments(required), session, AFTER) is None

"""The daily correction: once a day is final, the batch's figures replace the live day rows.

Live day rows count persons from the links the stream has seen so far (featurepulse/realtime/persons.py); the
batch counts them through the identity table, as the report does. Once a day is over and no event of it can
still enter a window (day end + allowed lateness + out-of-orderness), the report job runs
`athena_queries/live_day_metrics.sql` for that day (Athena in AWS, DuckDB locally) and writes its rows as final
day rows (featurepulse/realtime/items.py: sort keys `FD#`, `FDC#`, `FDV#`, `FDF#`, `source` = `batch`). The
Flink job never writes those keys, so a late firing cannot overwrite them; the panels and the QuickSight SQL
read the final rows of a day as soon as its app row exists, which is written last. Running it again for the
same day rewrites the same keys and deletes the final rows of groups that are gone (an erased person).

Minute rows stay live (they expire after two days); the late-events count stays the stream's.
Main runtime only (boto3 through the client passed in).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from boto3.dynamodb.types import TypeSerializer

from featurepulse.realtime import items, metrics
from featurepulse.realtime.dal import AggregatesReader
from featurepulse.realtime.settings import RealtimeSettings

logger = logging.getLogger(__name__)

FINAL_DAY_QUERY = "live_day_metrics"  # athena_queries/live_day_metrics.sql
BATCH_SIZE = 25  # BatchWriteItem's limit
_serializer = TypeSerializer()


class Runner(Protocol):
    """A report query runner (featurepulse/reporting/runners.py): Athena or DuckDB."""

    def run(self, name: str, params: Mapping[str, Any]) -> Any: ...


class DayNotFinalError(ValueError):
    """The day can still receive on-time events: correcting it now would be overwritten by nothing and wrong."""


def day_ms_of(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def final_after(day: date, settings: RealtimeSettings) -> datetime:
    """When no event of `day` can enter a window any more (its windows have fired for the last time)."""
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return end + timedelta(seconds=settings.allowed_lateness_s + settings.out_of_orderness_s)


def is_day_final(day: date, now: datetime, settings: RealtimeSettings) -> bool:
    return now >= final_after(day, settings)


def final_items(rows: Iterable[Mapping[str, Any]], day: date, settings: RealtimeSettings) -> list[dict[str, Any]]:
    """The final rows of a day from the query's rows (and the directory copy of each feature's row)."""
    day_ms = day_ms_of(day)
    out: list[dict[str, Any]] = []
    for row in rows:
        dimension = str(row["dimension"])
        value_a, value_b = "", ""
        if dimension == metrics.DIM_CAMPAIGN:
            value_a = str(row["campaign"])
        elif dimension == metrics.DIM_VARIANT:
            value_a, value_b = str(row["experiment_id"]), str(row["variation_id"])
        item = items.build_final_day_item(
            dimension=dimension,
            feature=str(row["feature"] or ""),
            value_a=value_a,
            value_b=value_b,
            day_start_ms=day_ms,
            counters={name: int(row[name] or 0) for name in metrics.COUNTER_NAMES},
            duration_p50_ms=None if row.get("duration_p50_ms") is None else int(row["duration_p50_ms"]),
            duration_p95_ms=None if row.get("duration_p95_ms") is None else int(row["duration_p95_ms"]),
            settings=settings,
        )
        out.append(item)
        if dimension == metrics.DIM_FEATURE:
            out.append(items.directory_item(item))
    return out


def _key(item: Mapping[str, Any]) -> tuple[str, str]:
    return str(item[items.PK]), str(item[items.SK])


def _low_level(item: Mapping[str, Any]) -> dict[str, Any]:
    # NULLs are left out (absent attribute), as the stream's sink writes them.
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def existing_final_keys(reader: AggregatesReader, day_ms: int) -> set[tuple[str, str]]:
    """Keys of the final rows already written for the day (to delete those of groups that are gone)."""
    day_key = items.day_sort_key(day_ms)
    keys = {_key(i) for i in reader.with_prefix(items.APP_PK, items.final(day_key))}
    for directory in reader.features_of_day(day_ms, final=True):
        keys.add(_key(directory))
        pk = items.feature_pk(str(directory["feature"]))
        for prefix in (day_key, items.campaign_day_prefix(day_ms), items.variant_day_prefix(day_ms)):
            keys |= {_key(i) for i in reader.with_prefix(pk, items.final(prefix))}
    return keys


def _batch_write(client: Any, table_name: str, requests: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(requests), BATCH_SIZE):
        pending: dict[str, Any] = {table_name: list(requests[start : start + BATCH_SIZE])}
        while pending:
            answer = client.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}


def write_final_items(client: Any, table_name: str, day: date, new_items: Sequence[Mapping[str, Any]]) -> int:
    """Write the day's final rows: every group first, stale final rows deleted, the app row (the "day is final"
    marker) last. Returns the number of rows written."""
    day_ms = day_ms_of(day)
    app_key = (items.APP_PK, items.final(items.day_sort_key(day_ms)))
    stale = existing_final_keys(AggregatesReader(client, table_name), day_ms) - {_key(i) for i in new_items}
    groups = [i for i in new_items if _key(i) != app_key]
    app = [i for i in new_items if _key(i) == app_key]
    _batch_write(client, table_name, [{"PutRequest": {"Item": _low_level(i)}} for i in groups])
    deletes = [{"DeleteRequest": {"Key": {items.PK: {"S": pk}, items.SK: {"S": sk}}}} for pk, sk in sorted(stale)]
    _batch_write(client, table_name, deletes)
    _batch_write(client, table_name, [{"PutRequest": {"Item": _low_level(i)}} for i in app])
    return len(new_items)


@dataclass(frozen=True)
class FinalizedDay:
    day: date
    rows: int  # final rows written (0: the day had no event)


def finalize_day(
    runner: Runner,
    client: Any,
    table_name: str,
    day: date,
    *,
    now: datetime,
    settings: RealtimeSettings | None = None,
    force: bool = False,
) -> FinalizedDay:
    """Correct one day's live rows with the batch's figures. Refuses a day that is not final unless `force`
    (local mode after the stream has drained: nothing more arrives)."""
    settings = settings or RealtimeSettings()
    if not force and not is_day_final(day, now, settings):
        raise DayNotFinalError(
            f"{day.isoformat()} is final from {final_after(day, settings).isoformat()} "
            "(day end + allowed lateness + out-of-orderness)"
        )
    result = runner.run(FINAL_DAY_QUERY, {"scan_start_date": day, "end_date": day})
    rows = list(result.rows)
    if not rows or not any(r["dimension"] == metrics.DIM_APP and int(r["events"] or 0) > 0 for r in rows):
        logger.info("no event on %s: nothing to correct", day.isoformat())
        return FinalizedDay(day, 0)
    written = write_final_items(client, table_name, day, final_items(rows, day, settings))
    logger.info("corrected the live rows of %s with %d final rows", day.isoformat(), written)
    return FinalizedDay(day, written)


@dataclass
class DayFinalizer:
    """What the report job calls with its runner and period (`run_report(finalize_days=...)`): corrects every
    day of the period that is final. A failure is logged, never raised: the report still goes out, and the
    next run (or `featurepulse realtime finalize`) corrects the day."""

    client: Any
    table_name: str
    now: datetime
    settings: RealtimeSettings = field(default_factory=RealtimeSettings)
    finalized: list[FinalizedDay] = field(default_factory=list)

    def __call__(self, runner: Runner, start: date, end: date) -> list[FinalizedDay]:
        day = start
        while day <= end:
            if is_day_final(day, self.now, self.settings):
                try:
                    self.finalized.append(
                        finalize_day(runner, self.client, self.table_name, day, now=self.now, settings=self.settings)
                    )
                except Exception:
                    logger.exception("correcting the live rows of %s failed", day.isoformat())
            day += timedelta(days=1)
        return self.finalized

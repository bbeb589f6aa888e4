"""The aggregates table: key design and the items the job writes (docs/design.md, real time).

One table, partition key `pk`, sort key `sk`, TTL attribute `expires_at`. Keys follow the panels' reads:

| read                                   | request                                                         |
|----------------------------------------|-----------------------------------------------------------------|
| last 60 minutes of feature F by minute | Query pk=`F#<F>`, sk BETWEEN `M#<from minute>` AND `M#<to minute>` |
| today's funnel of F                    | GetItem pk=`F#<F>`, sk=`D#<day>`                                |
| today by campaign (of F)               | Query pk=`F#<F>`, begins_with(sk, `DC#<day>#`)                  |
| today by variant (of F)                | Query pk=`F#<F>`, begins_with(sk, `DV#<day>#`)                  |
| active persons, adoption of features   | Query pk=`APP`, begins_with(sk, `D#<day>`) and `DF#<day>#`      |
| active persons / events by minute      | Query pk=`APP`, sk BETWEEN `M#...` AND `M#...`                  |
| late events per day                    | GetItem pk=`APP`, sk=`L#<day>`                                  |
| is the day final (batch-corrected)?    | GetItem pk=`APP`, sk=`FD#<day>`                                 |

Sort-key prefixes differ per slice (`M#`, `MC#`, `MV#`, `D#`, `DC#`, `DV#`, `DF#`, `L#`), so a range over
one never returns another.

Final day rows (`FD#`, `FDC#`, `FDV#`, `FDF#`, `source` = `batch`) are the batch's figures of a day that is over
(featurepulse/realtime/finalize.py): the same columns under their own sort keys, which the Flink job never
writes, so a late firing cannot overwrite them. Readers prefer them when the app's final row of the day exists.

Keys are deterministic functions of the window and the group, so re-emitting a
window (early firing, a replay, a restart from a checkpoint) overwrites the same item: writes are upserts.
Minute rows expire after `minute_ttl_s`, day rows after `day_ttl_s` (DynamoDB TTL on `expires_at`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from featurepulse.realtime import histogram, metrics
from featurepulse.realtime.settings import DAY_MS, MINUTE_MS, RealtimeSettings
from featurepulse.realtime.windows import format_day, format_instant, format_minute, parse_instant_ms

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"
APP_PK = "APP"

KIND_MINUTE = "minute"
KIND_DAY = "day"
KIND_DIRECTORY = "feature_day"  # copy of a feature's day row under APP, to list every feature of a day
KIND_LATE = "late"
KIND_FINAL_DAY = "final_day"  # a day row corrected by the batch
KIND_FINAL_DIRECTORY = "final_feature_day"
SOURCE_STREAM = "stream"  # written by the Flink job
SOURCE_BATCH = "batch"  # written by the daily correction

ColumnType = Literal["string", "bigint", "map"]

# Columns of every item the job writes, in order (the Flink sink table, the item-building functions' ROW type
# and the Glue schema the QuickSight panels read, cdk/quicksight.py, are generated from this list). Every item
# carries every column. A column is None only where no value is true: `late_events` on an aggregate row and the
# duration percentiles of a window without durations. The sink leaves None out of the item (no NULL attribute).
ITEM_COLUMNS: tuple[tuple[str, ColumnType], ...] = (
    (PK, "string"),
    (SK, "string"),
    ("kind", "string"),
    ("feature", "string"),
    ("dimension", "string"),
    ("dimensions", "map"),
    ("window_start", "string"),
    ("window_end", "string"),
    *((name, "bigint") for name in metrics.COUNTER_NAMES),
    ("duration_p50_ms", "bigint"),
    ("duration_p95_ms", "bigint"),
    ("late_events", "bigint"),
    ("source", "string"),
    (TTL_ATTRIBUTE, "bigint"),
)
ITEM_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in ITEM_COLUMNS)

_MINUTE_PREFIX = {
    metrics.DIM_FEATURE: "M#",
    metrics.DIM_APP: "M#",
    metrics.DIM_CAMPAIGN: "MC#",
    metrics.DIM_VARIANT: "MV#",
}
_DAY_PREFIX = {
    metrics.DIM_FEATURE: "D#",
    metrics.DIM_APP: "D#",
    metrics.DIM_CAMPAIGN: "DC#",
    metrics.DIM_VARIANT: "DV#",
}
FINAL_PREFIX = "F"  # final day rows: "F" + the live day prefix


def escape_key_part(value: str) -> str:
    """Make a user-supplied name safe inside a `#`-separated key (injective: `%` is escaped first)."""
    return value.replace("%", "%25").replace("#", "%23")


def unescape_key_part(value: str) -> str:
    return value.replace("%23", "#").replace("%25", "%")


def feature_pk(feature: str) -> str:
    return "F#" + escape_key_part(feature)


def partition_key(dimension: str, feature: str) -> str:
    return APP_PK if dimension == metrics.DIM_APP else feature_pk(feature)


def sort_key(granularity: str, dimension: str, window_start_ms: int, value_a: str = "", value_b: str = "") -> str:
    if granularity == metrics.GRANULARITY_MINUTE:
        key = _MINUTE_PREFIX[dimension] + format_minute(window_start_ms)
    elif granularity == metrics.GRANULARITY_DAY:
        key = _DAY_PREFIX[dimension] + format_day(window_start_ms)
    else:
        raise ValueError(f"unknown granularity {granularity!r}")
    if dimension == metrics.DIM_CAMPAIGN:
        key += "#" + escape_key_part(value_a)
    elif dimension == metrics.DIM_VARIANT:
        key += "#" + escape_key_part(value_a) + "#" + escape_key_part(value_b)
    return key


def final_sort_key(dimension: str, day_ms: int, value_a: str = "", value_b: str = "") -> str:
    """The sort key of a final (batch) day row: the live day row's key with the final prefix."""
    return FINAL_PREFIX + sort_key(metrics.GRANULARITY_DAY, dimension, day_ms, value_a, value_b)


def minute_range(from_ms: int, to_ms: int) -> tuple[str, str]:
    """Sort-key bounds (inclusive) of the overall minute rows between two instants."""
    return "M#" + format_minute(from_ms), "M#" + format_minute(to_ms)


def day_sort_key(day_ms: int) -> str:
    return "D#" + format_day(day_ms)


def campaign_day_prefix(day_ms: int) -> str:
    return "DC#" + format_day(day_ms) + "#"


def variant_day_prefix(day_ms: int) -> str:
    return "DV#" + format_day(day_ms) + "#"


def directory_day_prefix(day_ms: int) -> str:
    return "DF#" + format_day(day_ms) + "#"


def final(key_or_prefix: str) -> str:
    """The final rows' counterpart of a live day key or prefix (`D#...` -> `FD#...`)."""
    return FINAL_PREFIX + key_or_prefix


def late_sort_key(day_ms: int) -> str:
    return "L#" + format_day(day_ms)


def _dimensions_map(dimension: str, value_a: str, value_b: str) -> dict[str, str]:
    if dimension == metrics.DIM_CAMPAIGN:
        return {"campaign": value_a}
    if dimension == metrics.DIM_VARIANT:
        return {"experiment_id": value_a, "variation_id": value_b}
    return {}


def build_item(
    *,
    granularity: str,
    dimension: str,
    feature: str,
    value_a: str,
    value_b: str,
    window_start_ms: int,
    counters: Mapping[str, int],
    duration_histogram: Sequence[int],
    settings: RealtimeSettings,
) -> dict[str, Any]:
    """The item of one window and group: deterministic, so writing it again changes nothing."""
    size = MINUTE_MS if granularity == metrics.GRANULARITY_MINUTE else DAY_MS
    ttl = settings.minute_ttl_s if granularity == metrics.GRANULARITY_MINUTE else settings.day_ttl_s
    window_end_ms = window_start_ms + size
    item: dict[str, Any] = {
        PK: partition_key(dimension, feature),
        SK: sort_key(granularity, dimension, window_start_ms, value_a, value_b),
        "kind": KIND_MINUTE if granularity == metrics.GRANULARITY_MINUTE else KIND_DAY,
        "feature": feature,
        "dimension": dimension,
        "dimensions": _dimensions_map(dimension, value_a, value_b),
        "window_start": format_instant(window_start_ms),
        "window_end": format_instant(window_end_ms),
    }
    for name in metrics.COUNTER_NAMES:
        item[name] = int(counters[name])
    item["duration_p50_ms"] = histogram.percentile_ms(duration_histogram, 0.5)
    item["duration_p95_ms"] = histogram.percentile_ms(duration_histogram, 0.95)
    item["late_events"] = None
    item["source"] = SOURCE_STREAM
    item[TTL_ATTRIBUTE] = window_end_ms // 1000 + ttl
    return item


def build_final_day_item(
    *,
    dimension: str,
    feature: str,
    value_a: str,
    value_b: str,
    day_start_ms: int,
    counters: Mapping[str, int],
    duration_p50_ms: int | None,
    duration_p95_ms: int | None,
    settings: RealtimeSettings,
) -> dict[str, Any]:
    """A final day row: the batch's figures of one group of a day (featurepulse/realtime/finalize.py)."""
    item = build_item(
        granularity=metrics.GRANULARITY_DAY,
        dimension=dimension,
        feature=feature,
        value_a=value_a,
        value_b=value_b,
        window_start_ms=day_start_ms,
        counters=counters,
        duration_histogram=[],
        settings=settings,
    )
    item[SK] = final_sort_key(dimension, day_start_ms, value_a, value_b)
    item["kind"] = KIND_FINAL_DAY
    item["duration_p50_ms"] = duration_p50_ms
    item["duration_p95_ms"] = duration_p95_ms
    item["source"] = SOURCE_BATCH
    return item


def directory_item(day_item: Mapping[str, Any]) -> dict[str, Any]:
    """The copy of a feature's day row under `APP`, so one Query lists every feature of the day (adoption)."""
    copy = dict(day_item)
    day_ms = _day_ms_of(day_item)
    is_final = day_item["kind"] == KIND_FINAL_DAY
    prefix = directory_day_prefix(day_ms)
    copy[PK] = APP_PK
    copy[SK] = (final(prefix) if is_final else prefix) + escape_key_part(str(day_item["feature"]))
    copy["kind"] = KIND_FINAL_DIRECTORY if is_final else KIND_DIRECTORY
    return copy


def build_late_item(*, day_start_ms: int, late_events: int, settings: RealtimeSettings) -> dict[str, Any]:
    """Events of that day that arrived beyond the allowed lateness (in no window; the lake has them)."""
    item: dict[str, Any] = dict.fromkeys(ITEM_COLUMN_NAMES)
    item.update(dict.fromkeys(metrics.COUNTER_NAMES, 0))  # the row counts late events, no engagement
    item.update(
        {
            PK: APP_PK,
            SK: late_sort_key(day_start_ms),
            "kind": KIND_LATE,
            "feature": "",
            "dimension": KIND_LATE,
            "dimensions": {},
            "window_start": format_instant(day_start_ms),
            "window_end": format_instant(day_start_ms + DAY_MS),
            "late_events": int(late_events),
            "source": SOURCE_STREAM,
            TTL_ATTRIBUTE: (day_start_ms + DAY_MS) // 1000 + settings.day_ttl_s,
        }
    )
    return item


def _day_ms_of(item: Mapping[str, Any]) -> int:
    return parse_instant_ms(str(item["window_start"]))

"""The five live panels (docs/design.md, real time), assembled from aggregate items.

Every number is a metric of the catalogue (featurepulse/domain/metrics.py), under the catalogue's name: persons
are counted as persons (featurepulse/realtime/persons.py), `adoption_rate` is adopters / active persons like the
report's, and the live panels' unordered ratio is `completers_per_viewer`, not a funnel rate.

The day figures come from the final (batch-corrected) day rows once the day is final, else from the live rows
(`day_source` says which): a marketer never sees two numbers for one day and metric. The local dashboard
serves the panels as JSON; QuickSight reads the same items through Athena (quicksight_panels.py).
Main-runtime only (pydantic): the Flink job never imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from featurepulse.realtime import items
from featurepulse.realtime.settings import MINUTE_MS
from featurepulse.realtime.windows import format_day, format_instant, format_minute, minute_start_ms

Item = Mapping[str, Any]
DaySource = Literal["live", "final"]
TOP_CAMPAIGNS = 10


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MinutePoint(_Model):
    minute: str  # "2025-03-01T09:41" (UTC)
    events: int
    views: int
    uses: int
    completions: int
    dismissals: int
    feature_persons: int  # persons with an event of the feature in the minute (not active_persons: docs/metrics.md)


class FunnelPanel(_Model):
    views: int
    uses: int
    completions: int
    dismissals: int
    feature_viewers: int
    feature_users: int
    adopters: int
    completers: int
    dismissers: int
    completers_per_viewer: float | None  # completers / feature_viewers, order ignored (None without viewers)
    duration_p50_ms: int | None
    duration_p95_ms: int | None


class AdoptionRow(_Model):
    feature: str
    adopters: int
    adoption_rate: float | None  # adopters / active persons of the day (None without active persons)


class ActivityPanel(_Model):
    active_persons: int
    events: int
    features: list[AdoptionRow]


class CampaignRow(_Model):
    campaign: str
    feature_viewers: int
    adopters: int
    completers: int
    views: int
    uses: int
    completions: int
    completers_per_viewer: float | None


class VariantRow(_Model):
    experiment_id: str
    variation_id: str
    feature_viewers: int
    feature_users: int
    adopters: int
    completers: int
    completers_per_viewer: float | None


class Panels(_Model):
    generated_at: str
    day: str
    # "final": the day figures are the batch's (the day is over and corrected); "live": the stream's so far.
    day_source: DaySource
    feature: str | None
    features: list[str]
    per_minute: list[MinutePoint]
    funnel: FunnelPanel
    activity: ActivityPanel
    campaigns: list[CampaignRow]
    variants: list[VariantRow]
    late_events: int


def _int(item: Item | None, name: str) -> int:
    if item is None:
        return 0
    value = item.get(name)
    return 0 if value is None else int(value)


def _opt_int(item: Item | None, name: str) -> int | None:
    value = None if item is None else item.get(name)
    return None if value is None else int(value)


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def per_minute_series(minute_items: Sequence[Item], now_ms: int, minutes: int = 60) -> list[MinutePoint]:
    """The last `minutes` minutes up to now's minute, oldest first; a minute without a row is zero."""
    by_minute = {str(i["window_start"])[:16]: i for i in minute_items}
    last = minute_start_ms(now_ms)
    points = []
    for k in range(minutes - 1, -1, -1):
        label = format_minute(last - k * MINUTE_MS)
        item = by_minute.get(label)
        points.append(
            MinutePoint(
                minute=label,
                **{n: _int(item, n) for n in ("events", "views", "uses", "completions", "dismissals")},
                feature_persons=_int(item, "persons"),
            )
        )
    return points


def funnel_panel(day_item: Item | None) -> FunnelPanel:
    viewers, completers = _int(day_item, "persons_view"), _int(day_item, "persons_complete")
    return FunnelPanel(
        views=_int(day_item, "views"),
        uses=_int(day_item, "uses"),
        completions=_int(day_item, "completions"),
        dismissals=_int(day_item, "dismissals"),
        feature_viewers=viewers,
        feature_users=_int(day_item, "persons_use"),
        adopters=_int(day_item, "adopters"),
        completers=completers,
        dismissers=_int(day_item, "persons_dismiss"),
        completers_per_viewer=_ratio(completers, viewers),
        duration_p50_ms=_opt_int(day_item, "duration_p50_ms"),
        duration_p95_ms=_opt_int(day_item, "duration_p95_ms"),
    )


def activity_panel(app_day_item: Item | None, directory_items: Sequence[Item]) -> ActivityPanel:
    active = _int(app_day_item, "persons")
    rows = [
        AdoptionRow(
            feature=str(i["feature"]), adopters=_int(i, "adopters"), adoption_rate=_ratio(_int(i, "adopters"), active)
        )
        for i in directory_items
    ]
    rows.sort(key=lambda r: (-r.adopters, r.feature))
    return ActivityPanel(active_persons=active, events=_int(app_day_item, "events"), features=rows)


def campaign_rows(campaign_items: Sequence[Item], top: int = TOP_CAMPAIGNS) -> list[CampaignRow]:
    rows = [
        CampaignRow(
            campaign=str(i["dimensions"]["campaign"]),
            feature_viewers=_int(i, "persons_view"),
            adopters=_int(i, "adopters"),
            completers=_int(i, "persons_complete"),
            views=_int(i, "views"),
            uses=_int(i, "uses"),
            completions=_int(i, "completions"),
            completers_per_viewer=_ratio(_int(i, "persons_complete"), _int(i, "persons_view")),
        )
        for i in campaign_items
    ]
    rows.sort(key=lambda r: (-r.feature_viewers, -r.adopters, r.campaign))
    return rows[:top]


def variant_rows(variant_items: Sequence[Item]) -> list[VariantRow]:
    rows = [
        VariantRow(
            experiment_id=str(i["dimensions"]["experiment_id"]),
            variation_id=str(i["dimensions"]["variation_id"]),
            feature_viewers=_int(i, "persons_view"),
            feature_users=_int(i, "persons_use"),
            adopters=_int(i, "adopters"),
            completers=_int(i, "persons_complete"),
            completers_per_viewer=_ratio(_int(i, "persons_complete"), _int(i, "persons_view")),
        )
        for i in variant_items
    ]
    rows.sort(key=lambda r: (r.experiment_id, r.variation_id))
    return rows


def day_source_of(app_final_item: Item | None) -> DaySource:
    """The day is final once its app row from the batch exists (written last by the correction)."""
    return "final" if app_final_item is not None and app_final_item.get("kind") == items.KIND_FINAL_DAY else "live"


def assemble_panels(
    *,
    now_ms: int,
    feature: str | None,
    day_source: DaySource,
    minute_items: Sequence[Item],
    day_item: Item | None,
    app_day_item: Item | None,
    directory_items: Sequence[Item],
    campaign_items: Sequence[Item],
    variant_items: Sequence[Item],
    late_item: Item | None,
) -> Panels:
    """The panels from the rows of one day source (all final or all live: never a mix within a day)."""
    activity = activity_panel(app_day_item, directory_items)
    return Panels(
        generated_at=format_instant(now_ms),
        day=format_day(now_ms),
        day_source=day_source,
        feature=feature,
        features=[row.feature for row in activity.features],
        per_minute=per_minute_series(minute_items, now_ms),
        funnel=funnel_panel(day_item),
        activity=activity,
        campaigns=campaign_rows(campaign_items),
        variants=variant_rows(variant_items),
        late_events=_int(late_item, "late_events"),
    )

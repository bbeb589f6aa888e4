"""The five live panels (DESIGN.md section 3, issue 4), assembled from aggregate items.

The local dashboard serves them as JSON; QuickSight reads the same items through Athena (cdk/quicksight.py).
Main-runtime only (pydantic): the Flink job never imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from featurepulse.realtime.settings import MINUTE_MS
from featurepulse.realtime.windows import format_day, format_instant, format_minute, minute_start_ms

Item = Mapping[str, Any]
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
    users: int


class FunnelPanel(_Model):
    views: int
    uses: int
    completions: int
    dismissals: int
    users_view: int
    users_use: int
    users_complete: int
    users_dismiss: int
    # Conversion between stages, by distinct users (None when the earlier stage has no user).
    view_to_use: float | None
    use_to_complete: float | None
    view_to_complete: float | None
    duration_p50_ms: int | None
    duration_p95_ms: int | None


class AdoptionRow(_Model):
    feature: str
    users: int
    adoption: float | None  # feature users / active users of the day


class ActivityPanel(_Model):
    active_users: int
    events: int
    features: list[AdoptionRow]


class CampaignRow(_Model):
    campaign: str
    users: int
    views: int
    uses: int
    completions: int
    completion_rate: float | None  # users who completed / users who viewed


class VariantRow(_Model):
    experiment_id: str
    variation_id: str
    users: int
    users_view: int
    users_use: int
    users_complete: int
    conversion: float | None  # users who completed / users who viewed


class Panels(_Model):
    generated_at: str
    day: str
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
                **{n: _int(item, n) for n in ("events", "views", "uses", "completions", "dismissals", "users")},
            )
        )
    return points


def funnel_panel(day_item: Item | None) -> FunnelPanel:
    u_view, u_use, u_complete = (_int(day_item, n) for n in ("users_view", "users_use", "users_complete"))
    return FunnelPanel(
        views=_int(day_item, "views"),
        uses=_int(day_item, "uses"),
        completions=_int(day_item, "completions"),
        dismissals=_int(day_item, "dismissals"),
        users_view=u_view,
        users_use=u_use,
        users_complete=u_complete,
        users_dismiss=_int(day_item, "users_dismiss"),
        view_to_use=_ratio(u_use, u_view),
        use_to_complete=_ratio(u_complete, u_use),
        view_to_complete=_ratio(u_complete, u_view),
        duration_p50_ms=_opt_int(day_item, "duration_p50_ms"),
        duration_p95_ms=_opt_int(day_item, "duration_p95_ms"),
    )


def activity_panel(app_day_item: Item | None, directory_items: Sequence[Item]) -> ActivityPanel:
    active = _int(app_day_item, "users")
    rows = [
        AdoptionRow(feature=str(i["feature"]), users=_int(i, "users"), adoption=_ratio(_int(i, "users"), active))
        for i in directory_items
    ]
    rows.sort(key=lambda r: (-r.users, r.feature))
    return ActivityPanel(active_users=active, events=_int(app_day_item, "events"), features=rows)


def campaign_rows(campaign_items: Sequence[Item], top: int = TOP_CAMPAIGNS) -> list[CampaignRow]:
    rows = [
        CampaignRow(
            campaign=str(i["dimensions"]["campaign"]),
            users=_int(i, "users"),
            views=_int(i, "views"),
            uses=_int(i, "uses"),
            completions=_int(i, "completions"),
            completion_rate=_ratio(_int(i, "users_complete"), _int(i, "users_view")),
        )
        for i in campaign_items
    ]
    rows.sort(key=lambda r: (-r.users, r.campaign))
    return rows[:top]


def variant_rows(variant_items: Sequence[Item]) -> list[VariantRow]:
    rows = [
        VariantRow(
            experiment_id=str(i["dimensions"]["experiment_id"]),
            variation_id=str(i["dimensions"]["variation_id"]),
            users=_int(i, "users"),
            users_view=_int(i, "users_view"),
            users_use=_int(i, "users_use"),
            users_complete=_int(i, "users_complete"),
            conversion=_ratio(_int(i, "users_complete"), _int(i, "users_view")),
        )
        for i in variant_items
    ]
    rows.sort(key=lambda r: (r.experiment_id, r.variation_id))
    return rows


def assemble_panels(
    *,
    now_ms: int,
    feature: str | None,
    minute_items: Sequence[Item],
    day_item: Item | None,
    app_day_item: Item | None,
    directory_items: Sequence[Item],
    campaign_items: Sequence[Item],
    variant_items: Sequence[Item],
    late_item: Item | None,
) -> Panels:
    activity = activity_panel(app_day_item, directory_items)
    return Panels(
        generated_at=format_instant(now_ms),
        day=format_day(now_ms),
        feature=feature,
        features=[row.feature for row in activity.features],
        per_minute=per_minute_series(minute_items, now_ms),
        funnel=funnel_panel(day_item),
        activity=activity,
        campaigns=campaign_rows(campaign_items),
        variants=variant_rows(variant_items),
        late_events=_int(late_item, "late_events"),
    )

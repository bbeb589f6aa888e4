"""Hand-built lake datasets for the report tests: events as plain dicts, written in the lake layout.

`demo_events()` is small (a few thousand rows) but has what the report must get right: duplicated
event ids (written to another file, as a client retry would be), users who came through several campaigns,
anonymous users, an experiment variant that converts nobody, a day without any event (`EMPTY_DAY`) and
events on both sides of midnight. The tests compute every expected figure from these dicts in plain Python.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from featurepulse.domain.schema import lake_columns

REPORT_DAY = date(2026, 3, 10)  # a Tuesday; its ISO week is 2026-03-09 .. 2026-03-15
EMPTY_DAY = date(2026, 3, 12)  # no event at all
FIRST_DAY = REPORT_DAY - timedelta(days=40)
LAST_DAY = date(2026, 3, 15)
FEATURES = ("smart-search", "export")
CAMPAIGNS: tuple[tuple[str | None, str | None, str | None] | None, ...] = (
    None,
    None,
    ("google", "cpc", "spring-sale"),
    ("newsletter", "email", "march"),
    ("facebook", "social", None),
)

_ARROW = {"string": pa.string(), "bigint": pa.int64(), "timestamp": pa.timestamp("ms")}
SCHEMA = pa.schema([pa.field(c.name, _ARROW[c.type], nullable=c.nullable) for c in lake_columns()])


def make_event(
    event_id: str,
    user: str,
    at: datetime,
    *,
    event: str = "Page Viewed",
    type_: str = "track",
    feature: str | None = None,
    stage: str | None = None,
    campaign: tuple[str | None, str | None, str | None] | None = None,
    experiment: tuple[str, str] | None = None,
    duration_ms: int | None = None,
    anonymous: bool = False,
    received_delay_s: float = 1.0,
) -> dict[str, Any]:
    row: dict[str, Any] = {c.name: None for c in lake_columns()}
    source, medium, name = campaign or (None, None, None)
    row.update(
        event_id=event_id,
        source_id="src-test",
        type=type_,
        event=event,
        feature=feature,
        stage=stage,
        user_id=None if anonymous else user,
        anonymous_id=user if anonymous else f"anon-{user}",
        session_id=f"s-{user}-{at:%Y%m%d}",
        timestamp=at,
        sent_at=at,
        received_at=at + timedelta(seconds=received_delay_s),
        campaign_source=source,
        campaign_medium=medium,
        campaign_name=name,
        experiment_id=experiment[0] if experiment else None,
        variation_id=experiment[1] if experiment else None,
        duration_ms=duration_ms,
        platform="web",
        properties="{}",
        context="{}",
        schema_version=1,
    )
    return row


def user_key(row: dict[str, Any]) -> str:
    return str(row["user_id"] or row["anonymous_id"])


def demo_events(seed: int = 20260310) -> list[dict[str, Any]]:
    """A deterministic month and a half of traffic; see the module docstring for what it contains."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    counter = 0

    def add(user: str, at: datetime, **kwargs: Any) -> None:
        nonlocal counter
        counter += 1
        rows.append(make_event(f"evt-{counter:06d}", user, at, **kwargs))

    users = [f"user-{i:03d}" for i in range(70)]
    anonymous = set(users[60:])  # never identified
    day = FIRST_DAY
    while day <= LAST_DAY:
        if day != EMPTY_DAY:
            for user in users:
                if rng.random() > 0.45:
                    continue
                anon = user in anonymous
                start = datetime(day.year, day.month, day.day) + timedelta(minutes=rng.randrange(0, 24 * 60 - 30))
                if rng.random() < 0.05:  # just before midnight: the session spills into the next day
                    start = datetime(day.year, day.month, day.day, 23, 59, 30)
                campaign = rng.choice(CAMPAIGNS)
                t = start
                add(user, t, type_="page", campaign=campaign, anonymous=anon)
                if day >= REPORT_DAY - timedelta(days=3) and not anon:
                    t += timedelta(seconds=5)
                    variant = "control" if int(user[-3:]) % 2 == 0 else "treatment"
                    add(user, t, event="Experiment Viewed", experiment=("checkout-v2", variant), campaign=campaign)
                for feature in FEATURES:
                    if rng.random() > (0.7 if feature == "smart-search" else 0.3):
                        continue
                    t += timedelta(seconds=rng.randrange(1, 40))
                    add(
                        user,
                        t,
                        event="Feature Viewed",
                        feature=feature,
                        stage="view",
                        campaign=campaign,
                        anonymous=anon,
                    )
                    if rng.random() < 0.15:
                        t += timedelta(seconds=3)
                        add(user, t, event="Feature Dismissed", feature=feature, stage="dismiss", anonymous=anon)
                        continue
                    if rng.random() < 0.55:
                        t += timedelta(seconds=rng.randrange(2, 300))
                        duration = rng.choice(
                            [3_000, 12_000, 45_000, 90_000, 400_000, 900_000, rng.randrange(0, 1_000_000)]
                        )
                        add(
                            user,
                            t,
                            event="Feature Used",
                            feature=feature,
                            stage="use",
                            duration_ms=duration,
                            anonymous=anon,
                        )
                        if rng.random() < 0.5 + (0.2 if user[-1] in "13579" else 0.0):
                            t += timedelta(seconds=rng.randrange(5, 600))
                            add(user, t, event="Feature Completed", feature=feature, stage="complete", anonymous=anon)
        day += timedelta(days=1)

    # An experiment whose variant converts nobody: its users see the experiment and never complete anything.
    for i in range(12):
        at = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 9, i)
        add(f"ghost-{i:02d}", at, event="Experiment Viewed", experiment=("onboarding", "variant-b"))
        add(f"ghost-{i:02d}", at + timedelta(minutes=2), event="Feature Viewed", feature="export", stage="view")
        add(users[i], at, event="Experiment Viewed", experiment=("onboarding", "control"))
    # A user exposed to two variants: the first exposure decides.
    at = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 10, 0)
    add("user-001", at + timedelta(hours=5), event="Experiment Viewed", experiment=("onboarding", "variant-b"))

    # Duplicates: the same event_id stored again (a client retry), received later.
    for row in rng.sample(rows, len(rows) // 12):
        copy = dict(row)
        copy["received_at"] = row["received_at"] + timedelta(seconds=30)
        rows.append(copy)
    return rows


def deduplicated(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the first received copy of each event_id (what every query does)."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        kept = best.get(row["event_id"])
        if kept is None or row["received_at"] < kept["received_at"]:
            best[row["event_id"]] = row
    return list(best.values())


def write_lake(lake_dir: Path, rows: Iterable[dict[str, Any]]) -> list[Path]:
    """Write rows as Parquet in the lake layout; a repeated event_id goes to a second file."""
    files: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for row in rows:
        copy_index = 1 if row["event_id"] in seen else 0
        seen.add(row["event_id"])
        ts: datetime = row["timestamp"]
        files[(ts.strftime("%Y-%m-%d"), ts.strftime("%H"), copy_index)].append(row)
    written = []
    for (dt, hr, copy_index), part in sorted(files.items()):
        directory = lake_dir / "events" / f"dt={dt}" / f"hr={hr}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"test-{copy_index}.parquet"
        pq.write_table(pa.Table.from_pylist(part, schema=SCHEMA), path)
        written.append(path)
    return written

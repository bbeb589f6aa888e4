"""Hand-built lake datasets for the report tests: events as plain dicts, written in the lake layout.

`demo_events()` is small (a few thousand rows) but has what the report must get right: duplicated
event ids (written to another file, as a client retry would be), users who came through several campaigns,
anonymous users, an experiment variant that converts nobody, a day without any event (`EMPTY_DAY`) and
events on both sides of midnight. The tests compute every expected figure from these dicts in plain Python.

`linking_events()` is a handful of persons whose ids are linked (docs/identity.md): anonymous browsing then
identify, an alias from an anonymous id, a userId change by alias, a device shared by two users, and a link
that re-attributes a week-old anonymous adoption. `LINKED_PERSONS` says, by hand, whose each id is.
`write_identities` writes the identity table of a dataset as the identity build would.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from featurepulse.domain.identity import links_from_events, person_of, resolve_identities, resolve_persons
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
    ids: tuple[str | None, str | None] | None = None,
    properties: str = "{}",
) -> dict[str, Any]:
    """One lake row. By default `user` is the user id (and `anon-<user>` the anonymous id), or with
    `anonymous` the anonymous id only; `ids` = (user_id, anonymous_id) sets both as given."""
    row: dict[str, Any] = {c.name: None for c in lake_columns()}
    source, medium, name = campaign or (None, None, None)
    user_id, anonymous_id = (
        ids if ids is not None else (None if anonymous else user, user if anonymous else f"anon-{user}")
    )
    row.update(
        event_id=event_id,
        source_id="src-test",
        type=type_,
        event=event,
        feature=feature,
        stage=stage,
        user_id=user_id,
        anonymous_id=anonymous_id,
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
        properties=properties,
        context="{}",
        schema_version=1,
    )
    return row


def user_key(row: dict[str, Any]) -> str:
    """The raw id of an event (what the report counted before persons)."""
    return str(row["user_id"] or row["anonymous_id"])


def with_persons(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with `person_id` added: the identity rules (featurepulse.domain.identity) applied to the links
    of all the rows, as the report reads them after the identity build."""
    rows = list(rows)
    persons = resolve_persons(links_from_events(rows))
    return [{**r, "person_id": person_of(persons, r["user_id"], r["anonymous_id"])} for r in rows]


def write_identities(lake_dir: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """The `identities` table of the rows' links, as the identity build writes it (JSON Lines, gzip)."""
    identities = resolve_identities(links_from_events(rows))
    directory = lake_dir / "identity" / "persons"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "identities-test.json.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r.to_record()) + "\n" for r in identities).encode()))
    return path


# Who each linked id of linking_events() belongs to (docs/identity.md), written by hand.
LINKED_PERSONS: dict[str, str] = {
    "dev-a": "member-a",  # browsed anonymously, then signed in (identify)
    "dev-b": "member-b",  # alias from the anonymous id
    "dev-b2": "member-b",  # member-b's second device
    "member-c1": "member-c2",  # userId change: alias member-c1 -> member-c2
    "dev-c": "member-c2",
    "dev-s": "member-d1",  # shared device: linked to member-d1 first, to member-d2 later
    "dev-e": "member-e",  # identified a week after an anonymous adoption
}


def linking_events() -> list[dict[str, Any]]:
    """Persons whose ids are linked, around REPORT_DAY (see the module docstring and LINKED_PERSONS)."""
    rows: list[dict[str, Any]] = []

    def add(at: datetime, user_id: str | None, anonymous_id: str | None, **kwargs: Any) -> None:
        event_id = f"link-{len(rows) + 1:04d}"
        rows.append(make_event(event_id, "", at, ids=(user_id, anonymous_id), **kwargs))

    def day(offset: int, hour: int, minute: int = 0) -> datetime:
        d = REPORT_DAY + timedelta(days=offset)
        return datetime(d.year, d.month, d.day, hour, minute)

    view = {"event": "Feature Viewed", "stage": "view"}
    use = {"event": "Feature Used", "stage": "use"}
    complete = {"event": "Feature Completed", "stage": "complete"}
    # A: anonymous browsing from a newsletter, sign-in (identify), then use and completion as member-a.
    add(day(-1, 10), None, "dev-a", type_="page", campaign=("newsletter", "email", "launch"))
    add(day(-1, 10, 1), None, "dev-a", feature="smart-search", **view)
    add(day(0, 9), None, "dev-a", feature="export", **view)
    add(day(0, 9, 5), "member-a", "dev-a", type_="identify", event=None)
    add(day(0, 9, 6), "member-a", "dev-a", feature="smart-search", duration_ms=20_000, **use)
    add(day(0, 9, 10), "member-a", None, feature="smart-search", **complete)
    add(day(0, 13), "", "dev-a", type_="page")  # a blank user id reads as none
    add(day(1, 8), "member-a", None, type_="page", campaign=("google", "cpc", "spring-sale"))
    # B: anonymous adoption, then an alias from the anonymous id; completion on a second device.
    add(day(0, 12), None, "dev-b", type_="page", campaign=("google", "cpc", "spring-sale"))
    add(day(0, 12, 1), None, "dev-b", feature="export", **view)
    add(day(0, 12, 2), None, "dev-b", feature="export", duration_ms=4_000, **use)
    add(day(0, 12, 30), "member-b", "dev-b", type_="alias", event=None, properties='{"previousId": "dev-b"}')
    add(day(0, 12, 31), "member-b", "dev-b2", feature="export", **complete)
    # C: a userId change: member-c1 becomes member-c2 by alias.
    add(day(-1, 8), "member-c1", "dev-c", feature="smart-search", campaign=("facebook", "social", None), **view)
    add(day(0, 8), "member-c2", "dev-c", type_="alias", event=None, properties='{"previousId": "member-c1"}')
    add(day(0, 8, 5), "member-c2", None, feature="smart-search", duration_ms=45_000, **use)
    add(day(0, 8, 6), "member-c2", None, feature="smart-search", **complete)
    # D: a shared device: linked to member-d1 first; its anonymous events stay member-d1's.
    add(day(0, 7), "member-d1", "dev-s", type_="page")
    add(day(0, 7, 30), None, "dev-s", feature="export", **view)
    add(day(0, 19), "member-d2", "dev-s", feature="export", **view)
    add(day(0, 19, 5), "member-d2", "dev-s", feature="export", duration_ms=700_000, **use)
    # E: an anonymous adoption a week before the sign-in: the late link makes it member-e's (D7 retention).
    add(day(-7, 15), None, "dev-e", feature="smart-search", campaign=("newsletter", "email", "launch"), **use)
    add(day(0, 9), "member-e", "dev-e", type_="identify", event=None)
    add(day(0, 9, 1), "member-e", None, feature="smart-search", **use)
    # A client retry of the sign-in's completion, stored again and received later.
    copy = dict(rows[5])
    copy["received_at"] = copy["received_at"] + timedelta(seconds=30)
    rows.append(copy)
    return rows


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
    """Keep the first received copy of each (source_id, event_id) (what the base view does)."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["source_id"], row["event_id"])
        kept = best.get(key)
        if kept is None or row["received_at"] < kept["received_at"]:
            best[key] = row
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

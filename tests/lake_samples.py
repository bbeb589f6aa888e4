"""Lake test data: variations of the sample events in tests/events/lake/ (no hand-written event dicts)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from featurepulse.domain.schema import format_timestamp

EVENTS_DIR = Path(__file__).parent / "events" / "lake"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return data


def enriched(**overrides: Any) -> dict[str, Any]:
    """The sample enriched event in wire form, with a fresh event_id unless one is given."""
    event = load("enriched_feature_used.json")
    event["event_id"] = str(uuid.uuid4())
    for key, value in overrides.items():
        event[key] = format_timestamp(value) if isinstance(value, datetime) else value
    return event


def user_events(user_id: str, anonymous_id: str, start: datetime, count: int, step: timedelta) -> list[dict[str, Any]]:
    return [enriched(user_id=user_id, anonymous_id=anonymous_id, timestamp=start + i * step) for i in range(count)]


def quarantined(**overrides: Any) -> dict[str, Any]:
    record = load("quarantined_missing_event_name.json")
    record["quarantine_id"] = f"q-{uuid.uuid4()}"
    record.update(overrides)
    return record


def raw_event(**overrides: Any) -> dict[str, Any]:
    """A Segment track event as a client sends it (tests/events/lake/raw_track_feature_completed.json)."""
    event = load("raw_track_feature_completed.json")
    event.update(overrides)
    return event


def alias_event(user_id: str, previous_id: str, at: datetime, anonymous_id: str | None = None) -> dict[str, Any]:
    """An alias event as the lake stores it: previousId in the properties JSON text."""
    return enriched(
        type="alias",
        event=None,
        feature=None,
        stage=None,
        user_id=user_id,
        anonymous_id=anonymous_id,
        properties=json.dumps({"previousId": previous_id}),
        timestamp=at,
    )

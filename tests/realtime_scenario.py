"""The fixed event set of the real-time tests (tests/events/realtime_scenario.json), loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from featurepulse.realtime.events import EngagementEvent, engagement_from_enriched
from featurepulse.realtime.settings import RealtimeSettings

SCENARIO_PATH = Path(__file__).parent / "events" / "realtime_scenario.json"


def load() -> dict[str, Any]:
    return json.loads(SCENARIO_PATH.read_text())


def settings() -> RealtimeSettings:
    return RealtimeSettings.from_properties(load()["properties"])


def raw_phases() -> list[list[dict[str, Any]]]:
    """Each phase's enriched-event dicts, in arrival order."""
    return [[entry["event"] for entry in phase["events"]] for phase in load()["phases"]]


def phases() -> list[list[EngagementEvent]]:
    return [[engagement_from_enriched(e) for e in phase] for phase in raw_phases()]

"""Feature funnel stages (docs/design.md section 1): event names map to stages by configuration, not code."""

from __future__ import annotations

import os
from functools import lru_cache

import orjson

STAGE_VIEW = "view"
STAGE_USE = "use"
STAGE_COMPLETE = "complete"
STAGE_DISMISS = "dismiss"
STAGES: tuple[str, ...] = (STAGE_VIEW, STAGE_USE, STAGE_COMPLETE, STAGE_DISMISS)

DEFAULT_STAGE_MAP: dict[str, str] = {
    "Feature Viewed": STAGE_VIEW,
    "Feature Used": STAGE_USE,
    "Feature Completed": STAGE_COMPLETE,
    "Feature Dismissed": STAGE_DISMISS,
}

# The env var (set by CDK from the `stageMap` context value) holding a JSON object {event name: stage}.
STAGE_MAP_ENV = "FEATUREPULSE_STAGE_MAP"

EXPERIMENT_VIEWED = "Experiment Viewed"


def parse_stage_map(raw: str | None) -> dict[str, str]:
    """Parse a stage map; unknown stage names are refused so a typo cannot silently empty a funnel."""
    if not raw:
        return dict(DEFAULT_STAGE_MAP)
    mapping = orjson.loads(raw)
    if not isinstance(mapping, dict):
        raise ValueError("stage map must be a JSON object {event name: stage}")
    bad = {k: v for k, v in mapping.items() if v not in STAGES}
    if bad:
        raise ValueError(f"unknown stages in stage map: {bad}; allowed: {list(STAGES)}")
    return {str(k): str(v) for k, v in mapping.items()}


@lru_cache(maxsize=1)
def stage_map_from_env() -> dict[str, str]:
    return parse_stage_map(os.environ.get(STAGE_MAP_ENV))

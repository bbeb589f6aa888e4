"""Knobs of the real-time job, parsed once from Managed Flink runtime properties or local arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

# The window is one minute by design (keys and panels are "by minute"); it is not a knob.
MINUTE_MS = 60_000
DAY_MS = 86_400_000

# The runtime-properties group of the Managed Flink application holding these settings (CDK writes it).
PROPERTY_GROUP = "FeaturePulseRealtime"


class RealtimeSettingsError(ValueError):
    """A property is missing or invalid; the message names it."""


@dataclass(frozen=True)
class RealtimeSettings:
    """Event-time behaviour and retention of the aggregates. Property names are the field names with dots."""

    # Watermark = highest event time seen - out_of_orderness: how long the job waits for stragglers
    # before a window is "complete" (early firing makes partial numbers visible long before).
    out_of_orderness_s: int = 5
    # Events up to this late (behind the watermark) still update their window; later ones are counted
    # in the late-events metric only (the lake keeps them all).
    allowed_lateness_s: int = 300
    # Early firing: a window's partial numbers are emitted this often while it is open.
    early_fire_delay_ms: int = 1000
    # How long an event id is remembered for de-duplication (processing time). Must exceed the lateness:
    # a duplicate arriving later than that is late anyway and never reaches a window.
    dedup_retention_s: int = 3600
    # A source partition without data for this long no longer holds back the watermark.
    idle_timeout_s: int = 30
    # DynamoDB TTL of the rows (seconds after the window's end).
    minute_ttl_s: int = 2 * 86_400
    day_ttl_s: int = 90 * 86_400
    # How long the per-day late-events counters are kept in the job's state (processing time).
    late_state_retention_s: int = 2 * 86_400

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RealtimeSettingsError(f"{property_name(f.name)} must be a non-negative integer, not {value!r}")
        if self.early_fire_delay_ms < 100:
            raise RealtimeSettingsError("early.fire.delay.ms must be at least 100")
        if self.dedup_retention_s <= self.allowed_lateness_s + self.out_of_orderness_s:
            raise RealtimeSettingsError(
                "dedup.retention.s must exceed allowed.lateness.s + out.of.orderness.s "
                "(else a duplicate could reach a window twice)"
            )
        if self.minute_ttl_s < 3600 or self.day_ttl_s < 86_400:
            raise RealtimeSettingsError("minute.ttl.s must be >= 3600 and day.ttl.s >= 86400 (panels read them)")

    @property
    def allowed_lateness_ms(self) -> int:
        return self.allowed_lateness_s * 1000

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> RealtimeSettings:
        """Parse `{"allowed.lateness.s": "300", ...}`; unknown keys are ignored (other settings share the group)."""
        values: dict[str, int] = {}
        for f in fields(cls):
            raw = properties.get(property_name(f.name))
            if raw is None or str(raw).strip() == "":
                continue
            try:
                values[f.name] = int(str(raw).strip())
            except ValueError:
                raise RealtimeSettingsError(f"{property_name(f.name)} must be an integer, not {raw!r}") from None
        return cls(**values)

    def to_properties(self) -> dict[str, str]:
        return {property_name(f.name): str(getattr(self, f.name)) for f in fields(self)}


def property_name(field_name: str) -> str:
    """`allowed_lateness_s` -> `allowed.lateness.s` (the runtime-property spelling)."""
    return field_name.replace("_", ".")

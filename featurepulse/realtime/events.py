"""What the real-time job reads from a stream record: the engagement fields of each enriched event.

Stream records are JSON Lines of `EnrichedEvent`, gzip-compressed (featurepulse/domain/packing.py), read by the
one rule of featurepulse/domain/record_format.py. This module parses them with the standard library, because
the job runs where nothing can be pip-installed (Managed Flink); a unit test checks it reads exactly what
`packing.unpack_record` reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from featurepulse.domain.metrics import ADOPTER_STAGES
from featurepulse.domain.record_format import UnreadableRecordError, record_text
from featurepulse.realtime import histogram
from featurepulse.realtime.windows import parse_instant_ms

# Funnel stages as the ingest writes them (featurepulse/domain/stages.py; a test keeps the two equal).
STAGE_VIEW = "view"
STAGE_USE = "use"
STAGE_COMPLETE = "complete"
STAGE_DISMISS = "dismiss"
STAGES: tuple[str, ...] = (STAGE_VIEW, STAGE_USE, STAGE_COMPLETE, STAGE_DISMISS)
# The stages that make a person an adopter of a feature: the catalogue's rule (docs/metrics.md).
ADOPTION_STAGES: tuple[str, ...] = ADOPTER_STAGES


class UnreadableEventError(ValueError):
    """A line of a stream record is not an enriched event (never expected: the ingest validated it)."""


@dataclass(frozen=True, slots=True)
class EngagementEvent:
    """The fields the live aggregation reads. `person_key` is the key the event's person is counted under: set
    in arrival order from the identity links seen so far (featurepulse/realtime/persons.py), None until then.

    An event is identified by (source_id, event_id): `event_id` is the client's messageId, unique only within
    its source, so two sources may send the same one and both events count."""

    event_id: str
    event_time_ms: int
    source_id: str = ""
    user_id: str | None = None
    anonymous_id: str | None = None
    feature: str | None = None
    stage: str | None = None
    campaign: str | None = None
    experiment_id: str | None = None
    variation_id: str | None = None
    duration_ms: int | None = None
    alias_previous_id: str | None = None  # an `alias` event's previousId (properties), an identity link
    person_key: str | None = None

    @property
    def dedup_key(self) -> tuple[str, str]:
        """What the job de-duplicates on: the source and the client's messageId (one source cannot suppress
        another source's events by reusing its ids)."""
        return (self.source_id, self.event_id)

    @property
    def duration_bucket(self) -> int | None:
        return None if self.duration_ms is None else histogram.bucket_of(self.duration_ms)


def _text(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    text = str(value)
    return text if text else None


def _alias_previous_id(obj: Mapping[str, Any]) -> str | None:
    if obj.get("type") != "alias":
        return None
    properties = obj.get("properties")
    if isinstance(properties, str):
        try:
            properties = json.loads(properties) if properties else {}
        except ValueError:
            return None
    if not isinstance(properties, Mapping):
        return None
    return _text(properties, "previousId")


def engagement_from_enriched(obj: Mapping[str, Any]) -> EngagementEvent:
    """The engagement fields of one enriched-event dict. Raises UnreadableEventError if it has no id/time."""
    event_id = _text(obj, "event_id")
    timestamp = obj.get("timestamp")
    if event_id is None or not isinstance(timestamp, str):
        raise UnreadableEventError("enriched event without event_id or timestamp")
    try:
        event_time_ms = parse_instant_ms(timestamp)
    except ValueError:
        raise UnreadableEventError(f"unreadable timestamp {timestamp!r}") from None
    duration = obj.get("duration_ms")
    duration_ms = duration if isinstance(duration, int) and not isinstance(duration, bool) and duration >= 0 else None
    return EngagementEvent(
        event_id=event_id,
        event_time_ms=event_time_ms,
        source_id=_text(obj, "source_id") or "",
        user_id=_text(obj, "user_id"),
        anonymous_id=_text(obj, "anonymous_id"),
        feature=_text(obj, "feature"),
        stage=_text(obj, "stage"),
        campaign=_text(obj, "campaign_name"),
        experiment_id=_text(obj, "experiment_id"),
        variation_id=_text(obj, "variation_id"),
        duration_ms=duration_ms,
        alias_previous_id=_alias_previous_id(obj),
    )


def unpack_engagement(data: bytes | str) -> Iterator[EngagementEvent | UnreadableEventError]:
    """Every event packed in one stream record, in order; unreadable lines are yielded as errors so the
    caller can count them without losing the rest of the record. A gzip record that cannot be inflated within
    the packing bounds is one error. `data` is the record's bytes (a str is taken as its JSON Lines already)."""
    if isinstance(data, bytes | bytearray):
        try:
            data = record_text(bytes(data))
        except UnreadableRecordError as exc:
            yield UnreadableEventError(str(exc))
            return
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield UnreadableEventError("line is not JSON")
            continue
        if not isinstance(obj, dict):
            yield UnreadableEventError("line is not a JSON object")
            continue
        try:
            yield engagement_from_enriched(obj)
        except UnreadableEventError as exc:
            yield exc

"""Executable specification of the job's semantics, in plain Python.

The Flink job is the implementation; this model states what it must produce for a given arrival order, so
tests and the benchmark can check the job's DynamoDB items against it (and hypothesis can check the
invariances: any order, any batching, any replay gives the same numbers when nothing is late).

Arrival is modelled in batches: the watermark (highest event time seen - out-of-orderness) advances between
batches, the way Flink's periodic watermarks advance between bursts of input. Persons are resolved in arrival
order, every arriving event included (duplicates and late ones carry links too), as the job's unpack step does
(featurepulse/realtime/persons.py); person counts therefore depend on the order in which links arrive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from featurepulse.realtime import items, metrics
from featurepulse.realtime.events import EngagementEvent
from featurepulse.realtime.persons import LivePersons
from featurepulse.realtime.settings import RealtimeSettings
from featurepulse.realtime.windows import day_start_ms, is_late, minute_start_ms

GroupKey = tuple[str, str, str, str, str, int]  # granularity, dimension, feature, value_a, value_b, window start


class ReferenceAggregation:
    def __init__(self, settings: RealtimeSettings) -> None:
        self.settings = settings
        self.watermark_ms: int | None = None
        self._seen: set[tuple[str, str]] = set()
        self._groups: dict[GroupKey, list[EngagementEvent]] = defaultdict(list)
        self.late_by_day: dict[int, int] = defaultdict(int)
        self.persons = LivePersons()

    def add_batch(self, batch: Iterable[EngagementEvent]) -> None:
        """Events arriving together: judged against the watermark as it was before the batch."""
        max_time: int | None = None
        for arrived in batch:
            event = self.persons.resolve(arrived)
            max_time = event.event_time_ms if max_time is None else max(max_time, event.event_time_ms)
            if event.dedup_key in self._seen:  # first arrival wins, the job's de-duplication per (source, id)
                continue
            self._seen.add(event.dedup_key)
            if is_late(event.event_time_ms, self.watermark_ms, self.settings.allowed_lateness_ms):
                self.late_by_day[day_start_ms(event.event_time_ms)] += 1
                continue
            self._accept(event)
        if max_time is not None:
            candidate = max_time - self.settings.out_of_orderness_s * 1000
            self.watermark_ms = candidate if self.watermark_ms is None else max(self.watermark_ms, candidate)

    def _accept(self, event: EngagementEvent) -> None:
        for dimension in metrics.DIMENSIONS:
            keys = dimension.keys(event)
            if keys is None:
                continue
            feature, value_a, value_b = keys
            for granularity, start in (
                (metrics.GRANULARITY_MINUTE, minute_start_ms(event.event_time_ms)),
                (metrics.GRANULARITY_DAY, day_start_ms(event.event_time_ms)),
            ):
                self._groups[(granularity, dimension.name, feature, value_a, value_b, start)].append(event)

    def items(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The table's final content, keyed by (pk, sk)."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for (granularity, dimension, feature, value_a, value_b, start), events in self._groups.items():
            item = items.build_item(
                granularity=granularity,
                dimension=dimension,
                feature=feature,
                value_a=value_a,
                value_b=value_b,
                window_start_ms=start,
                counters=metrics.evaluate_counters(events),
                duration_histogram=metrics.evaluate_histogram(events),
                settings=self.settings,
            )
            out[(item[items.PK], item[items.SK])] = item
            if granularity == metrics.GRANULARITY_DAY and dimension == metrics.DIM_FEATURE:
                copy = items.directory_item(item)
                out[(copy[items.PK], copy[items.SK])] = copy
        for day, count in self.late_by_day.items():
            late = items.build_late_item(day_start_ms=day, late_events=count, settings=self.settings)
            out[(late[items.PK], late[items.SK])] = late
        return out


def reference_items(
    batches: Iterable[Iterable[EngagementEvent]], settings: RealtimeSettings
) -> dict[tuple[str, str], dict[str, Any]]:
    model = ReferenceAggregation(settings)
    for batch in batches:
        model.add_batch(batch)
    return model.items()

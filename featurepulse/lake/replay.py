"""`featurepulse quarantine replay`: re-validate quarantined events (after a schema or rule fix) and send those
that are now valid to the stream, from where they reach the lake and the real-time aggregates like any event.

- Selection: events received since `since` (and before `until`), optionally whose reason contains `reason`.
- Re-validation: the ingest code itself (`revalidate`), with the event's original receive time and the request's
  batch values (`sentAt`, `context`: stored once per request, restored on each of its events by
  `with_batch_values`), so a fixed event is stored exactly as ingest would have stored it, and clock-skew
  correction and the future bound give the answer they would have given then.
- Exactly-once numbers: the event id of a replayed event is the one ingest gives it (`messageId`, else a digest
  of the event), so a replay sent twice, or an event a client also resent, is de-duplicated on
  (`source_id`, `event_id`) downstream (a messageId is unique only within its source). Each run also records
  what it sent under `audit/replay/`, and the next run skips those quarantine ids (unless `force`), so the
  stream is not refilled with the same events.
- The quarantine is left as it is: it is the record of what was refused, and why, when it arrived.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer

from featurepulse.constants import QUARANTINE_PREFIX
from featurepulse.domain.quarantine import QuarantinedEvent
from featurepulse.domain.schema import format_timestamp
from featurepulse.lake.layout import AUDIT_REPLAY_PREFIX, partition_of, partitions_between
from featurepulse.lake.store import ObjectStore

# Re-validates one quarantined event: returns the enriched event (wire dict) or raises ValueError(reason).
Revalidate = Callable[[QuarantinedEvent], dict[str, Any]]
# An event's identity: (source_id, event_id). A messageId is the client's, unique only within its source.
EventKey = tuple[str, str]
# Sends enriched events to the stream; returns the keys of the events that could not be sent.
Send = Callable[[Sequence[dict[str, Any]]], Sequence[EventKey]]


def event_key(event: Mapping[str, Any]) -> EventKey:
    return (str(event.get("source_id") or ""), str(event["event_id"]))


class ReplayedEvent(BaseModel):
    model_config = ConfigDict(frozen=True)
    quarantine_id: str
    event_id: str


class StillInvalid(BaseModel):
    model_config = ConfigDict(frozen=True)
    quarantine_id: str
    reason: str


class ReplayAudit(BaseModel):
    model_config = ConfigDict(frozen=True)

    replay_id: str
    requested_by: str
    started_at: datetime
    finished_at: datetime
    store: str
    since: datetime
    until: datetime
    reason_filter: str | None
    dry_run: bool
    scanned: int
    selected: int
    skipped_already_replayed: int
    replayed: list[ReplayedEvent]
    still_invalid: list[StillInvalid]
    send_failed: list[ReplayedEvent]
    audit_key: str | None = None

    @field_serializer("started_at", "finished_at", "since", "until")
    def _serialize_time(self, value: datetime) -> str:
        return format_timestamp(value)


@dataclass
class _Selection:
    scanned: int = 0
    events: list[QuarantinedEvent] = field(default_factory=list)


def replay_quarantine(
    store: ObjectStore,
    *,
    since: datetime,
    revalidate: Revalidate,
    send: Send,
    requested_by: str,
    reason: str | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    force: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReplayAudit:
    started = now()
    until = until or started
    if since > until:
        raise ValueError(f"--since ({format_timestamp(since)}) is after --until ({format_timestamp(until)})")
    selection = _select(store, since=since, until=until, reason=reason)
    done = set() if force else replayed_quarantine_ids(store)
    pending = [q for q in selection.events if q.quarantine_id not in done]

    valid: list[tuple[QuarantinedEvent, dict[str, Any]]] = []
    invalid: list[StillInvalid] = []
    for q in pending:
        try:
            valid.append((q, revalidate(q)))
        except (ValueError, ValidationError) as exc:
            invalid.append(StillInvalid(quarantine_id=q.quarantine_id, reason=str(exc).splitlines()[0][:500]))

    failed_keys: set[EventKey] = set()
    if valid and not dry_run:
        failed_keys = set(send([event for _, event in valid]))
    replayed = [
        ReplayedEvent(quarantine_id=q.quarantine_id, event_id=str(e["event_id"]))
        for q, e in valid
        if event_key(e) not in failed_keys
    ]
    failed = [
        ReplayedEvent(quarantine_id=q.quarantine_id, event_id=str(e["event_id"]))
        for q, e in valid
        if event_key(e) in failed_keys
    ]
    replay_id = str(uuid.uuid4())
    audit = ReplayAudit(
        replay_id=replay_id,
        requested_by=requested_by,
        started_at=started,
        finished_at=now(),
        store=store.description,
        since=since,
        until=until,
        reason_filter=reason,
        dry_run=dry_run,
        scanned=selection.scanned,
        selected=len(selection.events),
        skipped_already_replayed=len(selection.events) - len(pending),
        replayed=replayed,
        still_invalid=invalid,
        send_failed=failed,
    )
    if dry_run:
        return audit
    part = partition_of(started)
    key = f"{AUDIT_REPLAY_PREFIX}dt={part.dt}/{started.strftime('%Y%m%dT%H%M%S%fZ')}-{replay_id}.json"
    audit = audit.model_copy(update={"audit_key": key})
    store.put(key, audit.model_dump_json(indent=2).encode() + b"\n")
    return audit


def replayed_quarantine_ids(store: ObjectStore) -> set[str]:
    """Quarantine ids already sent by an earlier (non dry-run) replay, from the replay audit entries."""
    ids: set[str] = set()
    for key in store.list_keys(AUDIT_REPLAY_PREFIX):
        try:
            entry = orjson.loads(store.get(key))
        except orjson.JSONDecodeError:
            continue
        ids.update(r["quarantine_id"] for r in entry.get("replayed", []))
    return ids


def _select(store: ObjectStore, *, since: datetime, until: datetime, reason: str | None) -> _Selection:
    selection = _Selection()
    seen: set[str] = set()
    needle = reason.casefold() if reason else None
    for q in _quarantined_between(store, since, until):
        selection.scanned += 1
        if not since <= q.received_at <= until:
            continue
        if needle is not None and needle not in q.reason.casefold():
            continue
        if q.quarantine_id in seen:  # the same event resent by a client: replay it once
            continue
        seen.add(q.quarantine_id)
        selection.events.append(q)
    return selection


def _quarantined_between(store: ObjectStore, since: datetime, until: datetime) -> Iterator[QuarantinedEvent]:
    days = sorted({p.dt for p in partitions_between(since, until)})
    for day in days:
        for key in store.list_keys(f"{QUARANTINE_PREFIX}dt={day}/"):
            if not key.endswith(".jsonl"):
                continue
            yield from with_batch_values(_records(store.get(key)))


def _records(body: bytes) -> Iterator[QuarantinedEvent]:
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            yield QuarantinedEvent.model_validate_json(line)
        except ValidationError:
            continue  # not a quarantine record (a hand-made file?): never fatal to a replay


def with_batch_values(records: Iterable[QuarantinedEvent]) -> list[QuarantinedEvent]:
    """The records of one quarantine object, each carrying its request's batch values: ingest stores them once
    per request, on one row, and the request's other rows name that row (`batch_index`). A row whose carrier is
    gone (erased with its user) keeps `batch` None, and its replay says so."""
    rows = list(records)
    carried = {(r.request_id, r.index): r.batch for r in rows if r.batch is not None}
    return [
        r.model_copy(update={"batch": carried.get((r.request_id, r.batch_index))})
        if r.batch is None and r.batch_index is not None
        else r
        for r in rows
    ]

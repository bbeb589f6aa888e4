"""`featurepulse quarantine replay` end to end on moto: quarantine objects in the lake bucket, today's ingest rules,
the ingest data layer putting records on a moto stream, and the lake writer reading them back exactly once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from featurepulse.cli import main
from featurepulse.domain.packing import record_text
from featurepulse.domain.quarantine import QuarantinedEvent, quarantine_key
from featurepulse.ingest.enrich import EnrichmentConfig, InvalidEventError, RequestInfo, enrich_event
from featurepulse.lake.layout import AUDIT_REPLAY_PREFIX, partition_of_wire_timestamp
from featurepulse.lake.replay import replay_quarantine
from featurepulse.lake.replay_ingest import revalidate_with_ingest, stream_sender
from featurepulse.lake.store import S3Store
from featurepulse.lake.writer import LakeWriter
from featurepulse.local.stream_reader import StreamReader
from tests.lake_samples import quarantined, raw_event

BUCKET = "lake"
STREAM = "events"
RECEIVED = datetime(2026, 11, 25, 10, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
        yield s3, kinesis


def quarantine(store: S3Store, records: list[dict[str, Any]], received: datetime = RECEIVED) -> None:
    events = [QuarantinedEvent.model_validate({**r, "received_at": received}) for r in records]
    key = quarantine_key("quarantine/", received, events[0].request_id)
    store.put(key, b"".join(e.model_dump_json().encode() + b"\n" for e in events))


def refused(reason: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A quarantine record of `raw`, refused back then for `reason`."""
    return quarantined(
        reason=reason,
        raw=json.dumps(raw),
        message_id=raw.get("messageId"),
        user_id=raw.get("userId"),
        request_id=f"req-{uuid.uuid4().hex[:8]}",
    )


def stream_events(kinesis: Any) -> list[dict[str, Any]]:
    records = StreamReader(kinesis, STREAM).poll()
    return [orjson.loads(line) for r in records for line in record_text(r.data).splitlines()]


def replay(store: S3Store, kinesis: Any, **kwargs: Any) -> Any:
    return replay_quarantine(
        store,
        since=kwargs.pop("since", RECEIVED - timedelta(hours=1)),
        revalidate=revalidate_with_ingest,
        send=stream_sender(kinesis, STREAM),
        requested_by="ops@example.com",
        now=lambda: NOW,
        **kwargs,
    )


def test_events_valid_under_todays_rules_are_sent_once_and_the_rest_stay_quarantined(aws: tuple[Any, Any]) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    # Given two events refused by an old rule that today's rules accept, and one still invalid (no event name)
    fixed = [raw_event(messageId="m-1"), raw_event(messageId="m-2", userId="user-7")]
    broken = {k: v for k, v in raw_event(messageId="m-3").items() if k != "event"}
    quarantine(store, [refused("old rule: duration_ms too large", r) for r in fixed] + [refused("no event", broken)])
    # When replayed
    audit = replay(store, kinesis)
    # Then the two are on the stream as enriched events with their original ids, partitioned by their event time
    sent = stream_events(kinesis)
    assert sorted(e["event_id"] for e in sent) == ["m-1", "m-2"]
    assert {partition_of_wire_timestamp(e["timestamp"]).hr for e in sent} == {"10"}
    assert all(e["received_at"] == "2026-11-25T10:20:00.000Z" for e in sent)
    # And the third stays quarantined with today's reason, and the run is audited
    assert [r.reason for r in audit.still_invalid] == ["track needs event: a non-empty string naming what the user did"]
    assert audit.audit_key is not None and audit.audit_key.startswith(AUDIT_REPLAY_PREFIX)
    assert json.loads(store.get(audit.audit_key))["requested_by"] == "ops@example.com"


def test_a_second_replay_sends_nothing_and_a_forced_one_is_deduplicated_downstream(aws: tuple[Any, Any]) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    quarantine(store, [refused("old rule", raw_event(messageId="m-1"))])
    replay(store, kinesis)
    # When the same replay runs again / Then it skips what the first one sent
    again = replay(store, kinesis)
    assert again.skipped_already_replayed == 1 and again.replayed == []
    # When forced / Then the event goes again with the same event id, and the lake still holds it once
    forced = replay(store, kinesis, force=True)
    assert [r.event_id for r in forced.replayed] == ["m-1"]
    writer = LakeWriter([S3Store(s3, BUCKET)])
    for record in StreamReader(kinesis, STREAM).poll():
        writer.add_record(record.data)
    assert sum(f.rows for f in writer.flush()) == 1 and writer.stats.duplicates == 1


def test_an_event_without_message_id_gets_the_same_id_on_every_replay(aws: tuple[Any, Any]) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    raw = {k: v for k, v in raw_event().items() if k != "messageId"}
    quarantine(store, [refused("old rule", raw)])
    first = replay(store, kinesis)
    second = replay(store, kinesis, force=True)
    assert first.replayed[0].event_id == second.replayed[0].event_id


def test_reason_and_time_filters_select_what_is_replayed(aws: tuple[Any, Any]) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    quarantine(store, [refused("Schema: duration_ms too large", raw_event(messageId="m-1"))])
    quarantine(store, [refused("write key revoked", raw_event(messageId="m-2"))], RECEIVED)
    quarantine(
        store, [refused("schema: duration_ms too large", raw_event(messageId="m-3"))], RECEIVED - timedelta(days=3)
    )
    # When replaying only the schema reason, only since yesterday
    audit = replay(store, kinesis, reason="SCHEMA", since=RECEIVED - timedelta(hours=2))
    # Then only m-1 matches both filters
    assert [r.event_id for r in audit.replayed] == ["m-1"]


def test_a_far_future_event_is_refused_at_ingest_and_stays_refused_on_replay(aws: tuple[Any, Any]) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    # Given an event 3 days ahead of its receive time (beyond the 24 h ingest accepts after skew correction)
    future = raw_event(messageId="m-future", timestamp="2026-11-28T10:20:00.000Z", sentAt=None)
    request = RequestInfo(source_id="src-web", received_at_ms=int(RECEIVED.timestamp() * 1000))
    # Then ingest refuses it, so it never reaches a lake partition
    with pytest.raises(InvalidEventError, match="future"):
        enrich_event(future, None, request, EnrichmentConfig(stage_map={}))
    # And a replay, which judges it as of its receive time, keeps refusing it
    quarantine(store, [refused("timestamp in the future", future)])
    audit = replay(store, kinesis)
    assert audit.replayed == [] and "future" in audit.still_invalid[0].reason
    assert stream_events(kinesis) == []


def test_a_dry_run_sends_and_records_nothing(aws: tuple[Any, Any]) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    quarantine(store, [refused("old rule", raw_event())])
    audit = replay(store, kinesis, dry_run=True)
    assert len(audit.replayed) == 1 and stream_events(kinesis) == []
    assert list(store.list_keys(AUDIT_REPLAY_PREFIX)) == []


def test_the_cli_replays_against_a_deployed_bucket_and_stream(
    aws: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    s3, kinesis = aws
    quarantine(S3Store(s3, BUCKET), [refused("old rule", raw_event(messageId="m-1"))])
    code = main(["quarantine", "replay", "--since", "2026-11-25", "--bucket", BUCKET, "--stream-name", STREAM])
    out = capsys.readouterr().out
    assert code == 0 and "replayed 1" in out and "audit entry" in out
    assert [e["event_id"] for e in stream_events(kinesis)] == ["m-1"]


def test_an_event_over_32_kb_stays_refused(aws: tuple[Any, Any]) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    # Given an event refused for its size (ingest checks the size on the request path, not in enrichment)
    oversize = raw_event(messageId="m-big", properties={"feature": "smart-search", "blob": "x" * 40_000})
    quarantine(store, [refused("the event is larger than 32768 bytes (32 KB)", oversize)])
    # When replayed / Then it is still refused for the same reason and nothing is sent
    audit = replay(store, kinesis)
    assert audit.replayed == [] and "32 KB" in audit.still_invalid[0].reason
    assert stream_events(kinesis) == []


class _RefusingSource:
    """A moto Kinesis client whose PutRecords refuses (throttles) every record of one source."""

    def __init__(self, kinesis: Any, source_id: str) -> None:
        self.kinesis, self.needle = kinesis, f'"source_id":"{source_id}"'.encode()

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        refused = [self.needle in record_text(r["Data"]) for r in Records]
        accepted = [r for r, no in zip(Records, refused, strict=True) if not no]
        results = iter(self.kinesis.put_records(StreamName=StreamName, Records=accepted)["Records"] if accepted else [])
        out = [{"ErrorCode": "ProvisionedThroughputExceededException"} if no else next(results) for no in refused]
        return {"FailedRecordCount": sum(refused), "Records": out}


def test_two_sources_with_the_same_message_id_are_both_replayed_and_both_reach_the_lake(
    aws: tuple[Any, Any],
) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    # Given two sources whose quarantined events both carry messageId order-1001
    web = {**refused("old rule", raw_event(messageId="order-1001", userId="u-web")), "source_id": "src-web"}
    ios = {**refused("old rule", raw_event(messageId="order-1001", userId="u-ios")), "source_id": "src-ios"}
    quarantine(store, [web, ios])
    # When replayed twice (forced: the stream then holds each event twice)
    replay(store, kinesis)
    replay(store, kinesis, force=True)
    # Then the lake holds both events, once each: de-duplication is per source and messageId
    writer = LakeWriter([S3Store(s3, BUCKET)])
    for record in StreamReader(kinesis, STREAM).poll():
        writer.add_record(record.data)
    assert sum(f.rows for f in writer.flush()) == 2 and writer.stats.duplicates == 2


def test_a_send_failure_names_only_the_event_of_the_source_that_failed(aws: tuple[Any, Any]) -> None:
    s3, kinesis = aws
    store = S3Store(s3, BUCKET)
    # Given two sources' events with the same messageId, and a stream that refuses every record of src-ios
    web = {**refused("old rule", raw_event(messageId="order-1001", userId="u-web")), "source_id": "src-web"}
    ios = {**refused("old rule", raw_event(messageId="order-1001", userId="u-ios")), "source_id": "src-ios"}
    quarantine(store, [web, ios])
    # When replayed
    audit = replay_quarantine(
        store,
        since=RECEIVED - timedelta(hours=1),
        revalidate=revalidate_with_ingest,
        send=stream_sender(_RefusingSource(kinesis, "src-ios"), STREAM, time_budget_ms=0),
        requested_by="ops@example.com",
        now=lambda: NOW,
    )
    # Then the web event is replayed and only the iOS one is reported as not sent
    assert [r.quarantine_id for r in audit.replayed] == [web["quarantine_id"]]
    assert [r.quarantine_id for r in audit.send_failed] == [ios["quarantine_id"]]
    assert [e["source_id"] for e in stream_events(kinesis)] == ["src-web"]

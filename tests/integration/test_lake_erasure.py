"""GDPR erasure end to end on a moto S3 lake bucket (versioned, as deployed) and on a local lake directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from featurepulse.domain.quarantine import QuarantinedEvent, quarantine_key
from featurepulse.lake.erasure import ErasureAudit, ErasureRequest, LakeEraser, digest
from featurepulse.lake.layout import AUDIT_ERASURE_PREFIX, EVENTS_PREFIX
from featurepulse.lake.parquet import parquet_to_table, table_to_parquet
from featurepulse.lake.store import LocalStore, ObjectStore, S3Store
from featurepulse.lake.writer import LakeWriter
from tests.integration.lake_support import versioned_bucket, write_lake
from tests.lake_samples import alias_event, enriched, quarantined, user_events

BUCKET = "lake-bucket"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def s3() -> Iterator[Any]:
    with versioned_bucket(BUCKET) as client:
        yield client


@pytest.fixture
def store(s3: Any) -> S3Store:
    return S3Store(s3, BUCKET)


def fill_lake(store: ObjectStore) -> dict[str, list[dict[str, Any]]]:
    """Three people over three days, written in several flushes (several files per partition):
    alice (user u-alice, device a-alice, with pre-login events), bob (u-bob) who shares alice's laptop for one
    session, and carol (u-carol)."""
    writer = LakeWriter([store])
    people = {
        "alice": user_events("u-alice", "a-alice", T0, 30, timedelta(hours=2)),
        "alice-anonymous": [
            enriched(user_id=None, anonymous_id="a-alice", timestamp=T0 + timedelta(hours=h)) for h in (1, 27)
        ],
        "bob": user_events("u-bob", "a-bob", T0, 20, timedelta(hours=3)),
        "bob-on-alice-laptop": [enriched(user_id="u-bob", anonymous_id="a-alice", timestamp=T0 + timedelta(hours=5))],
        "carol": user_events("u-carol", "a-carol", T0 + timedelta(minutes=30), 25, timedelta(hours=2)),
    }
    everything = [e for events in people.values() for e in events]
    for chunk in (everything[::2], everything[1::2]):
        writer.add_rows(chunk)
        writer.flush()
    return people


def lake_rows(store: ObjectStore) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key in store.list_keys(EVENTS_PREFIX):
        rows.extend(parquet_to_table(store.get(key)).to_pylist())
    return rows


def put_quarantine(store: ObjectStore, records: list[dict[str, Any]]) -> str:
    events = [QuarantinedEvent.model_validate(r) for r in records]
    key = quarantine_key("quarantine/", events[0].received_at, events[0].request_id)
    store.put(key, b"".join(e.model_dump_json().encode() + b"\n" for e in events))
    return key


def etags(s3: Any) -> dict[str, str]:
    return {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=EVENTS_PREFIX).get("Contents", [])}


def erase(store: ObjectStore, *users: str, **kwargs: Any) -> ErasureAudit:
    return LakeEraser(store, now=lambda: NOW).erase(
        ErasureRequest(user_ids=frozenset(users), **kwargs), requested_by="dpo@example.com"
    )


def test_erasing_a_user_removes_all_their_rows_and_rewrites_only_the_files_that_held_them(
    s3: Any, store: S3Store
) -> None:
    # Given a lake with alice, bob and carol, and carol alone in some files
    people = fill_lake(store)
    before = etags(s3)
    carol_only = {
        k for k in before if {r["user_id"] for r in parquet_to_table(store.get(k)).to_pylist()} == {"u-carol"}
    }
    # When alice is erased
    audit = erase(store, "u-alice")
    # Then no row of alice is left, including her pre-login rows found through her anonymous id
    rows = lake_rows(store)
    assert not [r for r in rows if r["user_id"] == "u-alice"]
    assert not [r for r in rows if r["anonymous_id"] == "a-alice" and r["user_id"] is None]
    # And every other row is still there: bob's session on alice's laptop is bob's, not alice's
    kept = {r["event_id"] for r in rows}
    others = [e["event_id"] for k in ("bob", "bob-on-alice-laptop", "carol") for e in people[k]]
    assert kept == set(others)
    # And only files that held alice's rows changed; files holding only carol's rows are untouched
    after = etags(s3)
    changed = {k for k in before if after.get(k) != before[k]}
    assert changed == {c.key for c in audit.lake_files}
    assert carol_only and not (carol_only & changed)
    assert audit.rows_removed == len(people["alice"]) + len(people["alice-anonymous"])
    assert audit.linked_anonymous_ids == 1


def test_a_rewritten_file_keeps_its_format_and_its_old_versions_are_gone(s3: Any, store: S3Store) -> None:
    # Given a lake in a versioned bucket
    fill_lake(store)
    # When alice is erased
    audit = erase(store, "u-alice")
    # Then each rewritten object has a single version left (the bucket would otherwise keep her rows)
    for change in audit.lake_files:
        versions = s3.list_object_versions(Bucket=BUCKET, Prefix=change.key).get("Versions", [])
        assert len([v for v in versions if v["Key"] == change.key]) == (0 if change.action == "deleted" else 1)
        if change.action == "rewritten":
            data = store.get(change.key)
            meta = pq.ParquetFile(pa.BufferReader(data)).metadata
            assert meta.num_rows == change.rows_before - change.rows_removed
            assert meta.row_group(0).column(0).compression == "GZIP"
        assert change.old_versions_deleted >= 1


def test_a_file_written_by_firehose_with_int96_timestamps_is_rewritten_with_int96(store: S3Store) -> None:
    # Given a data file as Firehose's Hive writer produces it (INT96 timestamps, SNAPPY)
    rows = [enriched(user_id="u-alice", timestamp=T0), enriched(user_id="u-bob", timestamp=T0)]
    writer = LakeWriter([store])
    writer.add_rows(rows)
    (written,) = writer.flush()
    table = parquet_to_table(store.get(written.key))
    store.put(written.key, table_to_parquet(table, compression="SNAPPY", int96=True))
    # When alice is erased
    erase(store, "u-alice")
    # Then the rewritten file keeps Firehose's physical choices and bob's row
    pf = pq.ParquetFile(pa.BufferReader(store.get(written.key)))
    assert pf.schema.column(pf.schema.names.index("timestamp")).physical_type == "INT96"
    assert pf.metadata.row_group(0).column(0).compression == "SNAPPY"
    assert [r["user_id"] for r in pf.read().to_pylist()] == ["u-bob"]


def test_a_file_left_empty_is_deleted(store: S3Store) -> None:
    # Given a file holding only alice's rows
    writer = LakeWriter([store])
    writer.add_rows(user_events("u-alice", "a-alice", T0, 3, timedelta(minutes=1)))
    assert len(writer.flush()) == 1
    # When alice is erased / Then the file is deleted, not rewritten empty
    audit = erase(store, "u-alice")
    assert [c.action for c in audit.lake_files] == ["deleted"]
    assert list(store.list_keys(EVENTS_PREFIX)) == []


def test_erasing_twice_changes_nothing_the_second_time_and_says_so(s3: Any, store: S3Store) -> None:
    # Given alice already erased
    fill_lake(store)
    first = erase(store, "u-alice")
    snapshot = etags(s3)
    # When the same erasure runs again
    second = erase(store, "u-alice")
    # Then no object changes, the audit records zero rows, and both runs have their own audit entry
    assert first.rows_removed > 0
    assert etags(s3) == snapshot
    assert second.rows_removed == 0 and second.lake_files == [] and second.quarantine_objects == []
    assert len(list(store.list_keys(AUDIT_ERASURE_PREFIX))) == 2


def test_erasing_a_user_who_is_not_there_changes_nothing_and_is_audited(s3: Any, store: S3Store) -> None:
    # Given a lake without user u-nobody
    fill_lake(store)
    snapshot = etags(s3)
    # When u-nobody is erased
    audit = erase(store, "u-nobody")
    # Then nothing changes and the audit says zero rows from all the files it scanned
    assert etags(s3) == snapshot
    assert audit.rows_removed == 0 and audit.lake_files_scanned == len(snapshot)
    assert audit.audit_key is not None


def test_the_audit_entry_says_who_when_which_files_and_how_many_rows_without_the_id(store: S3Store) -> None:
    # Given a lake and a quarantined event of alice
    fill_lake(store)
    put_quarantine(store, [quarantined(user_id="u-alice")])
    # When alice is erased
    audit = erase(store, "u-alice")
    # Then the entry is stored under audit/erasure/dt=<day>/ and holds who, when, which objects, how many rows
    assert audit.audit_key is not None and audit.audit_key.startswith(f"{AUDIT_ERASURE_PREFIX}dt=2026-11-25/")
    entry = json.loads(store.get(audit.audit_key))
    assert entry["requested_by"] == "dpo@example.com"
    assert entry["started_at"] == "2026-11-25T12:00:00.000Z"
    assert entry["user_id_sha256"] == [digest("u-alice")]
    assert entry["rows_removed"] == sum(f["rows_removed"] for f in entry["lake_files"]) > 0
    assert {f["key"] for f in entry["lake_files"]} == {c.key for c in audit.lake_files}
    assert entry["quarantine_events_removed"] == 1
    # And the erased id itself appears nowhere in it
    assert "u-alice" not in store.get(audit.audit_key).decode() and "a-alice" not in store.get(audit.audit_key).decode()


def test_quarantined_events_of_the_user_are_removed_and_others_kept(store: S3Store) -> None:
    # Given quarantine objects holding alice's invalid events (identity field, raw JSON only, unparsable raw)
    mixed = put_quarantine(
        store,
        [
            quarantined(user_id="u-alice"),
            quarantined(user_id=None, raw=json.dumps({"type": "track", "userId": "u-alice"})),
            quarantined(user_id=None, message_id=None, raw='{"userId": "u-alice", "event": '),
            quarantined(user_id="u-bob", raw=json.dumps({"type": "track", "userId": "u-bob"})),
        ],
    )
    only_alice = put_quarantine(store, [quarantined(user_id="u-alice", request_id="req-other")])
    # When alice is erased
    audit = erase(store, "u-alice")
    # Then the mixed object keeps only bob's event and the object with only alice's event is gone
    remaining = [orjson.loads(line) for line in store.get(mixed).splitlines()]
    assert [r["user_id"] for r in remaining] == ["u-bob"]
    assert only_alice not in set(store.list_keys("quarantine/"))
    assert audit.quarantine_events_removed == 4


def test_firehose_error_records_of_the_user_are_removed(store: S3Store) -> None:
    # Given a Firehose error object holding a record of alice and one of bob
    bad = [enriched(user_id=u, timestamp="2026-11-25T25:99:00.000Z") for u in ("u-alice", "u-bob")]
    write_lake(store, bad)
    (key,) = list(store.list_keys("errors/"))
    # When alice is erased / Then only bob's error record is left
    audit = erase(store, "u-alice")
    assert len(store.get(key).splitlines()) == 1 and audit.error_records_removed == 1


def test_a_batch_erases_several_users_in_one_pass(store: S3Store) -> None:
    people = fill_lake(store)
    audit = erase(store, "u-alice", "u-carol")
    assert {r["user_id"] for r in lake_rows(store)} == {"u-bob"}
    assert audit.rows_removed == sum(len(people[k]) for k in ("alice", "alice-anonymous", "carol"))


def test_an_anonymous_visitor_can_be_erased_by_anonymous_id(store: S3Store) -> None:
    fill_lake(store)
    erase(store, anonymous_ids=frozenset({"a-alice"}), include_linked_anonymous_ids=False)
    rows = lake_rows(store)
    # Anonymous rows of that device are gone; rows with a user id stay (they are that user's)
    assert not [r for r in rows if r["anonymous_id"] == "a-alice" and r["user_id"] is None]
    assert [r for r in rows if r["user_id"] == "u-alice"]


def test_a_dry_run_reports_without_changing_anything(s3: Any, store: S3Store) -> None:
    fill_lake(store)
    snapshot = etags(s3)
    audit = LakeEraser(store).erase(ErasureRequest(user_ids=frozenset({"u-alice"})), requested_by="me", dry_run=True)
    assert audit.rows_removed > 0 and {c.action for c in audit.lake_files} <= {"would-rewrite", "would-delete"}
    assert etags(s3) == snapshot and list(store.list_keys(AUDIT_ERASURE_PREFIX)) == []


def test_erasure_works_the_same_on_a_local_lake_directory(tmp_path: Path) -> None:
    # Given a local lake directory with a separate quarantine directory
    store = LocalStore(tmp_path / "lake", mounts={"quarantine/": tmp_path / "quarantine"})
    people = fill_lake(store)
    put_quarantine(store, [quarantined(user_id="u-alice"), quarantined(user_id="u-bob")])
    # When alice is erased
    audit = erase(store, "u-alice")
    # Then the directory holds no row of alice and the quarantine directory only bob's event
    rows = ds.dataset(tmp_path / "lake" / "events", format="parquet").to_table().to_pylist()
    assert not [r for r in rows if r["user_id"] == "u-alice"]
    assert len(rows) == sum(len(people[k]) for k in ("bob", "bob-on-alice-laptop", "carol"))
    (qfile,) = list((tmp_path / "quarantine").rglob("*.jsonl"))
    assert [orjson.loads(line)["user_id"] for line in qfile.read_bytes().splitlines()] == ["u-bob"]
    assert (tmp_path / "lake" / audit.audit_key).is_file()  # type: ignore[operator]


def test_a_request_without_any_id_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ErasureRequest(user_ids=frozenset())
    with pytest.raises(ValueError, match="blank"):
        ErasureRequest(user_ids=frozenset({" "}))


class CrashingStore(LocalStore):
    """A local lake whose writes start failing after `writes_before_crash` successful ones (a killed run)."""

    def __init__(self, root: Path, writes_before_crash: int) -> None:
        super().__init__(root)
        self.writes_left = writes_before_crash

    def _spend(self) -> None:
        if self.writes_left <= 0:
            raise OSError("the erasure run was killed")
        self.writes_left -= 1

    def put(self, key: str, data: bytes) -> None:
        self._spend()
        super().put(key, data)

    def delete(self, key: str) -> None:
        self._spend()
        super().delete(key)


@pytest.mark.parametrize("writes_before_crash", [0, 1, 2, 3])
def test_a_run_killed_half_way_is_completed_by_the_next_one(tmp_path: Path, writes_before_crash: int) -> None:
    # Given alice's own rows in early files, and rows of her device without a user id (logged out) in later ones
    store = CrashingStore(tmp_path / "lake", writes_before_crash=10_000)
    writer = LakeWriter([store])
    writer.add_rows(user_events("u-alice", "a-alice", T0, 2, timedelta(hours=1)))
    writer.add_rows([enriched(user_id=None, anonymous_id="a-alice", timestamp=T0 + timedelta(hours=h)) for h in (5, 6)])
    writer.add_rows(user_events("u-bob", "a-bob", T0, 8, timedelta(hours=1)))
    writer.flush()
    # When a first run is killed after a few writes, and the erasure is run again
    store.writes_left = writes_before_crash
    with pytest.raises(OSError, match="killed"):
        erase(store, "u-alice")
    store.writes_left = 10_000
    erase(store, "u-alice")
    # Then nothing of alice is left, her anonymous rows included, and bob is whole
    rows = lake_rows(store)
    assert {(r["user_id"], r["anonymous_id"]) for r in rows} == {("u-bob", "a-bob")}
    assert len(rows) == 8


def alias(previous_id: str, user_id: str, hours: int) -> dict[str, Any]:
    return alias_event(user_id, previous_id, T0 + timedelta(hours=hours))


def test_alias_rows_whose_previous_id_is_the_erased_id_are_removed(store: S3Store) -> None:
    # Given the lake of alice, bob and carol, plus aliases from alice's user id and from a visitor's device to
    # other user ids (no identity table yet: the aliases are not applied), and an alias that names neither
    fill_lake(store)
    write_lake(store, [alias("u-alice", "u-alice-new", 3), alias("a-visitor", "u-dave", 4), alias("u-x", "u-y", 4)])
    # When alice is erased, and the visitor by anonymous id only
    erase(store, "u-alice", include_linked_anonymous_ids=False)
    erase(store, anonymous_ids=frozenset({"a-visitor"}), include_linked_anonymous_ids=False)
    # Then no alias row names either erased id; the other alias stays, and so do bob's and carol's rows
    rows = lake_rows(store)
    aliases = [json.loads(r["properties"])["previousId"] for r in rows if r["type"] == "alias"]
    assert aliases == ["u-x"]
    assert "u-alice" not in {r["user_id"] for r in rows}
    assert {"u-bob", "u-carol"} <= {r["user_id"] for r in rows}


def test_quarantined_and_error_records_naming_the_erased_id_as_previous_id_are_removed(store: S3Store) -> None:
    # Given a quarantined alias from alice's user id (as the client sent it: previousId at the top level), one of
    # bob's, and a Firehose error record of an alias from alice's user id (as the lake stores it)
    key = put_quarantine(
        store,
        [
            quarantined(user_id="u-alice-new", raw=json.dumps({"type": "alias", "previousId": "u-alice"})),
            quarantined(user_id="u-bob", raw=json.dumps({"type": "alias", "previousId": "a-bob"})),
        ],
    )
    write_lake(store, [{**alias("u-alice", "u-alice-new", 1), "timestamp": "2026-11-25T25:99:00.000Z"}])
    # When alice is erased
    audit = erase(store, "u-alice", include_linked_anonymous_ids=False)
    # Then only bob's quarantined alias is left, and the error record is gone
    assert [orjson.loads(line)["user_id"] for line in store.get(key).splitlines()] == ["u-bob"]
    assert audit.quarantine_events_removed == 1 and audit.error_records_removed == 1

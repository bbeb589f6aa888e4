"""Erasure of a person (docs/identity.md): every id of the person goes, from the lake, the quarantine and the
identity table; a device the identity table gives to someone else keeps its anonymous events."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from featurepulse.domain.quarantine import QuarantinedEvent, quarantine_key
from featurepulse.identity.build import build_identities
from featurepulse.identity.store import IdentityStore
from featurepulse.lake.erasure import ErasureRequest, LakeEraser
from featurepulse.lake.erasure_job import QueuedRequest, run_erasure_batch
from featurepulse.lake.layout import EVENTS_PREFIX
from featurepulse.lake.local import local_lake_store
from featurepulse.lake.parquet import parquet_to_table
from featurepulse.lake.store import LocalStore, ObjectStore, S3Store
from featurepulse.lake.writer import LakeWriter
from featurepulse.local.identity import DuckDbLinkSource, build_local, local_identity_store
from tests.lake_samples import enriched, quarantined

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALICE_IDS = {"u-alice", "u-alice2", "a-phone", "a-laptop", "a-tablet"}


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def lake_events() -> list[dict[str, Any]]:
    """Alice: anonymous on her phone, signs in as u-alice, uses her laptop (first), is renamed u-alice2 (alias)
    and signs in on a tablet. Bob: his own device, and Alice's laptop after her."""
    return [
        enriched(user_id=None, anonymous_id="a-phone", timestamp=at(0)),
        enriched(user_id="u-alice", anonymous_id="a-phone", timestamp=at(1)),
        enriched(user_id="u-alice", anonymous_id="a-laptop", timestamp=at(2)),
        enriched(user_id=None, anonymous_id="a-laptop", timestamp=at(2.5)),
        enriched(
            type="alias",
            user_id="u-alice2",
            anonymous_id=None,
            properties=json.dumps({"previousId": "u-alice"}),
            timestamp=at(3),
        ),
        enriched(user_id=None, anonymous_id="a-tablet", timestamp=at(4)),
        enriched(user_id="u-alice2", anonymous_id="a-tablet", timestamp=at(5)),
        enriched(user_id="u-bob", anonymous_id="a-bob", timestamp=at(1)),
        enriched(user_id=None, anonymous_id="a-bob", timestamp=at(1.5)),
        enriched(user_id="u-bob", anonymous_id="a-laptop", timestamp=at(6)),
    ]


def fill(store: ObjectStore) -> None:
    writer = LakeWriter([store])
    writer.add_rows(lake_events())
    writer.flush()
    # the tablet's anonymous event that was quarantined (no event name), and one of Bob's
    records = [quarantined(anonymous_id="a-tablet", user_id=None), quarantined(anonymous_id="a-bob", user_id=None)]
    events = [QuarantinedEvent.model_validate(r) for r in records]
    key = quarantine_key("quarantine/", events[0].received_at, events[0].request_id)
    store.put(key, b"".join(e.model_dump_json().encode() + b"\n" for e in events))


def rows(store: ObjectStore) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in store.list_keys(EVENTS_PREFIX):
        out.extend(parquet_to_table(store.get(key)).to_pylist())
    return out


def quarantine_ids(store: ObjectStore) -> list[str]:
    return [
        json.loads(line)["anonymous_id"]
        for key in store.list_keys("quarantine/")
        for line in store.get(key).splitlines()
        if line.strip()
    ]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    lake_dir = tmp_path / "lake"
    fill(local_lake_store(lake_dir, tmp_path / "quarantine"))
    build_local(lake_dir, now=NOW)
    return lake_dir


def test_erasing_an_old_user_id_removes_every_id_of_the_person(lake: Path, tmp_path: Path) -> None:
    # Given a lake whose identity table knows Alice's five ids
    store = local_lake_store(lake, tmp_path / "quarantine")
    # When her OLD user id is erased
    audit = LakeEraser(store, now=lambda: NOW).erase(ErasureRequest(user_ids=frozenset({"u-alice"})), requested_by="t")
    # Then no row of any of her ids remains: signed-in rows of both user ids, anonymous rows of her three devices
    left = rows(store)
    assert not [r for r in left if r["user_id"] in ALICE_IDS]
    assert not [r for r in left if r["user_id"] is None and r["anonymous_id"] in ALICE_IDS]
    assert "a-tablet" not in quarantine_ids(store)
    # And Bob keeps everything, his session on Alice's laptop included
    assert sorted((r["user_id"] or "", r["anonymous_id"]) for r in left) == [
        ("", "a-bob"),
        ("u-bob", "a-bob"),
        ("u-bob", "a-laptop"),
    ]
    assert quarantine_ids(store) == ["a-bob"]
    # And the identity table has no row and no link of Alice's person
    identity = local_identity_store(lake)
    remaining = identity.read_identities()
    assert not [r for r in remaining if r.id in ALICE_IDS or r.person_id in ALICE_IDS]
    assert not [link for link in identity.read_links() if {link.from_id, link.to_user_id} & ALICE_IDS]
    assert {(r.id_kind, r.id, r.person_id) for r in remaining} == {
        ("anonymous", "a-bob", "u-bob"),
        ("user", "u-bob", "u-bob"),
    }
    # And the audit counts the ids found through the identity table (never the ids themselves)
    assert audit.person_user_ids == 1 and audit.linked_anonymous_ids == 3
    assert audit.identity_rows_removed == 5
    # And the next identity build does not bring the person back: what it finds is Bob's own session on the
    # laptop (his data, kept), and it equals a full rebuild from what is left in the lake
    build_local(lake, now=NOW + timedelta(hours=1))
    rebuilt = {(r.id_kind, r.id): r.person_id for r in identity.read_identities()}
    assert rebuilt == {("anonymous", "a-bob"): "u-bob", ("anonymous", "a-laptop"): "u-bob", ("user", "u-bob"): "u-bob"}
    build_local(lake, full=True, now=NOW + timedelta(hours=2))
    assert {(r.id_kind, r.id): r.person_id for r in identity.read_identities()} == rebuilt


def test_erasing_a_user_keeps_the_anonymous_events_of_a_device_that_belongs_to_someone_else(
    lake: Path, tmp_path: Path
) -> None:
    # Given Bob signed in once on Alice's laptop, which the identity table gives to Alice (she used it first)
    store = local_lake_store(lake, tmp_path / "quarantine")
    # When Bob is erased
    LakeEraser(store, now=lambda: NOW).erase(ErasureRequest(user_ids=frozenset({"u-bob"})), requested_by="t")
    left = rows(store)
    # Then Bob's rows and his own device's anonymous rows are gone
    assert not [r for r in left if r["user_id"] == "u-bob" or r["anonymous_id"] == "a-bob"]
    # But the laptop's anonymous events stay: they are Alice's
    assert [r for r in left if r["user_id"] is None and r["anonymous_id"] == "a-laptop"]
    # And the identity table still holds Alice whole, and nothing of Bob
    persons = {(r.id_kind, r.id): r.person_id for r in local_identity_store(lake).read_identities()}
    assert persons[("anonymous", "a-laptop")] == "u-alice2"
    assert not [key for key, person in persons.items() if "bob" in key[1] or person == "u-bob"]


def test_a_dry_run_leaves_the_identity_table_alone(lake: Path, tmp_path: Path) -> None:
    # Given a built identity table
    store = local_lake_store(lake, tmp_path / "quarantine")
    before = local_identity_store(lake).read_identities()
    # When a dry run of Alice's erasure runs
    audit = LakeEraser(store, now=lambda: NOW).erase(
        ErasureRequest(user_ids=frozenset({"u-alice2"})), requested_by="t", dry_run=True
    )
    # Then it says what it would remove, and removes nothing
    assert audit.identity_rows_removed == 5
    assert local_identity_store(lake).read_identities() == before


def test_without_linked_ids_only_the_given_user_id_is_erased(lake: Path, tmp_path: Path) -> None:
    # Given the identity table
    store = local_lake_store(lake, tmp_path / "quarantine")
    # When u-alice is erased with linked ids switched off
    LakeEraser(store, now=lambda: NOW).erase(
        ErasureRequest(user_ids=frozenset({"u-alice"}), include_linked_anonymous_ids=False), requested_by="t"
    )
    # Then only rows carrying u-alice went; the person's other ids stay
    left = rows(store)
    assert not [r for r in left if r["user_id"] == "u-alice"]
    assert [r for r in left if r["user_id"] == "u-alice2"]
    assert [r for r in left if r["user_id"] is None and r["anonymous_id"] == "a-phone"]


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        client.put_bucket_versioning(Bucket="lake", VersioningConfiguration={"Status": "Enabled"})
        yield client


def test_the_erasure_job_erases_the_person_in_the_bucket_and_its_identity_rows(s3: Any, tmp_path: Path) -> None:
    # Given the deployed layout: lake, quarantine and identity table in one versioned bucket
    bucket = S3Store(s3, "lake")
    fill(bucket)
    twin = tmp_path / "lake"
    fill(LocalStore(twin))  # the same events, for the link source (Athena's stand-in)
    build_identities(IdentityStore(bucket), DuckDbLinkSource(twin), now=NOW)
    # When the erasure Lambda's batch runs a queued request for Alice's new user id
    outcome = run_erasure_batch(bucket, [QueuedRequest("m1", json.dumps({"user_ids": ["u-alice2"]}))])
    # Then none of her ids is left in the lake, and the identity objects (and their old versions) hold none
    assert outcome.audit is not None and outcome.audit.identity_rows_removed == 5
    assert not [r for r in rows(bucket) if r["user_id"] in ALICE_IDS or r["anonymous_id"] in ALICE_IDS - {"a-laptop"}]
    for version in s3.list_object_versions(Bucket="lake", Prefix="identity/").get("Versions", []):
        body = s3.get_object(Bucket="lake", Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        text = body.decode() if version["Key"].endswith(".json") else gzip.decompress(body).decode()
        assert not ALICE_IDS & set(text.replace('"', " ").split())

"""Erasure of a person also removes their CRM trait rows (docs/segments.md): every `trait_imports` row keyed by
one of the person's user ids goes, from the current object and its old versions; other users' rows and account
rows stay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from featurepulse.domain.identity import IdentityLink, resolve_identities
from featurepulse.domain.traits import KEY_KIND_ACCOUNT, KEY_KIND_USER, TraitImportRow, format_imported_at
from featurepulse.identity.store import IdentityStore
from featurepulse.lake.erasure import ErasureRequest, LakeEraser
from featurepulse.lake.store import LocalStore, ObjectStore, S3Store
from featurepulse.traits.store import TraitStore

BUCKET = "lake-bucket"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STAMP = format_imported_at(NOW - timedelta(days=1))


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def row(kind: str, key: str, trait: str, value: str, name: str) -> TraitImportRow:
    return TraitImportRow(kind, key, trait, value, name, STAMP)


def fill(store: ObjectStore) -> TraitStore:
    """Two CRM imports (one that holds only Alice's rows) and an account import; Alice's person has an earlier
    user id aliased to her current one in the identity table."""
    traits = TraitStore(store)
    traits.replace_trait_import(
        "crm",
        [
            row(KEY_KIND_USER, "u-alice", "plan", "pro", "crm"),
            row(KEY_KIND_USER, "u-alice", "region", "EMEA", "crm"),
            row(KEY_KIND_USER, "u-alice-old", "region", "APAC", "crm"),
            row(KEY_KIND_USER, "u-bob", "plan", "free", "crm"),
        ],
        now=NOW - timedelta(days=1),
    )
    traits.replace_trait_import(
        "vip", [row(KEY_KIND_USER, "u-alice", "vip", "yes", "vip")], now=NOW - timedelta(days=1)
    )
    traits.replace_trait_import(
        "accounts", [row(KEY_KIND_ACCOUNT, "u-alice", "size", "11-50", "accounts")], now=NOW - timedelta(days=1)
    )
    link = IdentityLink("2026-11-20T08:00:00.000Z", "e1", "user", "u-alice-old", "u-alice", "alias")
    IdentityStore(store).write([link], resolve_identities([link]), now=NOW - timedelta(days=1))
    return traits


def erase(store: ObjectStore, user: str, *, dry_run: bool = False) -> Any:
    return LakeEraser(store, now=lambda: NOW).erase(
        ErasureRequest(user_ids=frozenset({user})), requested_by="dpo@example.com", dry_run=dry_run
    )


def test_erasing_a_user_removes_every_trait_row_of_their_person_and_keeps_the_others(s3: Any) -> None:
    # Given CRM imports holding Alice's rows (under her current and her aliased user id), Bob's and an account's
    store = S3Store(s3, BUCKET)
    traits = fill(store)
    # When Alice is erased
    audit = erase(store, "u-alice")
    # Then no user row of either of her user ids is left; Bob's row and the account row (an account is not a
    # person, even one whose id happens to be equal) are kept
    left = {(r.key_kind, r.key, r.trait) for r in traits.read_trait_imports()}
    assert left == {("user", "u-bob", "plan"), ("account", "u-alice", "size")}
    # And the audit counts the rows and the objects: the import that held only Alice is deleted
    assert audit.trait_rows_removed == 4
    assert sorted(c.action for c in audit.trait_import_objects) == ["deleted", "rewritten"]
    assert traits.import_names() == ["accounts", "crm"]
    # And no old version of a changed object still holds her rows
    for change in audit.trait_import_objects:
        versions = s3.list_object_versions(Bucket=BUCKET, Prefix=change.key)
        kept = [v for v in versions.get("Versions", []) if v["Key"] == change.key]
        assert len(kept) == (0 if change.action == "deleted" else 1)


def test_a_second_erasure_finds_no_trait_row_and_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    # Given the same imports in a local lake directory
    store = LocalStore(tmp_path)
    traits = fill(store)
    before = traits.read_trait_imports()
    # When a dry run is asked first
    dry = erase(store, "u-alice", dry_run=True)
    # Then it reports the rows without touching them
    assert dry.trait_rows_removed == 4
    assert {c.action for c in dry.trait_import_objects} == {"would-delete", "would-rewrite"}
    assert traits.read_trait_imports() == before
    # And a real run removes them, and a second run finds nothing
    assert erase(store, "u-alice").trait_rows_removed == 4
    again = erase(store, "u-alice")
    assert again.trait_rows_removed == 0
    assert again.trait_import_objects == []

"""The synthesized trait and spend tables (docs/segments.md): two Glue tables over JSON Lines gzip under their own
prefixes of the lake, columns from the one definition; the report job may read them, the erasure job may rewrite
exactly the CRM imports, and nobody else touches them."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from cdk.identity import OPENX_JSON_SERDE
from cdk.traits import TraitTables
from featurepulse.traits.schema import (
    CAMPAIGN_SPEND_PREFIX,
    CAMPAIGN_SPEND_TABLE,
    TRAIT_IMPORTS_PREFIX,
    TRAIT_IMPORTS_TABLE,
    glue_columns,
)
from tests.infrastructure.conftest import Synthesized


def _statements(synthesized: Synthesized, role: iam.IRole) -> list[dict[str, Any]]:
    role_id = synthesized.resource(role)[0]
    statements: list[dict[str, Any]] = []
    for body in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in body["Properties"]["Roles"]:
            statements.extend(body["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_both_tables_are_json_lines_gzip_under_their_prefix_with_the_defined_columns(synthesized: Synthesized) -> None:
    # Given the synthesized stack
    traits = synthesized.stack.traits
    bucket_id = synthesized.resource(synthesized.stack.data_bucket.bucket)[0]
    for table, name, prefix in (
        (traits.trait_imports_table, TRAIT_IMPORTS_TABLE, TRAIT_IMPORTS_PREFIX),
        (traits.campaign_spend_table, CAMPAIGN_SPEND_TABLE, CAMPAIGN_SPEND_PREFIX),
    ):
        body = synthesized.resource(table)[1]["Properties"]
        storage = body["TableInput"]["StorageDescriptor"]
        # Then each is in the lake database, reads gzip text with the OpenX JSON SerDe
        assert body["TableInput"]["Name"] == name
        assert body["DatabaseName"] == {"Ref": synthesized.resource(synthesized.stack.lake.database)[0]}
        assert storage["SerdeInfo"]["SerializationLibrary"] == OPENX_JSON_SERDE
        assert storage["Compressed"] is True
        # And has the columns the CLI writes, under its own prefix of the lake bucket
        assert storage["Columns"] == glue_columns(name)
        assert storage["Location"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, f"/{prefix}"]]}
    spend_columns = {c["Name"]: c["Type"] for c in glue_columns(CAMPAIGN_SPEND_TABLE)}
    assert spend_columns == {
        "campaign_name": "string",
        "spend_usd": "double",
        "currency": "string",
        "import_name": "string",
        "imported_at": "string",
    }
    assert [c["Name"] for c in glue_columns(TRAIT_IMPORTS_TABLE)] == [
        "key_kind",
        "key",
        "trait",
        "value",
        "import_name",
        "imported_at",
    ]


def test_the_report_job_may_read_both_tables_and_write_neither(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    statements = _statements(synthesized, stack.reporting.role)
    # Then it may get the objects of both prefixes
    (reads,) = [s for s in statements if "/traits/imports/*" in json.dumps(s["Resource"])]
    assert _actions(reads) == ["s3:GetObject"]
    assert "/campaign_spend/*" in json.dumps(reads["Resource"])
    # And list the bucket only under them
    (listing,) = [s for s in statements if "campaign_spend/" in json.dumps(s.get("Condition"))]
    assert _actions(listing) == ["s3:ListBucket"]
    assert sorted(listing["Condition"]["StringLike"]["s3:prefix"]) == sorted(
        [TRAIT_IMPORTS_PREFIX, CAMPAIGN_SPEND_PREFIX, f"{TRAIT_IMPORTS_PREFIX}*", f"{CAMPAIGN_SPEND_PREFIX}*"]
    )
    # And read both tables' catalog entries
    table_ids = {
        synthesized.resource(t)[0] for t in (stack.traits.trait_imports_table, stack.traits.campaign_spend_table)
    }
    (catalog,) = [s for s in statements if "glue:GetPartitions" in _actions(s) and table_ids <= _refs(s)]
    assert sorted(_actions(catalog)) == ["glue:GetPartitions", "glue:GetTable"]
    # And no statement lets it write or delete under either prefix
    for statement in statements:
        text = json.dumps(statement["Resource"])
        if "/traits/" in text or "/campaign_spend/" in text:
            assert not [a for a in _actions(statement) if a.startswith(("s3:Put", "s3:Delete"))]


def _refs(statement: dict[str, Any]) -> set[str]:
    return set(json.dumps(statement["Resource"]).replace('"', " ").split())


def test_the_erasure_job_may_rewrite_exactly_the_crm_imports(synthesized: Synthesized) -> None:
    role = synthesized.stack.erasure.function.role
    assert role is not None
    statements = _statements(synthesized, role)
    # Then it reads, rewrites and deletes traits/imports/ objects and their old versions
    (objects,) = [s for s in statements if "/traits/imports/*" in json.dumps(s["Resource"])]
    assert sorted(_actions(objects)) == ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:PutObject"]
    (listing,) = [s for s in statements if "traits/imports/" in json.dumps(s.get("Condition"))]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{TRAIT_IMPORTS_PREFIX}*"]}}
    # And nothing of the campaign spend (no person in it)
    assert not [s for s in statements if "campaign_spend" in json.dumps(s)]


def test_construct_alone_grants_its_key_and_no_wildcard_action(small_stack: Stack) -> None:
    # Given the construct on its own with two roles
    database = glue.Database(small_stack, "Db", database_name="lake")
    bucket = s3.Bucket(small_stack, "Bucket")
    key = kms.Key(small_stack, "Key")
    tables = TraitTables(small_stack, "Traits", database=database, bucket=bucket, encryption_key=key)
    reader = iam.Role(small_stack, "Reader", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    eraser = iam.Role(small_stack, "Eraser", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    # When it grants reading and erasing
    tables.grant_read(reader)
    tables.grant_erase(eraser)
    template = Template.from_stack(small_stack)
    kms_actions: list[list[str]] = []
    for body in template.find_resources("AWS::IAM::Policy").values():
        for statement in body["Properties"]["PolicyDocument"]["Statement"]:
            actions = _actions(statement)
            # Then no action is a wildcard
            assert not [a for a in actions if "*" in a]
            if any(a.startswith("kms:") for a in actions):
                kms_actions.append(sorted(actions))
    # And the reader may only decrypt; the eraser also encrypts what it rewrites
    assert sorted(kms_actions) == [["kms:Decrypt"], ["kms:Decrypt", "kms:GenerateDataKey"]]

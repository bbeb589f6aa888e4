"""The synthesized identity tables (docs/identity.md): two Glue tables over JSON Lines gzip under the lake's
identity/ prefix, columns from the one definition, and the report and erasure jobs allowed exactly that prefix."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from cdk.identity import OPENX_JSON_SERDE, IdentityTables
from featurepulse.identity.schema import (
    IDENTITIES_TABLE,
    IDENTITY_LINKS_TABLE,
    LINKS_PREFIX,
    PERSONS_PREFIX,
    glue_columns,
)
from tests.infrastructure.conftest import Synthesized


def _tables(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    identity = synthesized.stack.identity
    return {
        name: synthesized.resource(table)[1]["Properties"]["TableInput"]
        for name, table in (
            (IDENTITIES_TABLE, identity.identities_table),
            (IDENTITY_LINKS_TABLE, identity.identity_links_table),
        )
    }


def _statements(synthesized: Synthesized, role: iam.IRole) -> list[dict[str, Any]]:
    """Every statement of the policies attached to a role."""
    role_id = synthesized.resource(role)[0]
    statements: list[dict[str, Any]] = []
    for body in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in body["Properties"]["Roles"]:
            statements.extend(body["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _with_resource_text(statements: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [s for s in statements if text in json.dumps(s["Resource"])]


def test_both_tables_are_json_lines_gzip_under_the_identity_prefix_with_the_defined_columns(
    synthesized: Synthesized,
) -> None:
    # Given the synthesized stack
    tables = _tables(synthesized)
    bucket_id = synthesized.resource(synthesized.stack.data_bucket.bucket)[0]
    for name, prefix in ((IDENTITIES_TABLE, PERSONS_PREFIX), (IDENTITY_LINKS_TABLE, LINKS_PREFIX)):
        table = tables[name]
        storage = table["StorageDescriptor"]
        # Then each table reads gzip text with the OpenX JSON SerDe, in the lake database
        assert table["Name"] == name
        assert storage["SerdeInfo"]["SerializationLibrary"] == OPENX_JSON_SERDE
        assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
        assert storage["Compressed"] is True
        # And its columns are the ones the build writes
        assert storage["Columns"] == glue_columns(name)
        # And it lives under its own prefix of the lake bucket
        assert storage["Location"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, f"/{prefix}"]]}
    assert [c["Name"] for c in tables[IDENTITIES_TABLE]["StorageDescriptor"]["Columns"]] == [
        "id_kind",
        "id",
        "person_id",
        "linked_at",
        "link",
    ]


def test_report_and_erasure_roles_may_rewrite_exactly_the_identity_prefix(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    roles = {"report": stack.reporting.role, "erasure": stack.erasure.function.role}
    for who, role in roles.items():
        assert role is not None
        statements = _statements(synthesized, role)
        # Then the role reads, writes and deletes identity/ objects (and their old versions)
        (objects,) = [
            s for s in _with_resource_text(statements, "/identity/*") if "s3:DeleteObjectVersion" in s["Action"]
        ]
        assert sorted(objects["Action"]) == [
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            "s3:GetObject",
            "s3:PutObject",
        ], who
        # And lists the bucket only under identity/
        (listing,) = [s for s in statements if "identity/" in json.dumps(s.get("Condition"))]
        assert sorted(listing["Action"]) == ["s3:ListBucket", "s3:ListBucketVersions"], who
        assert listing["Condition"] == {"StringLike": {"s3:prefix": ["identity/*"]}}, who
        # And reads the two tables' catalog entries
        (catalog,) = [s for s in statements if s["Action"] == "glue:GetTable"]
        table_ids = {
            synthesized.resource(t)[0] for t in (stack.identity.identities_table, stack.identity.identity_links_table)
        }
        assert table_ids <= set(json.dumps(catalog["Resource"]).replace('"', " ").split()), who
        # And no statement of the role deletes anything outside identity/, events/, quarantine/, errors/ or the
        # CRM trait imports (erased with the person, docs/segments.md)
        allowed = ("/identity/*", "/events/*", "/quarantine/*", "/errors/*", "/traits/imports/*")
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("s3:Delete") for a in actions):
                text = json.dumps(statement["Resource"])
                assert any(p in text for p in allowed), who


def test_the_report_job_is_told_where_the_identity_table_is(synthesized: Synthesized) -> None:
    # Given the synthesized report job
    _, job = synthesized.resource(synthesized.stack.reporting.job)
    arguments = job["Properties"]["DefaultArguments"]
    bucket_id = synthesized.resource(synthesized.stack.data_bucket.bucket)[0]
    # Then it knows the identities table (for its queries) and the lake bucket (for the identity build)
    assert arguments["--identities_table"] == IDENTITIES_TABLE
    assert arguments["--lake_bucket"] == {"Ref": bucket_id}


def test_construct_alone_grants_its_key_and_no_wildcard_action(small_stack: Stack) -> None:
    # Given the construct on its own with a role
    database = glue.Database(small_stack, "Db", database_name="lake")
    bucket = s3.Bucket(small_stack, "Bucket")
    key = kms.Key(small_stack, "Key")
    tables = IdentityTables(small_stack, "Identity", database=database, bucket=bucket, encryption_key=key)
    role = iam.Role(small_stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    # When it grants the build
    tables.grant_build(role)
    template = Template.from_stack(small_stack)
    # Then the key is usable for reading and writing the objects
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Effect": "Allow"})]
                )
            }
        },
    )
    # And no action is a wildcard
    for body in template.find_resources("AWS::IAM::Policy").values():
        for statement in body["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if "*" in a]
    # And the report job learns the tables and their bucket from the construct
    assert set(tables.job_arguments()) == {"--identities_table", "--lake_bucket"}

"""The QuickSight live panels as synthesized with `quicksightPrincipalArn`: the Athena DynamoDB connector release and
its parameters, the connector's and QuickSight's IAM, the Glue schema of the aggregates table, and the datasets'
SQL run against that schema. Resources are found through the stack's attributes or by type, never by logical id.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from aws_cdk.assertions import Match

from cdk.athena_connector import (
    CONNECTOR_RELEASES,
    CONTEXT_KEY,
    DEFAULT_CONNECTOR_VERSION,
    REQUIRED_PARAMETERS,
    connector_release_problem,
)
from cdk.quicksight import SPILL_PREFIX, LivePanels, connector_parameters, glue_columns
from cdk.settings import SettingsError, StackSettings
from featurepulse.constants import OUTPUT_QUICKSIGHT_DASHBOARD
from featurepulse.realtime import items
from featurepulse.realtime.model import reference_items
from featurepulse.realtime.quicksight_panels import PANEL_QUERIES
from tests import realtime_scenario
from tests.infrastructure.conftest import REPO_ROOT, Synthesized

PRINCIPAL = "arn:aws:quicksight:us-east-1:123456789012:user/default/launch-pm"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
JAVA11_RELEASE = "2023.46.2"  # the stack's default until Lambda stopped creating java11 functions


@pytest.fixture(scope="module")
def panels_on(synthesize_with) -> Synthesized:
    """One synth with the live panels on."""
    return synthesize_with(quicksightPrincipalArn=PRINCIPAL)


def _panels(synthesized: Synthesized) -> LivePanels:
    panels = synthesized.stack.live_panels
    assert panels is not None
    return panels


def _statements(synthesized: Synthesized, logical_role_ref: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to a role (by its Ref, or by name for an imported role)."""
    found = []
    for body in synthesized.resources("AWS::IAM::Policy").values():
        if logical_role_ref in body["Properties"].get("Roles", []):
            found += body["Properties"]["PolicyDocument"]["Statement"]
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _granting(statements: list[dict[str, Any]], action: str) -> list[Any]:
    return [s["Resource"] for s in statements if action in _actions(s)]


# --- item 2: the connector release --------------------------------------------------------------------------------
def test_the_default_connector_release_is_a_container_image_with_exactly_its_template_parameters(
    panels_on: Synthesized,
):
    # Given the synthesized SAR application of the connector
    props = panels_on.resource(_panels(panels_on).connector)[1]["Properties"]
    version = props["Location"]["SemanticVersion"]
    # Then it is the default release, packaged as an image (no Lambda runtime deprecation blocks its creation)
    assert version == DEFAULT_CONNECTOR_VERSION == StackSettings().quicksight_athena_connector_version
    release = CONNECTOR_RELEASES[version]
    assert release.packaging == "image"
    assert connector_release_problem(version, today=date(2030, 1, 1)) is None
    # And it passes only parameters its template declares, every required one among them
    assert set(props["Parameters"]) <= release.parameters
    assert set(props["Parameters"]) >= REQUIRED_PARAMETERS
    assert props["Parameters"]["SpillPrefix"] == SPILL_PREFIX
    assert props["Parameters"]["DisableSpillEncryption"] == "false"


def test_a_java11_release_stops_the_synth_in_one_line_naming_the_context_key():
    # Given the release the stack deployed before (a java11 zip function)
    assert CONNECTOR_RELEASES[JAVA11_RELEASE].packaging == "java11"
    # When it is asked for, Lambda having blocked creating java11 functions on 2026-07-31
    with pytest.raises(SettingsError) as raised:
        StackSettings.from_mapping({CONTEXT_KEY: JAVA11_RELEASE})
    # Then the synth stops with one line naming the key, the runtime and a release that works
    message = str(raised.value)
    assert "\n" not in message
    assert f"{CONTEXT_KEY}={JAVA11_RELEASE} deploys a java11 Lambda function" in message
    assert DEFAULT_CONNECTOR_VERSION in message


def test_release_problems_follow_lambdas_create_block_date_and_the_known_releases():
    # A java11 release was deployable the day before Lambda's create block, and refused from that day on
    assert connector_release_problem(JAVA11_RELEASE, today=date(2026, 7, 30)) is None
    assert "java11" in str(connector_release_problem(JAVA11_RELEASE, today=date(2026, 7, 31)))
    # An image release is never refused; a version whose template nobody read is refused, naming the key
    assert connector_release_problem("2024.42.3", today=date(2030, 1, 1)) is None
    unknown = connector_release_problem("2099.1.1", today=date(2026, 1, 1))
    assert unknown is not None and unknown.startswith(f"{CONTEXT_KEY}=2099.1.1 is not a connector release")
    # The table's image releases are exactly the newer ones (image packaging started with 2024.42.3)
    first_image = min(
        (tuple(map(int, v.split("."))) for v, r in CONNECTOR_RELEASES.items() if r.packaging == "image"),
    )
    assert first_image == (2024, 42, 3)
    assert all(
        (r.packaging == "image") == (tuple(map(int, v.split("."))) >= first_image)
        for v, r in CONNECTOR_RELEASES.items()
    )


def test_the_construct_refuses_a_parameter_the_release_template_does_not_declare():
    # Given a 2022 release whose template predates the LambdaRole parameter
    assert "LambdaRole" not in CONNECTOR_RELEASES["2022.7.1"].parameters
    # Then the parameters the construct would pass are refused before any template is written
    with pytest.raises(ValueError, match="LambdaRole"):
        connector_parameters(version="2022.7.1", catalog_name="c", spill_bucket_name="b", role_arn="r", key_id="k")


# --- item 3: the connector's role ---------------------------------------------------------------------------------
def test_connector_role_can_generate_spill_keys_and_nothing_broader(panels_on: Synthesized):
    panels = _panels(panels_on)
    role_id = panels_on.resource(panels.connector_role)[0]
    key_arn = {"Fn::GetAtt": [panels_on.resource(panels_on.stack.key)[0], "Arn"]}
    statements = _statements(panels_on, {"Ref": role_id})
    # The connector passes KMSKeyId: KmsKeyFactory calls GenerateDataKey on the key and GenerateRandom (no resource)
    assert _granting(statements, "kms:GenerateRandom") == ["*"]
    assert key_arn in _granting(statements, "kms:GenerateDataKey")
    # The only unscoped grant is GenerateRandom
    assert [_actions(s) for s in statements if s["Resource"] == "*"] == [["kms:GenerateRandom"]]
    # It writes and reads spill objects under its prefix only, reads the Glue schema database only
    (spill,) = _granting(statements, "s3:PutObject")
    assert spill["Fn::Join"][1][-1] == f"/{SPILL_PREFIX}/*"
    assert not any("s3:DeleteObject" in _actions(s) or "s3:*" in _actions(s) for s in statements)
    glue_resources = json.dumps(_granting(statements, "glue:GetTable"))
    assert f":database/{panels.database_name}" in glue_resources and ":table/" + panels.database_name in glue_resources
    assert "dynamodb:ListTables" not in json.dumps(statements)
    # It logs to the log group the stack makes for it (encrypted, retained as the stack's logs), streams only
    log_group_id, log_group = panels_on.resource(panels.connector_log_group)
    assert log_group["Properties"]["LogGroupName"] == f"/aws/lambda/{panels.catalog_name}"
    assert "KmsKeyId" in log_group["Properties"] and log_group["Properties"]["RetentionInDays"] == 30
    assert _granting(statements, "logs:PutLogEvents") == [{"Fn::GetAtt": [log_group_id, "Arn"]}]
    assert "logs:CreateLogGroup" not in json.dumps(statements)
    # And the SAR application gets the role, so the template's own policies (which include these) are not created
    connector = panels_on.resource(panels.connector)[1]["Properties"]["Parameters"]
    assert connector["LambdaRole"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert connector["KMSKeyId"] == {"Ref": panels_on.resource(panels_on.stack.key)[0]}


# --- item 4: QuickSight writes the workgroup's encrypted results ---------------------------------------------------
def test_quicksight_role_writes_the_results_the_workgroup_enforces_with_its_key(panels_on: Synthesized):
    # Given the workgroup's enforced result configuration (location and SSE-KMS key)
    workgroup = panels_on.resource(panels_on.stack.lake.workgroup)[1]["Properties"]
    result = workgroup["WorkGroupConfiguration"]["ResultConfiguration"]
    assert workgroup["WorkGroupConfiguration"]["EnforceWorkGroupConfiguration"] is True
    assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    workgroup_key = result["EncryptionConfiguration"]["KmsKey"]
    location = json.dumps(result["OutputLocation"])
    prefix = panels_on.stack.lake.results_prefix
    assert f"/{prefix}" in location
    # Then QuickSight's service role may write objects there and only there, with data keys from that key
    statements = _statements(panels_on, StackSettings().quicksight_service_role_name)
    (results,) = _granting(statements, "s3:PutObject")
    assert results["Fn::Join"][1][-1] == f"/{prefix}*"
    assert _granting(statements, "s3:AbortMultipartUpload") == [results]
    assert _granting(statements, "kms:GenerateDataKey") == [workgroup_key]
    assert _granting(statements, "kms:Decrypt") == [workgroup_key]
    # And it reads (never writes) the connector's spill prefix, and invokes the connector only
    spill_reads = _granting(statements, "s3:GetObject")
    assert any(r["Fn::Join"][1][-1] == f"/{SPILL_PREFIX}/*" for r in spill_reads)
    (function,) = _granting(statements, "lambda:InvokeFunction")
    assert function["Fn::Join"][1][-1].endswith(f":function:{_panels(panels_on).catalog_name}")
    assert not any(s["Resource"] == "*" for s in statements)


# --- item 5: the explicit schema ----------------------------------------------------------------------------------
def test_the_glue_schema_has_exactly_the_item_columns_and_names_the_aggregates_table(panels_on: Synthesized):
    panels = _panels(panels_on)
    table = panels_on.resource(panels.schema_table)[1]["Properties"]
    database = panels_on.resource(panels.schema_database)[1]["Properties"]["DatabaseInput"]
    aggregates_id = panels_on.resource(panels_on.stack.realtime.table)[0]
    # The columns are ITEM_COLUMNS, in order, lower case, typed for Glue
    columns = [(c["Name"], c["Type"]) for c in table["TableInput"]["StorageDescriptor"]["Columns"]]
    assert [name for name, _ in columns] == list(items.ITEM_COLUMN_NAMES)
    assert columns == glue_columns()
    assert dict(columns) == {
        name: {"string": "string", "bigint": "bigint", "map": "map<string,string>"}[kind]
        for name, kind in items.ITEM_COLUMNS
    }
    assert all(name == name.lower() for name, _ in columns)
    # The connector takes it as the DynamoDB table's schema: classification, source table, flagged database
    assert table["TableInput"]["Parameters"] == {"classification": "dynamodb", "sourceTable": {"Ref": aggregates_id}}
    assert table["TableInput"]["StorageDescriptor"]["Location"] == {"Fn::GetAtt": [aggregates_id, "Arn"]}
    assert "dynamo-db-flag" in database["LocationUri"]
    assert table["DatabaseName"] == database["Name"] == panels.database_name == panels.database_name.lower()


def test_datasets_read_the_glue_table_through_the_connectors_catalog_in_the_lake_workgroup(panels_on: Synthesized):
    panels = _panels(panels_on)
    catalog = panels_on.resource(panels.catalog)[1]["Properties"]
    connector = panels_on.resource(panels.connector)[1]["Properties"]["Parameters"]
    source = panels_on.resource(panels.data_source)[1]["Properties"]
    # The catalog is the connector's function, and the data source queries in the lake workgroup
    assert catalog["Name"] == connector["AthenaCatalogName"] == panels.catalog_name
    assert catalog["Type"] == "LAMBDA"
    assert json.dumps(catalog["Parameters"]["function"]).endswith(f':function:{panels.catalog_name}"]]}}')
    assert source["DataSourceParameters"]["AthenaParameters"]["WorkGroup"] == panels_on.stack.lake.workgroup_name
    # Every dataset's SQL names "catalog"."<glue database>"."aggregates": the connector reads the Glue schema
    data_sets = panels_on.resources("AWS::QuickSight::DataSet")
    assert len(data_sets) == len(PANEL_QUERIES) == 5
    reference = f'"{panels.catalog_name}"."{panels.database_name}"."aggregates"'
    assert panels.table_ref == reference
    for body in data_sets.values():
        (physical,) = body["Properties"]["PhysicalTableMap"].values()
        assert body["Properties"]["ImportMode"] == "DIRECT_QUERY"
        assert reference in physical["CustomSql"]["SqlQuery"]


@pytest.fixture
def glue_schema_table(panels_on: Synthesized) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB table `aggregates` with the synthesized Glue columns, holding the scenario's items as the sink
    writes them (None left out: the attribute is absent and reads as NULL)."""
    panels = _panels(panels_on)
    columns = panels_on.resource(panels.schema_table)[1]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
    duck_types = {"string": "VARCHAR", "bigint": "BIGINT", "map<string,string>": "MAP(VARCHAR, VARCHAR)"}
    connection = duckdb.connect(":memory:")
    connection.execute(
        "CREATE TABLE aggregates (" + ", ".join(f"{c['Name']} {duck_types[c['Type']]}" for c in columns) + ")"
    )
    scalar = [c["Name"] for c in columns if c["Type"] != "map<string,string>"]
    rows = reference_items(realtime_scenario.phases(), realtime_scenario.settings()).values()
    written = [{k: v for k, v in row.items() if v is not None} for row in rows]
    connection.executemany(
        f"INSERT INTO aggregates ({', '.join(scalar)}) VALUES ({', '.join('?' for _ in scalar)})",
        [[row.get(name) for name in scalar] for row in written],
    )
    yield connection
    connection.close()


def test_every_dataset_sql_runs_on_the_glue_schema_and_yields_its_declared_columns(
    panels_on: Synthesized, glue_schema_table: duckdb.DuckDBPyConnection
):
    panels = _panels(panels_on)
    # Given the SQL each synthesized dataset sends (its figures: tests/unit/test_realtime_quicksight_panels.py)
    for body in panels_on.resources("AWS::QuickSight::DataSet").values():
        (physical,) = body["Properties"]["PhysicalTableMap"].values()
        sql = physical["CustomSql"]["SqlQuery"].replace(panels.table_ref, "aggregates")
        declared = [c["Name"] for c in physical["CustomSql"]["Columns"]]
        # When it runs on a table with exactly the Glue columns and types
        (duck,) = sqlglot.transpile(sql, read="athena", write="duckdb")
        cursor = glue_schema_table.execute(duck)
        # Then every column it reads exists with a usable type, and it yields the columns QuickSight declares
        assert [d[0] for d in cursor.description or ()] == declared
        cursor.fetchall()


# --- wiring, lint and nag -----------------------------------------------------------------------------------------
def test_quicksight_is_skipped_with_a_message_without_a_principal(synthesized: Synthesized):
    assert synthesized.stack.live_panels is None
    for resource_type in (
        "AWS::QuickSight::Dashboard",
        "AWS::QuickSight::DataSet",
        "AWS::Serverless::Application",
        "AWS::Glue::Database",
    ):
        found = synthesized.resources(resource_type)
        if resource_type == "AWS::Glue::Database":  # the lake's database only
            assert all("dynamo-db-flag" not in json.dumps(b) for b in found.values())
        else:
            assert found == {}
    infos = synthesized.annotations.find_info("*", Match.string_like_regexp("QuickSight live panels skipped.*"))
    assert len(infos) == 1
    assert "quicksightPrincipalArn" in str(infos[0].entry.data)


def test_quicksight_live_panels_dashboard_and_output(panels_on: Synthesized):
    panels = _panels(panels_on)
    source = panels_on.resource(panels.data_source)[1]["Properties"]
    assert source["Type"] == "ATHENA"
    assert source["Permissions"][0]["Principal"] == PRINCIPAL
    dashboard = panels_on.resource(panels.dashboard)[1]["Properties"]
    kinds = [next(iter(v)) for v in dashboard["Definition"]["Sheets"][0]["Visuals"]]
    assert kinds == [
        "LineChartVisual",
        "FunnelChartVisual",
        "KPIVisual",
        "BarChartVisual",
        "TableVisual",
        "BarChartVisual",
    ]
    assert dashboard["Permissions"][0]["Principal"] == PRINCIPAL
    assert OUTPUT_QUICKSIGHT_DASHBOARD in panels_on.template_json["Outputs"]


def test_quicksight_template_passes_cfn_lint_and_cdk_nag(panels_on: Synthesized):
    errors = panels_on.annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = panels_on.annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [str(m.entry.data) for m in errors + warnings] == []
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", str(panels_on.template_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    findings = [f"{f['Level']} {f['Rule']['Id']} {f['Message']}" for f in json.loads(result.stdout or "[]")]
    assert findings == []

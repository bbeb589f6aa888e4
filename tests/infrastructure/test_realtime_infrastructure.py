"""The synthesized real-time part: the Managed Flink application, its role, the aggregates table and its alarms
(the QuickSight live panels: test_quicksight_infrastructure.py). Resources are found through the stack's
attributes or by type; no hashed logical id is written here.
"""

from __future__ import annotations

import ast
import json
import sys
import tomllib
from typing import Any

import pytest
from aws_cdk.assertions import Match

from cdk.realtime import (
    APP_DIR,
    METRICS_LEVEL,
    PYTHON_DIR,
    RUN_OPTIONS_GROUP,
    RUNTIME,
    merged_jar_name,
    shipped_project_modules,
)
from cdk.settings import SettingsError, StackSettings
from featurepulse.constants import OUTPUT_AGGREGATES_TABLE, OUTPUT_FLINK_APPLICATION
from featurepulse.realtime import items
from featurepulse.realtime.settings import PROPERTY_GROUP
from tests.infrastructure.conftest import REPO_ROOT, Synthesized

PRINCIPAL = "arn:aws:quicksight:us-east-1:123456789012:user/default/launch-pm"


@pytest.fixture(scope="module")
def tuned(synthesize_with) -> Synthesized:
    """One synth with the QuickSight principal and non-default real-time knobs."""
    return synthesize_with(
        quicksightPrincipalArn=PRINCIPAL,
        realtimeParallelism=4,
        realtimeParallelismPerKpu=2,
        realtimeAutoScaling=False,
        realtimeCheckpointIntervalMs=30_000,
        realtimeAllowedLatenessSeconds=120,
        realtimeInitialPosition="LATEST",
    )


def _application(synthesized: Synthesized) -> dict[str, Any]:
    props: dict[str, Any] = synthesized.resource(synthesized.stack.realtime.application)[1]["Properties"]
    return props


def _groups(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    groups = props["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]
    return {g["PropertyGroupId"]: g["PropertyMap"] for g in groups}


def test_flink_application_runs_the_pyflink_package_on_flink_1_20(synthesized: Synthesized):
    props = _application(synthesized)
    assert props["RuntimeEnvironment"] == RUNTIME == "FLINK-1_20"
    assert props["ApplicationMode"] == "STREAMING"
    code = props["ApplicationConfiguration"]["ApplicationCodeConfiguration"]
    assert code["CodeContentType"] == "ZIPFILE"
    assert code["CodeContent"]["S3ContentLocation"]["FileKey"].endswith(".zip")
    # The run options name the entry point, the Python path and the connector jar (versions in its name)
    assert _groups(props)[RUN_OPTIONS_GROUP] == {
        "python": f"{APP_DIR}/main.py",
        "jarfile": f"{APP_DIR}/lib/{merged_jar_name()}",
        "pyFiles": f"{APP_DIR}/{PYTHON_DIR}",
    }
    assert "5.1.0-1.20" in merged_jar_name()


def test_job_properties_name_the_stream_and_table_and_carry_the_settings(synthesized: Synthesized):
    stack = synthesized.stack
    job = _groups(_application(synthesized))[PROPERTY_GROUP]
    stream_id = synthesized.resource(stack.event_stream.stream)[0]
    table_id = synthesized.resource(stack.realtime.table)[0]
    assert job["stream.arn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    assert job["aggregates.table"] == {"Ref": table_id}
    assert job["source.init.position"] == "TRIM_HORIZON"
    assert job["allowed.lateness.s"] == "300"
    assert job["early.fire.delay.ms"] == "5000"  # cdk/settings.py default (docs/performance.md, "Cost inputs")


def test_checkpointing_snapshots_and_logging_are_on(synthesized: Synthesized):
    flink = _application(synthesized)["ApplicationConfiguration"]["FlinkApplicationConfiguration"]
    assert flink["CheckpointConfiguration"] == {
        "ConfigurationType": "CUSTOM",
        "CheckpointingEnabled": True,
        "CheckpointInterval": 60_000,
        "MinPauseBetweenCheckpoints": 5000,
    }
    assert flink["ParallelismConfiguration"] == {
        "ConfigurationType": "CUSTOM",
        "Parallelism": 1,
        "ParallelismPerKPU": 1,
        "AutoScalingEnabled": True,
    }
    assert flink["MonitoringConfiguration"]["MetricsLevel"] == "APPLICATION"
    config = _application(synthesized)["ApplicationConfiguration"]
    assert config["ApplicationSnapshotConfiguration"] == {"SnapshotsEnabled": True}
    assert _application(synthesized)["RunConfiguration"]["ApplicationRestoreConfiguration"] == {
        "ApplicationRestoreType": "RESTORE_FROM_LATEST_SNAPSHOT"
    }
    synthesized.template.has_resource_properties(
        "AWS::KinesisAnalyticsV2::ApplicationCloudWatchLoggingOption",
        {"ApplicationName": {"Ref": synthesized.resource(synthesized.stack.realtime.application)[0]}},
    )


def test_parallelism_autoscaling_checkpoints_and_lateness_come_from_context(tuned: Synthesized):
    props = _application(tuned)
    flink = props["ApplicationConfiguration"]["FlinkApplicationConfiguration"]
    assert flink["ParallelismConfiguration"]["Parallelism"] == 4
    assert flink["ParallelismConfiguration"]["ParallelismPerKPU"] == 2
    assert flink["ParallelismConfiguration"]["AutoScalingEnabled"] is False
    assert flink["CheckpointConfiguration"]["CheckpointInterval"] == 30_000
    job = _groups(props)[PROPERTY_GROUP]
    assert (job["allowed.lateness.s"], job["source.init.position"]) == ("120", "LATEST")


def _statements(synthesized: Synthesized, role: Any) -> list[dict[str, Any]]:
    role_id = synthesized.resource(role)[0]
    statements: list[dict[str, Any]] = []
    for body in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in body["Properties"]["Roles"]:
            statements += body["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_job_role_reads_the_stream_and_writes_the_table_and_nothing_more(synthesized: Synthesized):
    stack = synthesized.stack
    statements = _statements(synthesized, stack.realtime.role)
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    # No wildcard action, no write to the stream, no table management
    assert not [a for a in actions if a.endswith(":*") or a == "*"]
    assert "kinesis:GetRecords" in actions and "kinesis:PutRecord" not in actions
    assert {"dynamodb:BatchWriteItem", "dynamodb:PutItem"} <= actions
    assert not [a for a in actions if a in ("dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:CreateTable")]
    stream_arn = {"Fn::GetAtt": [synthesized.resource(stack.event_stream.stream)[0], "Arn"]}
    kinesis = [s for s in statements if any(str(a).startswith("kinesis:GetRecords") for a in s["Action"])]
    assert kinesis and all(s["Resource"] == stream_arn for s in kinesis)
    synthesized.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "kinesisanalytics.amazonaws.com"}})]}
            )
        },
    )


def test_job_role_reads_only_the_application_code_object_of_the_assets_bucket(synthesized: Synthesized):
    # Given the job role's statements and the code asset's object key
    statements = _statements(synthesized, synthesized.stack.realtime.role)
    code_key = synthesized.stack.realtime.code.s3_object_key
    s3 = [s for s in statements if any(str(a).startswith("s3:") for a in _actions(s))]
    # Then the only S3 access is reading that one object (and its versions): no list, no bucket-wide wildcard
    assert len(s3) == 1
    assert sorted(_actions(s3[0])) == ["s3:GetObject", "s3:GetObjectVersion"]
    resource = json.dumps(s3[0]["Resource"])
    assert resource.endswith(f'"/{code_key}"]]}}'), resource
    assert "*" not in resource
    # And that object is the one the application runs
    location = _application(synthesized)["ApplicationConfiguration"]["ApplicationCodeConfiguration"]["CodeContent"]
    assert location["S3ContentLocation"]["FileKey"] == code_key


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_updates_restore_state_by_stable_uids_never_drop_it_silently_and_roll_back_on_failure(
    synthesized: Synthesized,
):
    props = _application(synthesized)
    # A restore that cannot map the snapshot fails the update instead of restarting windows empty
    assert props["RunConfiguration"]["FlinkRunConfiguration"] == {"AllowNonRestoredState": False}
    # and a failed update returns to the running version
    assert props["ApplicationConfiguration"]["ApplicationSystemRollbackConfiguration"] == {"RollbackEnabled": True}


def test_custom_metric_alarms_select_the_dimensions_managed_flink_publishes(synthesized: Synthesized):
    # Given the metrics level (custom metrics get Task/Operator/Parallelism dimensions above APPLICATION)
    flink = _application(synthesized)["ApplicationConfiguration"]["FlinkApplicationConfiguration"]
    assert flink["MonitoringConfiguration"]["MetricsLevel"] == METRICS_LEVEL == "APPLICATION"
    app_ref = {"Ref": synthesized.resource(synthesized.stack.realtime.application)[0]}
    found = {}
    for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values():
        for query in alarm["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("MetricName") in ("lateEvents", "unreadableEvents"):
                found[metric["MetricName"]] = metric
    # Then each custom counter is read where Managed Flink puts it: AWS/KinesisAnalytics, dimension Application only
    assert sorted(found) == ["lateEvents", "unreadableEvents"]
    for metric in found.values():
        assert metric["Namespace"] == "AWS/KinesisAnalytics"
        assert metric["Dimensions"] == [{"Name": "Application", "Value": app_ref}]


def test_custom_counter_alarms_see_the_first_burst_of_a_counter_never_published_before(synthesized: Synthesized):
    # PyFlink publishes a counter only once it has changed: before its first event the metric does not exist
    expressions = {}
    for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values():
        queries = alarm["Properties"].get("Metrics", [])
        names = {q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in queries if "MetricStat" in q}
        for query in queries:
            if "Expression" in query:
                for query_id, name in names.items():
                    if name in ("lateEvents", "unreadableEvents"):
                        expressions[name] = (query["Expression"], query_id)
    # Then the rate is taken over the counter with the missing datapoints filled with 0 (RATE alone needs two)
    assert sorted(expressions) == ["lateEvents", "unreadableEvents"]
    for expression, query_id in expressions.values():
        assert expression == f"RATE(FILL({query_id}, 0))"


def test_the_job_registers_its_counters_directly_in_the_kinesisanalytics_group():
    # Given the job's source (any other user-scope group would become an extra CloudWatch dimension)
    job = REPO_ROOT / "flink" / "app" / "python" / "featurepulse_flink" / "job.py"
    tree = ast.parse(job.read_text())
    groups = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_group"
    ]
    counters = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "counter"
    ]
    # Then every group is the one METRIC_GROUP, by name alone (no key/value group), and every counter hangs on it
    assert len(groups) == 2
    assert all([ast.unparse(a) for a in g.args] == ["METRIC_GROUP"] and not g.keywords for g in groups)
    assert sorted(ast.literal_eval(c.args[0]) for c in counters) == ["eventsUnpacked", "lateEvents", "unreadableEvents"]
    assert all(
        ast.unparse(c.func.value).endswith("add_group(METRIC_GROUP)") or isinstance(c.func.value, ast.Name)
        for c in counters
    )
    assert 'METRIC_GROUP = "kinesisanalytics"' in job.read_text()


def test_aggregates_table_keys_ttl_pitr_and_kms(synthesized: Synthesized):
    props = synthesized.resource(synthesized.stack.realtime.table)[1]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": items.PK, "KeyType": "HASH"},
        {"AttributeName": items.SK, "KeyType": "RANGE"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": items.TTL_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    key_id = synthesized.resource(synthesized.stack.key)[0]
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert props["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    outputs = synthesized.template_json["Outputs"]
    assert outputs[OUTPUT_AGGREGATES_TABLE]["Value"] == {
        "Ref": synthesized.resource(synthesized.stack.realtime.table)[0]
    }
    assert OUTPUT_FLINK_APPLICATION in outputs


def test_flink_downtime_checkpoint_and_late_event_alarms_watch_the_application(synthesized: Synthesized):
    app_ref = {"Ref": synthesized.resource(synthesized.stack.realtime.application)[0]}
    alarms = synthesized.resources("AWS::CloudWatch::Alarm").values()

    def watched(metric_name: str) -> bool:
        for alarm in alarms:
            text = json.dumps(alarm["Properties"])
            if f'"MetricName": "{metric_name}"' in text and json.dumps(app_ref) in text:
                return True
        return False

    for metric in ("downtime", "numberOfFailedCheckpoints", "lastCheckpointDuration", "lateEvents", "unreadableEvents"):
        assert watched(metric), metric


def test_the_application_package_is_flink_app_whole_plus_the_project_modules_it_imports(synthesized: Synthesized):
    # Given the code asset as synth staged it
    staged = synthesized.outdir / synthesized.stack.realtime.code.asset_path
    root = staged / APP_DIR
    python = root / PYTHON_DIR
    shipped = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    # Then every file of flink/app/ is there, at the same place (the folder ships whole)
    app = REPO_ROOT / "flink" / "app"
    for path in app.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            assert path.relative_to(app).as_posix() in shipped
    # And besides it only `featurepulse` modules, each one imported by something shipped (none listed by hand)
    extra = [p for p in shipped if not (app / p).is_file()]
    assert extra and all(p.startswith(f"{PYTHON_DIR}/featurepulse/") for p in extra)
    imported = set()
    for path in [root / "main.py", *python.rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
    for module in extra:
        dotted = module.removeprefix(f"{PYTHON_DIR}/").removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        assert dotted in imported or any(name.startswith(dotted + ".") for name in imported), module
    # And the local runner (boto3) and the build tooling stay out
    assert not [p for p in shipped if "featurepulse_flink_local" in p or p.endswith("fetch_connectors.py")]
    # And nothing in it imports what Managed Flink does not have (it installs no package)
    allowed_roots = set(sys.stdlib_module_names) | {"pyflink", "featurepulse", "featurepulse_flink", "__future__"}
    for path in [root / "main.py", *python.rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed_roots, f"{path.name} imports {name}"
                if name.startswith("featurepulse."):
                    assert (python / (name.replace(".", "/") + ".py")).is_file() or (
                        python / name.replace(".", "/") / "__init__.py"
                    ).is_file(), f"{path.name} imports {name}, which is not in the package"


def test_the_import_contract_covers_exactly_the_project_modules_the_application_ships():
    # Given the import-linter contract of the Flink application (pyproject.toml, run by `make lint`)
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["name"].startswith("Flink application")]
    # Then its sources are the modules synth puts in the zip, no more, no fewer (packages' __init__ included)
    shipped = {
        p.with_suffix("").as_posix().removesuffix("/__init__").replace("/", ".") for p in shipped_project_modules()
    }
    assert set(contract["source_modules"]) == shipped
    assert contract["type"] == "forbidden" and contract["as_packages"] is False
    # And it forbids the third-party packages the project installs elsewhere (Managed Flink has none of them)
    assert {"pydantic", "boto3", "botocore", "orjson", "aws_lambda_powertools"} <= set(contract["forbidden_modules"])
    assert config["include_external_packages"] is True


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"quicksightPrincipalArn": "pm@example.com"}, "quicksightPrincipalArn"),
        ({"realtimeParallelism": 0}, "realtimeParallelism"),
        ({"realtimeInitialPosition": "AT_TIMESTAMP"}, "realtimeInitialPosition"),
    ],
)
def test_invalid_realtime_context_stops_the_synth_naming_the_key(context, message):
    with pytest.raises(SettingsError, match=message):
        StackSettings.from_mapping(context)

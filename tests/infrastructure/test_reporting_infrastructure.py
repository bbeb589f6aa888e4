"""The Reporting construct: the Glue 5.0 job, its schedules, SES, the send record, the role, the failure
alarm; and the code bundle the job runs (tests/deploy/ runs it under Glue 5's Python)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from moto import mock_aws

from cdk.reporting import ADDITIONAL_PYTHON_MODULES, Reporting, recipient_identity_names, stage_code_bundle
from cdk.runtime_sources import REPORT_JOB_SOURCES
from featurepulse.reporting.queries import QUERY_NAMES
from glue_jobs.campaign_report import install_code_bundle
from tests.infrastructure.conftest import Synthesized

SENDER = "reports@example.com"


def reporting_template(
    stack: Stack,
    bundle_dir: Path,
    *,
    sender: str | None = SENDER,
    extra_job_arguments: dict[str, str] | None = None,
) -> Template:
    key = kms.Key(stack, "Key")
    Reporting(
        stack,
        "Reporting",
        lake_bucket=s3.Bucket(stack, "Lake"),
        events_prefix="events/",
        results_bucket=s3.Bucket(stack, "Results"),
        results_prefix="results/",
        encryption_key=key,
        glue_database_name="lake_db",
        events_table_name="events",
        workgroup_name="lake-wg",
        alarm_topic=sns.Topic(stack, "Alarms"),
        sender=sender,
        recipients=("marketing@example.com", "pm@example.com"),
        daily_schedule="cron(0 6 * * ? *)",
        weekly_schedule="cron(0 7 ? * MON *)",
        schedule_time_zone="Europe/Paris",
        min_exposed_per_variant=250,
        code_bundle_dir=bundle_dir,
        extra_job_arguments=extra_job_arguments,
    )
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage_code_bundle(tmp_path_factory.mktemp("bundle") / "code")


@pytest.fixture
def template(small_stack: Stack, bundle_dir: Path) -> Template:
    return reporting_template(small_stack, bundle_dir)


def statements(template: Template) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def actions_of(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_the_job_is_a_glue_5_job_that_installs_the_pinned_modules(template: Template) -> None:
    # Given the construct, Then the job runs on Glue 5.0 (Python 3.11), not on Python shell's 3.9
    template.has_resource_properties(
        "AWS::Glue::Job",
        {
            "Command": Match.object_like({"Name": "glueetl", "PythonVersion": "3"}),
            "GlueVersion": "5.0",
            "WorkerType": "G.1X",
            "NumberOfWorkers": 2,
            "MaxRetries": 0,
            "SecurityConfiguration": Match.any_value(),
            "DefaultArguments": Match.object_like(
                {
                    "--additional-python-modules": ",".join(ADDITIONAL_PYTHON_MODULES),
                    "--code_bundle": Match.any_value(),
                    "--database": "lake_db",
                    "--events_table": "events",
                    "--workgroup": "lake-wg",
                    "--sender": SENDER,
                    "--recipients": "marketing@example.com,pm@example.com",
                    "--min_exposed_per_variant": "250",
                }
            ),
        },
    )


def test_every_additional_module_is_pinned_to_one_version() -> None:
    # Glue runs pip at every job start: an unpinned module would install whatever is newest that day
    for item in ADDITIONAL_PYTHON_MODULES:
        name, _, version = item.partition("==")
        assert name and version and "," not in item and " " not in item, item


def test_extra_job_arguments_join_the_defaults(small_stack: Stack, bundle_dir: Path) -> None:
    # Given an extra argument from another capability
    template = reporting_template(small_stack, bundle_dir, extra_job_arguments={"--identities_table": "ids"})
    # Then the job has it beside its own
    template.has_resource_properties(
        "AWS::Glue::Job",
        {"DefaultArguments": Match.object_like({"--identities_table": "ids", "--events_table": "events"})},
    )


def test_an_extra_job_argument_may_not_replace_one_of_the_constructs(small_stack: Stack, bundle_dir: Path) -> None:
    with pytest.raises(ValueError, match="--events_table is set by the Reporting construct"):
        reporting_template(small_stack, bundle_dir, extra_job_arguments={"--events_table": "other"})


def flatten(value: Any) -> str:
    """A CloudFormation string that may be an Fn::Join, with references shown as "REF"."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(flatten(part) for part in parts)
    return "REF"


def schedules(template: Template) -> dict[str, dict[str, Any]]:
    found = template.find_resources("AWS::Scheduler::Schedule")
    by_period = {}
    for schedule in found.values():
        props = schedule["Properties"]
        target_input = json.loads(flatten(props["Target"]["Input"]))
        assert target_input["JobName"] == "REF"  # the job of this construct, by reference
        by_period[target_input["Arguments"]["--period"]] = props
    return by_period


def test_daily_and_weekly_schedules_start_the_job_with_their_period(template: Template) -> None:
    found = schedules(template)
    assert set(found) == {"day", "week"}
    assert found["day"]["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert found["week"]["ScheduleExpression"] == "cron(0 7 ? * MON *)"
    for props in found.values():
        assert props["ScheduleExpressionTimezone"] == "Europe/Paris"
        assert props["State"] == "ENABLED"
        assert flatten(props["Target"]["Arn"]).endswith(":scheduler:::aws-sdk:glue:startJobRun")
    start = [s for s in statements(template) if "glue:StartJobRun" in actions_of(s)]
    assert start and all("job/" in json.dumps(s["Resource"]) for s in start)


def test_without_a_sender_the_schedules_are_disabled_and_no_identity_exists(
    small_stack: Stack, bundle_dir: Path
) -> None:
    template = reporting_template(small_stack, bundle_dir, sender=None)
    assert {props["State"] for props in schedules(template).values()} == {"DISABLED"}
    template.resource_count_is("AWS::SES::EmailIdentity", 0)
    assert not [s for s in statements(template) if "ses:SendRawEmail" in actions_of(s)]


def test_ses_identity_and_configuration_set_and_the_role_may_send_only_from_it(template: Template) -> None:
    template.has_resource_properties("AWS::SES::EmailIdentity", {"EmailIdentity": SENDER})
    template.resource_count_is("AWS::SES::ConfigurationSet", 1)
    (send,) = [s for s in statements(template) if "ses:SendRawEmail" in actions_of(s)]
    resources = json.dumps(send["Resource"])
    assert ":identity/" in resources and ":configuration-set/" in resources and '"*"' not in resources


def test_in_the_ses_sandbox_the_role_may_also_name_each_recipient_and_its_domain(template: Template) -> None:
    # Given recipients marketing@example.com and pm@example.com (SES in the sandbox authorizes the call
    # against each recipient's verified identity: the address, or its domain)
    (send,) = [s for s in statements(template) if "ses:SendRawEmail" in actions_of(s)]
    identities = sorted(flatten(r).rpartition(":identity/")[2] for r in send["Resource"] if ":identity/" in flatten(r))
    # Then the send statement names the sender identity (a reference), both recipient addresses and their
    # domain, nothing else
    assert identities == sorted(["REF", "marketing@example.com", "pm@example.com", "example.com"])


def test_recipient_identities_are_each_address_and_its_domain_once() -> None:
    assert recipient_identity_names(["a@x.example", "b@x.example", "c@y.example"]) == [
        "a@x.example",
        "x.example",
        "b@x.example",
        "c@y.example",
        "y.example",
    ]


def test_the_role_reads_only_the_events_prefix_and_queries_only_its_workgroup(template: Template) -> None:
    all_statements = statements(template)
    assert not [s for s in all_statements if "*" in actions_of(s) or s["Resource"] == "*"]
    athena = [s for s in all_statements if "athena:StartQueryExecution" in actions_of(s)]
    assert athena and all(json.dumps(s["Resource"]).endswith(':workgroup/lake-wg"]]}') for s in athena)
    lake_reads = [s for s in all_statements if actions_of(s) == ["s3:GetObject"] and "/events/*" in json.dumps(s)]
    assert lake_reads
    assert not [s for s in all_statements if "s3:PutObject" in actions_of(s) and "events" in json.dumps(s)]
    assert [s for s in all_statements if "dynamodb:PutItem" in actions_of(s)]


def test_the_send_record_table_is_keyed_by_report_and_period(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "report_key", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "SSESpecification": Match.object_like({"SSEEnabled": True}),
        },
    )


def test_a_failed_run_is_sent_to_the_alarm_topic(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.glue"],
                "detail-type": ["Glue Job State Change"],
                "detail": {"jobName": Match.any_value(), "state": ["FAILED", "TIMEOUT", "ERROR"]},
            },
            "Targets": [Match.object_like({"Arn": Match.any_value()})],
        },
    )


def test_the_stack_wires_reporting_with_the_lake_and_alarms_on_failures(synthesized: Synthesized) -> None:
    # Given the whole stack with default context (no sender configured)
    (_, job) = synthesized.resource(synthesized.stack.reporting.job)
    args = job["Properties"]["DefaultArguments"]
    # Then the job queries the lake's database, table and workgroup, and its failures have an alarm
    assert args["--events_table"] == "events"
    assert "--workgroup" in args and "--database" in args
    alarms = synthesized.resources("AWS::CloudWatch::Alarm")
    assert any("report job failed" in a["Properties"].get("AlarmDescription", "") for a in alarms.values())


def test_cdk_nag_is_clean_with_a_sender_configured(synthesize_with: Callable[..., Synthesized]) -> None:
    stack = synthesize_with(reportSender=SENDER, reportRecipients="a@example.com,b@example.com")
    findings = stack.annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    findings += stack.annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [f"{f.id}: {str(f.entry.data)[:200]}" for f in findings] == []
    stack.template.has_resource_properties("AWS::SES::EmailIdentity", {"EmailIdentity": SENDER})


# --- the code bundle -----------------------------------------------------------------------------------


def test_the_bundle_holds_its_packages_whole_and_every_query_but_no_local_mode(bundle_dir: Path) -> None:
    package = bundle_dir / "featurepulse"
    repo = Path(__file__).resolve().parents[2]
    shipped_sql = sorted(p.name for p in (package / "_athena_queries").glob("*.sql"))
    assert shipped_sql == sorted(p.name for p in (repo / "athena_queries").glob("*.sql"))
    assert set(QUERY_NAMES) <= {name.removesuffix(".sql") for name in shipped_sql}
    for folder in REPORT_JOB_SOURCES.packages:  # every module of each package, none picked out
        shipped = {p.relative_to(bundle_dir) for p in (bundle_dir / folder).rglob("*.py")}
        in_repo = {p.relative_to(repo) for p in (repo / folder).rglob("*.py") if "__pycache__" not in p.parts}
        assert shipped == in_repo, folder
    assert not (package / "local").exists()


def test_the_job_installs_the_bundle_from_s3_and_imports_from_it(bundle_dir: Path, tmp_path: Path) -> None:
    # Given the bundle zipped in S3 (as the CDK asset is)
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(bundle_dir.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(bundle_dir))
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="assets")
        client.upload_file(str(archive), "assets", "abc.zip")
        # When the job installs it
        code_dir = install_code_bundle("s3://assets/abc.zip", client, tmp_path / "install")
    sys.path.remove(str(code_dir))
    # Then a fresh interpreter imports featurepulse.reporting from it and finds the SQL beside it
    probe = (
        f"import sys; sys.path.insert(0, {str(code_dir)!r}); import featurepulse.reporting.queries as q; "
        "print(q.__file__); print(q.queries_dir()); print(len(q.load_query('feature_funnel')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    module_file, queries, length = out.stdout.split()
    assert module_file.startswith(str(code_dir))
    assert queries == str(code_dir / "featurepulse" / "_athena_queries")
    assert int(length) > 100


def test_a_malformed_bundle_url_stops_the_job() -> None:
    with pytest.raises(SystemExit, match=r"s3://bucket/key\.zip"):
        install_code_bundle("https://example.com/x.zip", None)


def test_the_role_writes_and_signs_links_only_under_the_lakes_audiences_prefix(template: Template) -> None:
    # Given the statements that let the job write to S3
    writes = [s for s in statements(template) if "s3:PutObject" in actions_of(s)]
    audiences = [s for s in writes if "/audiences/*" in json.dumps(s)]
    # Then one statement writes (and reads, for the presigned links) the audiences/ objects and nothing else
    assert len(audiences) == 1 and sorted(actions_of(audiences[0])) == ["s3:GetObject", "s3:PutObject"]
    assert json.dumps(audiences[0]["Resource"]).count("/audiences/*") == 1

"""The synthesized stack has the properties that matter for ingest: runtime, wiring, limits, encryption, IAM.

Assertions look resources up by type and follow Ref/GetAtt between them; no hashed logical id is written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from cdk.ingest_api import (
    ACCESS_LOG_FIELDS,
    KNOWN_BAD_INPUTS_RULE_SET,
    MANAGED_RULE_GROUP_WCU,
    RATE_RULE_WCU,
    WEB_ACL_PRICED_WCU,
    WITHOUT_WAF_REASON,
    sampling_rule_name,
)
from cdk.lambda_logging import lambda_logging
from cdk.settings import stream_shards_for
from featurepulse.constants import (
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_PUT_TIME_BUDGET_MS,
    ENV_QUARANTINE_BUCKET,
    ENV_QUARANTINE_PREFIX,
    ENV_SERVICE_NAME,
    ENV_SOURCES_TABLE,
    ENV_STAGE_MAP,
    ENV_STREAM_NAME,
    METRICS_NAMESPACE,
    OUTPUT_ALARM_TOPIC_ARN,
    OUTPUT_API_URL,
    OUTPUT_DASHBOARD_NAME,
    OUTPUT_LAKE_BUCKET,
    OUTPUT_SOURCES_TABLE,
    OUTPUT_STREAM_NAME,
    QUARANTINE_PREFIX,
    SERVICE_NAME,
    SOURCES_TABLE_PARTITION_KEY,
)
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from tests.infrastructure.conftest import Synthesized

INGEST_HANDLER = "lambdas.ingest.handler.lambda_handler"


@pytest.fixture(scope="module")
def with_waf(synthesize_with: Callable[..., Synthesized]) -> Synthesized:
    """The stack with the opt-in WAF web ACL (`-c wafEnabled=true`)."""
    return synthesize_with(wafEnabled=True)


def _ingest_function(synthesized: Synthesized) -> dict[str, Any]:
    functions = [
        body
        for body in synthesized.resources("AWS::Lambda::Function").values()
        if body["Properties"].get("Handler") == INGEST_HANDLER
    ]
    assert len(functions) == 1
    return functions[0]


def _lake_bucket_id(synthesized: Synthesized) -> str:
    logical_id, _ = synthesized.resource(synthesized.stack.data_bucket.bucket)
    return logical_id


def _policy_statements_of_role(synthesized: Synthesized, role_ref: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for body in synthesized.resources("AWS::IAM::Policy").values():
        if role_ref in body["Properties"]["Roles"]:
            statements.extend(body["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the Lambda ---------------------------------------------------------------------------------------
def test_ingest_lambda_runs_python312_on_arm64_with_active_tracing(synthesized: Synthesized) -> None:
    # Given the default stack / When we read the ingest function / Then it is the documented runtime
    props = _ingest_function(synthesized)["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Timeout"] == 10
    assert props["MemorySize"] == 512


def test_ingest_lambda_logs_json_without_lambdas_start_end_report_lines(synthesized: Synthesized) -> None:
    # Given the default stack / When we read the ingest and erasure functions' logging configuration
    log_group_id, _ = synthesized.resource(synthesized.stack.ingest_api.function.log_group)
    ingest = _ingest_function(synthesized)["Properties"]["LoggingConfig"]
    _, erasure = synthesized.resource(synthesized.stack.erasure.function)
    # Then both log JSON; Lambda's own lines are kept from WARN (START/END/REPORT are INFO: not ingested); the
    # application level is INFO, so Powertools' lines and its metrics (EMF, filed as INFO) come through
    assert ingest == {
        "LogFormat": "JSON",
        "SystemLogLevel": "WARN",
        "ApplicationLogLevel": "INFO",
        "LogGroup": {"Ref": log_group_id},
    }
    assert {k: v for k, v in erasure["Properties"]["LoggingConfig"].items() if k != "LogGroup"} == {
        "LogFormat": "JSON",
        "SystemLogLevel": "WARN",
        "ApplicationLogLevel": "INFO",
    }
    # And so does every Lambda function the stack defines itself (the QuickSight connector is AWS's SAR application)
    for logical_id, function in synthesized.resources("AWS::Lambda::Function").items():
        config = function["Properties"].get("LoggingConfig", {})
        assert (config.get("LogFormat"), config.get("SystemLogLevel")) == ("JSON", "WARN"), logical_id


@pytest.mark.parametrize(
    ("log_level", "application_level"),
    [("DEBUG", "DEBUG"), ("INFO", "INFO"), ("WARNING", "INFO"), ("ERROR", "INFO")],
)
def test_lambda_application_log_level_follows_log_level_but_never_filters_metrics(
    log_level: str, application_level: str
) -> None:
    # Given a function built with our logging options for a `logLevel`
    stack = Stack(App(), "LoggingUnderTest")
    lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return None"),
        **lambda_logging(log_level),
    )
    # When synthesized
    (function,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    config = function["Properties"]["LoggingConfig"]
    # Then DEBUG reaches CloudWatch when asked for, and the filter never rises above INFO (EMF lines have no level)
    assert config["ApplicationLogLevel"] == application_level
    assert config["SystemLogLevel"] == "WARN"
    assert config["LogFormat"] == "JSON"


def test_unknown_log_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        lambda_logging("VERBOSE")


def test_ingest_lambda_environment_names_the_resources_it_uses(synthesized: Synthesized) -> None:
    # Given the stream, table and lake bucket of the stack
    stream_id, _ = synthesized.resource(synthesized.stack.event_stream.stream)
    table_id, _ = synthesized.resource(synthesized.stack.sources_table.table)
    bucket_id = _lake_bucket_id(synthesized)
    # When we read the function's environment
    env = _ingest_function(synthesized)["Properties"]["Environment"]["Variables"]
    # Then each name is a reference to the resource, never a literal, and the knobs have their defaults
    assert env[ENV_STREAM_NAME] == {"Ref": stream_id}
    assert env[ENV_SOURCES_TABLE] == {"Ref": table_id}
    assert env[ENV_QUARANTINE_BUCKET] == {"Ref": bucket_id}
    assert env[ENV_QUARANTINE_PREFIX] == QUARANTINE_PREFIX
    assert json.loads(env[ENV_STAGE_MAP]) == DEFAULT_STAGE_MAP
    assert env[ENV_PUT_TIME_BUDGET_MS] == "3000"
    assert env[ENV_SERVICE_NAME] == SERVICE_NAME
    assert env[ENV_METRICS_NAMESPACE] == METRICS_NAMESPACE
    assert env[ENV_LOG_LEVEL] == "INFO"


def test_ingest_lambda_policy_grants_exact_actions_on_exact_resources(synthesized: Synthesized) -> None:
    # Given the ingest function's role and the resources it writes and reads
    function = _ingest_function(synthesized)
    role_ref = {"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]}
    stream_id, _ = synthesized.resource(synthesized.stack.event_stream.stream)
    table_id, _ = synthesized.resource(synthesized.stack.sources_table.table)
    key_id, _ = synthesized.resource(synthesized.stack.key)
    bucket_id = _lake_bucket_id(synthesized)
    # When we collect every statement of the policies attached to that role
    statements = _policy_statements_of_role(synthesized, role_ref)
    by_service: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            by_service.setdefault(action.split(":")[0], []).append(statement)
    # Then no action is a wildcard
    actions = [action for statement in statements for action in _as_list(statement["Action"])]
    assert not [action for action in actions if "*" in action]
    # And each service gets exactly what the ingest path calls, on exactly its resource
    assert sorted(set(by_service)) == ["dynamodb", "kinesis", "kms", "logs", "s3", "xray"]
    (kinesis,) = {json.dumps(s, sort_keys=True): s for s in by_service["kinesis"]}.values()
    assert sorted(_as_list(kinesis["Action"])) == ["kinesis:PutRecord", "kinesis:PutRecords"]
    assert kinesis["Resource"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    (dynamodb,) = by_service["dynamodb"]
    assert _as_list(dynamodb["Action"]) == ["dynamodb:GetItem"]
    assert dynamodb["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}
    (s3,) = by_service["s3"]
    assert _as_list(s3["Action"]) == ["s3:PutObject"]
    assert s3["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{QUARANTINE_PREFIX}*"]]}
    (kms,) = {json.dumps(s, sort_keys=True): s for s in by_service["kms"]}.values()
    assert sorted(_as_list(kms["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    # And the only Resource '*' is X-Ray's, which has no resource-level permissions
    star = [s for s in statements if s["Resource"] == "*"]
    assert [sorted(_as_list(s["Action"])) for s in star] == [["xray:PutTelemetryRecords", "xray:PutTraceSegments"]]


def test_ingest_lambda_role_has_no_managed_policies(synthesized: Synthesized) -> None:
    # Given the ingest function / When we read its role / Then nothing beyond the stack's grants is attached
    function = _ingest_function(synthesized)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = synthesized.resources("AWS::IAM::Role")[role_id]
    assert "ManagedPolicyArns" not in role["Properties"]


# --- API Gateway --------------------------------------------------------------------------------------
def test_api_stage_throttles_traces_and_writes_json_access_logs_without_client_ip(synthesized: Synthesized) -> None:
    # Given the stage / When we read its settings
    _, stage = synthesized.resource(synthesized.stack.ingest_api.stage)
    props = stage["Properties"]
    # Then throttling, execution logging, X-Ray and JSON access logs are on
    assert props["StageName"] == "prod"
    assert props["TracingEnabled"] is True
    (method_settings,) = props["MethodSettings"]
    assert method_settings["HttpMethod"] == "*"
    assert method_settings["ResourcePath"] == "/*"
    assert method_settings["ThrottlingRateLimit"] == 500
    assert method_settings["ThrottlingBurstLimit"] == 1000
    assert method_settings["LoggingLevel"] == "ERROR"
    assert method_settings["DataTraceEnabled"] is False
    # Per-method metrics (billed as custom metrics) stay off: the alarms read the free API-level metrics
    assert method_settings["MetricsEnabled"] is False
    access_log = props["AccessLogSetting"]
    fields = json.loads(access_log["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert fields["status"] == "$context.status"
    assert not [value for value in fields.values() if "sourceIp" in value]
    # One compact JSON line with the fields docs/deploy.md's alarms send you to, nothing the Lambda's logs and
    # metrics already give (CloudWatch bills every byte)
    assert list(fields) == [
        "requestId",
        "httpMethod",
        "path",
        "status",
        "responseLatency",
        "errorType",
        "integrationError",
        "userAgent",
    ]
    assert ", " not in access_log["Format"] and '": ' not in access_log["Format"]
    log_group_refs = [part["Ref"] for part in access_log["DestinationArn"]["Fn::Join"][1] if "Ref" in part]
    assert set(log_group_refs) & set(synthesized.resources("AWS::Logs::LogGroup"))


def test_xray_records_only_the_configured_share_of_this_apis_requests(synthesized: Synthesized) -> None:
    # Given the default stack: API Gateway and the ingest Lambda trace actively (the Lambda follows the gateway)
    _, stage = synthesized.resource(synthesized.stack.ingest_api.stage)
    _, api = synthesized.resource(synthesized.stack.ingest_api.api)
    assert stage["Properties"]["TracingEnabled"] is True
    assert _ingest_function(synthesized)["Properties"]["TracingConfig"] == {"Mode": "Active"}
    # When we read the stack's X-Ray sampling rule
    _, body = synthesized.only("AWS::XRay::SamplingRule")
    rule = body["Properties"]["SamplingRule"]
    # Then it matches exactly this API's stage, before AWS's default rule (priority 10000, which keeps 1 request/s
    # and so every request at GAP's 1 request/s), and keeps 5% of requests with no per-second reservoir
    assert rule["ServiceName"] == f"{api['Properties']['Name']}/{stage['Properties']['StageName']}"
    assert rule["ServiceType"] == "AWS::ApiGateway::Stage"
    assert (rule["Host"], rule["HTTPMethod"], rule["URLPath"], rule["ResourceARN"]) == ("*", "*", "*", "*")
    assert rule["Priority"] < 10000
    assert rule["FixedRate"] == 0.05
    assert rule["ReservoirSize"] == 0
    assert rule["Version"] == 1
    assert rule["RuleName"] == sampling_rule_name(synthesized.stack.stack_name)


def test_sampling_rule_names_fit_xray_and_differ_between_stacks() -> None:
    # Given stack names up to the 128 characters CloudFormation allows, some alike in their first 23
    names = ["FeaturePulse", "FeaturePulse-staging", "A" * 128, "A" * 127 + "B", "featurepulse-eu-west-1-prod-2"]
    rule_names = [sampling_rule_name(name) for name in names]
    # Then each fits X-Ray's 32 characters and no two stacks share a rule
    assert all(1 <= len(rule) <= 32 for rule in rule_names)
    assert len(set(rule_names)) == len(names)
    assert rule_names[0].startswith("FeaturePulse-")


def test_api_proxies_v1_routes_and_openapi_to_the_ingest_lambda(synthesized: Synthesized) -> None:
    # Given the API's resources and methods
    resources = synthesized.resources("AWS::ApiGateway::Resource")
    path_of = {logical_id: body["Properties"]["PathPart"] for logical_id, body in resources.items()}
    methods = synthesized.resources("AWS::ApiGateway::Method").values()
    # When we keep the methods that reach Lambda
    proxied = {
        (path_of[m["Properties"]["ResourceId"]["Ref"]], m["Properties"]["HttpMethod"])
        for m in methods
        if m["Properties"]["Integration"]["Type"] == "AWS_PROXY"
    }
    # Then /v1/{proxy+} (any method: the Lambda answers 404/405 itself) and GET /openapi.json are proxied
    assert proxied == {("{proxy+}", "ANY"), ("openapi.json", "GET")}
    proxy_parent = next(b for b in resources.values() if b["Properties"]["PathPart"] == "{proxy+}")
    assert path_of[proxy_parent["Properties"]["ParentId"]["Ref"]] == "v1"


def test_cors_preflight_allows_the_headers_segment_sdks_send(synthesized: Synthesized) -> None:
    # Given the API / When we read its OPTIONS methods / Then they answer preflight for Authorization + JSON
    synthesized.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "OPTIONS",
            "Integration": {
                "Type": "MOCK",
                "IntegrationResponses": [
                    Match.object_like(
                        {
                            "ResponseParameters": Match.object_like(
                                {
                                    "method.response.header.Access-Control-Allow-Headers": Match.string_like_regexp(
                                        "Authorization.*Content-Type"
                                    ),
                                    "method.response.header.Access-Control-Allow-Origin": "'*'",
                                }
                            )
                        }
                    )
                ],
            },
        },
    )
    # And answers made by the gateway itself (throttling 429) carry the CORS header too
    gateway_responses = synthesized.resources("AWS::ApiGateway::GatewayResponse").values()
    assert {r["Properties"]["ResponseType"] for r in gateway_responses} == {"DEFAULT_4XX", "DEFAULT_5XX"}


def test_default_stack_has_no_web_acl_and_says_why_in_its_nag_suppression(synthesized: Synthesized) -> None:
    # Given the default stack (wafEnabled false)
    # Then no web ACL nor association is created
    assert synthesized.stack.ingest_api.web_acl is None
    assert synthesized.resources("AWS::WAFv2::WebACL") == {}
    assert synthesized.resources("AWS::WAFv2::WebACLAssociation") == {}
    # And the stage carries the cdk-nag APIG3 suppression with its reason: what protects without WAF, what WAF
    # adds, its price and how to turn it on
    _, stage = synthesized.resource(synthesized.stack.ingest_api.stage)
    (apig3,) = [r for r in stage["Metadata"]["cdk_nag"]["rules_to_suppress"] if r["id"] == "AwsSolutions-APIG3"]
    assert apig3["reason"] == WITHOUT_WAF_REASON
    for words in ("validates every request", "fuzzed", "stage throttling", "per-IP rate limiting", "$9.58"):
        assert words in apig3["reason"]
    assert "-c wafEnabled=true" in apig3["reason"]
    # And the access log has no WAF field
    assert "wafResponseCode" not in json.loads(stage["Properties"]["AccessLogSetting"]["Format"])


def test_waf_stack_logs_wafs_answer_and_has_no_apig3_suppression(with_waf: Synthesized) -> None:
    # Given the stack with wafEnabled=true / When we read the stage
    _, stage = with_waf.resource(with_waf.stack.ingest_api.stage)
    # Then the access log records WAF's answer, and nothing suppresses APIG3 (the ACL satisfies it)
    fields = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert list(fields) == [*ACCESS_LOG_FIELDS, "wafResponseCode"]
    rules = stage.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    assert "AwsSolutions-APIG3" not in {r["id"] for r in rules}


def test_waf_rate_limits_per_ip_with_429_and_is_associated_with_the_stage(with_waf: Synthesized) -> None:
    # Given the web ACL and the stage (wafEnabled=true)
    synthesized = with_waf
    assert synthesized.stack.ingest_api.web_acl is not None
    acl_id, acl = synthesized.resource(synthesized.stack.ingest_api.web_acl)
    stage_id, _ = synthesized.resource(synthesized.stack.ingest_api.stage)
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    # Then a per-IP rate rule blocks with 429 + Retry-After (SDKs retry), before the managed rules
    rate = rules["RateLimitPerIp"]
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == 6000
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    response = rate["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    assert {"Name": "Retry-After", "Value": "60"} in response["ResponseHeaders"]
    # And the AWS common rules run, with the 8 KB body rule counting only (Segment batches reach 500 KB)
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["VendorName"] == "AWS"
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    assert rate["Priority"] < rules["AWSManagedRulesCommonRuleSet"]["Priority"]
    # And the ACL protects the stage
    (association,) = [
        body
        for body in synthesized.resources("AWS::WAFv2::WebACLAssociation").values()
        if body["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    ]
    assert {"Ref": stage_id} in association["Properties"]["ResourceArn"]["Fn::Join"][1]


def test_waf_blocks_known_bad_inputs_after_the_rate_rule_within_the_priced_capacity(with_waf: Synthesized) -> None:
    # Given the web ACL (wafEnabled=true)
    synthesized = with_waf
    assert synthesized.stack.ingest_api.web_acl is not None
    _, acl = synthesized.resource(synthesized.stack.ingest_api.web_acl)
    rules = acl["Properties"]["Rules"]
    # Then the AWS known-bad-inputs group runs as shipped (blocking: Log4j, Java deserialization, exploit paths),
    # with its own metric
    synthesized.template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Rules": Match.array_with(
                [
                    {
                        "Name": KNOWN_BAD_INPUTS_RULE_SET,
                        "Priority": Match.any_value(),
                        "Statement": {
                            "ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": KNOWN_BAD_INPUTS_RULE_SET}
                        },
                        "OverrideAction": {"None": {}},
                        "VisibilityConfig": Match.object_like(
                            {"MetricName": "featurepulse-known-bad-inputs", "CloudWatchMetricsEnabled": True}
                        ),
                    }
                ]
            )
        },
    )
    # And the rate rule is evaluated first, every priority is distinct
    priorities = {rule["Name"]: rule["Priority"] for rule in rules}
    assert min(priorities, key=priorities.__getitem__) == "RateLimitPerIp"
    assert len(set(priorities.values())) == len(rules)
    # And the capacity of the rules (documented WCU of each managed group, 2 for the rate rule) stays within
    # what the basic WAF price covers; a managed group without a known WCU fails here
    groups = [
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules
        if "ManagedRuleGroupStatement" in r["Statement"]
    ]
    assert sorted(groups) == sorted(MANAGED_RULE_GROUP_WCU)
    rate_rules = [r for r in rules if "RateBasedStatement" in r["Statement"]]
    total = sum(MANAGED_RULE_GROUP_WCU[g] for g in groups) + RATE_RULE_WCU * len(rate_rules)
    assert total <= WEB_ACL_PRICED_WCU


# --- stream, table, bucket ------------------------------------------------------------------------------
def test_stream_is_provisioned_with_one_shard_for_the_default_expected_traffic_and_encrypted(
    synthesized: Synthesized,
) -> None:
    # Given the default context (streamMode=auto, 100 events/s of 1,000 bytes expected)
    _, stream = synthesized.resource(synthesized.stack.event_stream.stream)
    key_id, _ = synthesized.resource(synthesized.stack.key)
    props = stream["Properties"]
    # Then the stream is provisioned with the one shard that traffic needs (not on-demand), KMS-encrypted
    assert props["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert props["ShardCount"] == stream_shards_for(100, 1000) == 1
    assert props["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    assert props["RetentionPeriodHours"] == 24


def test_auto_stream_follows_the_expected_traffic_and_traces_the_given_share(synthesize_with) -> None:
    # Given `-c expectedEventsPerSecond=1000 -c traceSampleRate=0.5` (the CLI passes strings)
    synthesized = synthesize_with(expectedEventsPerSecond="1000", traceSampleRate="0.5")
    # When we read the stream and the sampling rule
    _, stream = synthesized.resource(synthesized.stack.event_stream.stream)
    _, rule = synthesized.only("AWS::XRay::SamplingRule")
    # Then the stream has the shards 1,000 events/s of 1 KB need with burst headroom, and half the requests are traced
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["Properties"]["ShardCount"] == 7
    assert rule["Properties"]["SamplingRule"]["FixedRate"] == 0.5


def test_stream_is_provisioned_with_the_shard_count_given_as_context(synthesize_with) -> None:
    # Given `-c streamMode=provisioned -c shardCount=4` (the CLI passes strings)
    synthesized = synthesize_with(streamMode="provisioned", shardCount="4", streamRetentionHours="48")
    # When we read the stream / Then it has a fixed capacity of 4 shards and the longer retention
    _, stream = synthesized.resource(synthesized.stack.event_stream.stream)
    props = stream["Properties"]
    assert props["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert props["ShardCount"] == 4
    assert props["RetentionPeriodHours"] == 48


def test_sources_table_is_keyed_by_write_key_hash_on_demand_with_pitr_and_kms(synthesized: Synthesized) -> None:
    _, table = synthesized.resource(synthesized.stack.sources_table.table)
    key_id, _ = synthesized.resource(synthesized.stack.key)
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": SOURCES_TABLE_PARTITION_KEY, "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": SOURCES_TABLE_PARTITION_KEY, "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert table["DeletionPolicy"] == "Retain"


def test_lake_bucket_is_kms_encrypted_versioned_private_and_logged(synthesized: Synthesized) -> None:
    bucket_id = _lake_bucket_id(synthesized)
    key_id, key = synthesized.resource(synthesized.stack.key)
    props = synthesized.resources("AWS::S3::Bucket")[bucket_id]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert rule["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    log_bucket_ref = props["LoggingConfiguration"]["DestinationBucketName"]
    assert log_bucket_ref["Ref"] in synthesized.resources("AWS::S3::Bucket")
    assert key["Properties"]["EnableKeyRotation"] is True


def test_lake_lifecycle_moves_quarantine_to_infrequent_access_and_expires_old_versions(
    synthesized: Synthesized,
) -> None:
    props = synthesized.resources("AWS::S3::Bucket")[_lake_bucket_id(synthesized)]["Properties"]
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    quarantine = rules["quarantine-to-infrequent-access"]
    assert quarantine["Prefix"] == QUARANTINE_PREFIX
    assert quarantine["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert rules["expire-old-versions-and-uploads"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())


def test_every_bucket_denies_requests_without_tls(synthesized: Synthesized) -> None:
    # Given every bucket and every bucket policy
    bucket_ids = set(synthesized.resources("AWS::S3::Bucket"))
    protected = set()
    for policy in synthesized.resources("AWS::S3::BucketPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                assert statement["Action"] == "s3:*"
                protected.add(policy["Properties"]["Bucket"]["Ref"])
    # Then each bucket has a TLS-only deny statement
    assert protected == bucket_ids


def test_ingest_log_groups_and_alarm_topic_are_encrypted_with_the_stack_key(synthesized: Synthesized) -> None:
    key_id, _ = synthesized.resource(synthesized.stack.key)
    ingest = synthesized.stack.ingest_api
    log_groups = [synthesized.resource(ingest.access_log_group)[1], synthesized.resource(ingest.function.log_group)[1]]
    for log_group in log_groups:
        assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert log_group["Properties"]["RetentionInDays"] == 30
    _, topic = synthesized.resource(synthesized.stack.monitoring.topic)
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


# --- names and outputs --------------------------------------------------------------------------------
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::WAFv2::WebACL": "Name",
}


def test_no_resource_has_a_hard_coded_physical_name(synthesized: Synthesized) -> None:
    # Given every resource type that accepts a name / Then CloudFormation generates each name
    named = [
        f"{resource_type} {logical_id}"
        for resource_type, name_property in NAME_PROPERTIES.items()
        for logical_id, body in synthesized.resources(resource_type).items()
        if name_property in body.get("Properties", {})
    ]
    assert named == []
    # And the REST API's name derives from the stack's, so two stacks in one account stay apart
    _, api = synthesized.resource(synthesized.stack.ingest_api.api)
    assert api["Properties"]["Name"] == f"{synthesized.stack.stack_name}-ingest"


def test_outputs_use_the_names_shared_with_scripts(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    for name in (
        OUTPUT_API_URL,
        OUTPUT_STREAM_NAME,
        OUTPUT_SOURCES_TABLE,
        OUTPUT_LAKE_BUCKET,
        OUTPUT_ALARM_TOPIC_ARN,
        OUTPUT_DASHBOARD_NAME,
    ):
        assert name in outputs
    stream_id, _ = synthesized.resource(synthesized.stack.event_stream.stream)
    assert outputs[OUTPUT_STREAM_NAME]["Value"] == {"Ref": stream_id}

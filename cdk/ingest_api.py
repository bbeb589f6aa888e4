"""The Segment-compatible ingestion API (docs/design.md section 1): REST API Gateway (+ WAF, opt-in) in front of one
Lambda.

Why REST and not HTTP API: docs/decisions.md. The gateway proxies `/v1/{proxy+}` and `/openapi.json` to the
ingest Lambda, which owns routing, auth (write keys) and validation; the gateway adds what the Lambda cannot:
stage throttling, CORS preflight, JSON access logs, X-Ray (a sampled share of requests: `traceSampleRate`, through an
X-Ray sampling rule on the stage) and, with `wafEnabled`, per-IP rate limiting and AWS managed rules (a WAF web ACL
on the stage; off by default: docs/deploy.md, "Protection", and docs/decisions.md).
Grants are made by the stack (least privilege, docs/decisions.md decision 4); this construct exposes `function`,
`api`, `stage`, `web_acl` (None without WAF).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk import aws_xray as xray
from constructs import Construct

from cdk.lambda_logging import lambda_logging
from cdk.nag import suppress
from featurepulse.constants import (
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_PUT_TIME_BUDGET_MS,
    ENV_QUARANTINE_BUCKET,
    ENV_QUARANTINE_PREFIX,
    ENV_SERVICE_NAME,
    ENV_SOURCES_TABLE,
    ENV_STREAM_NAME,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)
from featurepulse.domain.stages import STAGE_MAP_ENV

INGEST_HANDLER = "lambdas.ingest.handler.lambda_handler"
INGEST_RUNTIME = lambda_.Runtime.PYTHON_3_12
CORS_ALLOW_HEADERS: tuple[str, ...] = ("Authorization", "Content-Type", "X-Amz-Date", "X-Api-Key")
RATE_LIMIT_RETRY_AFTER_SECONDS = 60
# X-Ray: API Gateway's active tracing decides per request with the account's sampling rules (lowest priority number
# first; AWS's default rule, 1 request/s plus 5%, is 10000 and records every request at 1 request/s), and the ingest
# Lambda (Tracing.ACTIVE) follows the decision in the trace header it receives. Our rule matches only this API's
# stage; no reservoir, so the rate is the share traced at any traffic.
SAMPLING_RULE_PRIORITY = 100
SAMPLING_RULE_SERVICE_TYPE = "AWS::ApiGateway::Stage"
SAMPLING_RULE_NAME_MAX = 32

# The AWS managed rule groups of the web ACL, in evaluation order after the rate rule, with the web ACL capacity
# units (WCU) AWS documents for each ("Baseline rule groups", AWS WAF developer guide). A rate-based rule
# aggregated by IP costs 2 WCU. The total stays within the 1,500 WCU the basic WAF price covers (a web ACL may
# hold up to 5,000 at extra cost); tests/infrastructure/test_ingest_infrastructure.py adds them up.
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
KNOWN_BAD_INPUTS_RULE_SET = "AWSManagedRulesKnownBadInputsRuleSet"
MANAGED_RULE_GROUP_WCU: dict[str, int] = {COMMON_RULE_SET: 700, KNOWN_BAD_INPUTS_RULE_SET: 200}
RATE_RULE_WCU = 2
WEB_ACL_PRICED_WCU = 1500
# Why the stage may go without a web ACL (cdk-nag AwsSolutions-APIG3); docs/decisions.md, "WAF is opt-in".
WITHOUT_WAF_REASON = (
    "WAF is opt-in (wafEnabled, default false): the ingest handler bounds and validates every request itself (body, "
    "batch and event size limits, write key, schema; fuzzed in the test suite) and API Gateway stage throttling "
    "caps the request rate. WAF adds per-IP rate limiting and AWS managed rules for about $9.58 a month at the "
    "reference workload (100 events/s in batches of 100), a quarter of the lake path's bill: enable it with "
    "-c wafEnabled=true."
)
# The access log: one JSON line per request (CloudWatch bills every byte ingested), with what docs/deploy.md
# ("Alarms": the 4xx and 5xx alarms send you here) needs to tell the causes apart, without the caller's IP
# (docs/design.md section 1, privacy): the request id (the ingest Lambda's log lines carry it as correlation id), the
# route, the answer, the latency, who answered when the Lambda did not (`errorType`: THROTTLED, WAF_FILTERED,
# INTEGRATION_FAILURE...; `integrationError`: why the Lambda call failed) and the client's user agent. Left out, as
# other sources give them: the time (the log event's own), the resource path (always /v1/{proxy+}), response length,
# the integration's status and latency (the Lambda's metrics and logs), error message (errorType says it), the X-Ray
# trace id (only `traceSampleRate` of the requests are traced; Powertools' log lines carry the id).
ACCESS_LOG_FIELDS: dict[str, str] = {
    "requestId": apigw.AccessLogField.context_request_id(),
    "httpMethod": apigw.AccessLogField.context_http_method(),
    "path": apigw.AccessLogField.context_path(),
    "status": apigw.AccessLogField.context_status(),
    "responseLatency": apigw.AccessLogField.context_response_latency(),
    "errorType": apigw.AccessLogField.context_error_response_type(),
    "integrationError": apigw.AccessLogField.context_integration_error_message(),
    "userAgent": apigw.AccessLogField.context_identity_user_agent(),
}
# With WAF: its answer to the request (a WAF block shows as 403 or 429 with errorType WAF_FILTERED).
WAF_ACCESS_LOG_FIELDS: dict[str, str] = {"wafResponseCode": apigw.AccessLogField.context_waf_response_code()}


def access_log_fields(*, waf_enabled: bool) -> dict[str, str]:
    """The access log's fields, in the order they are written."""
    return {**ACCESS_LOG_FIELDS, **(WAF_ACCESS_LOG_FIELDS if waf_enabled else {})}


def sampling_rule_name(stack_name: str) -> str:
    """The stack's X-Ray sampling rule name. Names are unique per account and region and at most 32 characters: the
    stack's name, cut, then a digest of the whole name, so two stacks never share (or fight over) one rule."""
    digest = hashlib.sha256(stack_name.encode()).hexdigest()[:8]
    return f"{stack_name[: SAMPLING_RULE_NAME_MAX - len(digest) - 1]}-{digest}"


class IngestApi(Construct):
    """`function` (the ingest Lambda), `api` (RestApi), `stage`, `web_acl` (None unless `waf_enabled`),
    `sampling_rule` (X-Ray), `url` (base URL for SDKs)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        encryption_key: kms.IKey,
        stream_name: str,
        sources_table_name: str,
        quarantine_bucket_name: str,
        quarantine_prefix: str,
        stage_map_json: str,
        stage_name: str,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        waf_enabled: bool,
        waf_rate_limit: int,
        waf_count_only_rules: Sequence[str],
        cors_allow_origins: Sequence[str],
        log_level: str,
        memory_mb: int,
        timeout_seconds: int,
        put_time_budget_ms: int,
        reserved_concurrency: int | None,
        log_retention: logs.RetentionDays,
        trace_sample_rate: float,
    ) -> None:
        super().__init__(scope, construct_id)
        retention = log_retention

        self.function = self._ingest_function(
            code=code,
            encryption_key=encryption_key,
            retention=retention,
            environment={
                ENV_STREAM_NAME: stream_name,
                ENV_SOURCES_TABLE: sources_table_name,
                ENV_QUARANTINE_BUCKET: quarantine_bucket_name,
                ENV_QUARANTINE_PREFIX: quarantine_prefix,
                STAGE_MAP_ENV: stage_map_json,
                ENV_PUT_TIME_BUDGET_MS: str(put_time_budget_ms),
                ENV_SERVICE_NAME: SERVICE_NAME,
                ENV_METRICS_NAMESPACE: METRICS_NAMESPACE,
                ENV_LOG_LEVEL: log_level,
            },
            log_level=log_level,
            memory_mb=memory_mb,
            timeout_seconds=timeout_seconds,
            reserved_concurrency=reserved_concurrency,
        )
        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            encryption_key=encryption_key,
            retention=retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = self._rest_api(
            stage_name=stage_name,
            throttle_rate_limit=throttle_rate_limit,
            throttle_burst_limit=throttle_burst_limit,
            cors_allow_origins=cors_allow_origins,
            waf_enabled=waf_enabled,
        )
        self.stage: apigw.Stage = self.api.deployment_stage
        self.url: str = self.api.url
        self.sampling_rule = self._sampling_rule(stage_name=stage_name, fixed_rate=trace_sample_rate)
        self.web_acl: wafv2.CfnWebACL | None = None
        if waf_enabled:
            self.web_acl = self._web_acl(waf_rate_limit=waf_rate_limit, count_only_rules=waf_count_only_rules)
            # The stage ARN refers to the stage, so CloudFormation associates the ACL after the stage exists.
            wafv2.CfnWebACLAssociation(
                self, "WebAclAssociation", resource_arn=self.stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
            )
        else:
            suppress(self.stage, rule="AwsSolutions-APIG3", reason=WITHOUT_WAF_REASON)

    def _ingest_function(
        self,
        *,
        code: lambda_.Code,
        encryption_key: kms.IKey,
        retention: logs.RetentionDays,
        environment: dict[str, str],
        log_level: str,
        memory_mb: int,
        timeout_seconds: int,
        reserved_concurrency: int | None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            "HandlerLogs",
            encryption_key=encryption_key,
            retention=retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Our own role instead of AWSLambdaBasicExecutionRole: it may write to its log group, nothing else
        # until the stack grants it the stream, the table and the quarantine prefix.
        role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="featurepulse ingest Lambda: own log group, then exactly the grants of the stack",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            "Handler",
            description="featurepulse: Segment-compatible ingest (validate, enrich, PutRecords, quarantine)",
            runtime=INGEST_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=INGEST_HANDLER,
            code=code,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            environment=environment,
            role=role,
            log_group=log_group,
            # JSON log format; Lambda's START/END/REPORT lines left out (cdk/lambda_logging.py).
            **lambda_logging(log_level),
            reserved_concurrent_executions=reserved_concurrency,
        )
        suppress(
            role,
            rule="AwsSolutions-IAM5",
            reason="X-Ray (Tracing.ACTIVE) adds xray:PutTraceSegments and xray:PutTelemetryRecords, which "
            "support no resource-level permissions: AWS documents Resource '*' for them.",
            applies_to=["Resource::*"],
            apply_to_children=True,
        )
        suppress(
            function,
            rule="AwsSolutions-L1",
            reason="Pinned to python3.12 on purpose: lambda_bundling installs cp312 manylinux wheels "
            "(pydantic-core, orjson) and the project is tested on 3.11/3.12; runtime and wheel tag move "
            "together in one change.",
        )
        return function

    def _rest_api(
        self,
        *,
        stage_name: str,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        cors_allow_origins: Sequence[str],
        waf_enabled: bool,
    ) -> apigw.RestApi:
        stack = Stack.of(self)
        api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{stack.stack_name}-ingest",
            description="featurepulse: Segment-compatible tracking API (POST /v1/batch, /v1/track, ...)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logs (errors only) need the account-level role that lets API Gateway write to
            # CloudWatch Logs; kept on stack deletion because other APIs of the account may rely on it.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                # Request bodies carry user data and write keys: never into execution logs.
                data_trace_enabled=False,
                # Per-method ("detailed") metrics are billed as custom metrics, 5 per method with traffic; every route
                # proxies to one Lambda, and the dashboard and alarms read the API-level metrics (dimension ApiName),
                # which API Gateway publishes for free.
                metrics_enabled=False,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(access_log_fields(waf_enabled=waf_enabled), separators=(",", ":"))
                ),
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(cors_allow_origins),
                allow_methods=["POST", "GET", "OPTIONS"],
                allow_headers=list(CORS_ALLOW_HEADERS),
                max_age=Duration.hours(1),
            ),
        )
        integration = apigw.LambdaIntegration(self.function, allow_test_invoke=False)
        version = api.root.add_resource("v1")
        version.add_resource("{proxy+}").add_method("ANY", integration)
        api.root.add_resource("openapi.json").add_method("GET", integration)
        if tuple(cors_allow_origins) == ("*",):
            # Answers made by the gateway itself (throttled 429, WAF-free 4xx/5xx) must be readable by
            # browser SDKs too, or a throttle looks like a network error to them.
            for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
                api.add_gateway_response(
                    f"Cors{response_type.response_type}",
                    type=response_type,
                    response_headers={"Access-Control-Allow-Origin": "'*'"},
                )
        self._suppress_api_findings(api)
        return api

    def _suppress_api_findings(self, api: apigw.RestApi) -> None:
        suppress(
            api,
            rule="AwsSolutions-APIG2",
            reason="Bodies are validated by the Lambda (pydantic): the Segment contract answers 200 with the "
            "rejected events listed and quarantines them; a gateway model would refuse the whole batch and "
            "lose the valid events sent with an invalid one.",
        )
        suppress(
            api,
            rule="AwsSolutions-APIG4",
            reason="Segment SDKs authenticate with the source's write key (HTTP Basic user or `writeKey` in the "
            "body); the Lambda checks it against the hashed keys in the sources table. A gateway authorizer "
            "cannot read the body, and CORS preflight (OPTIONS) must stay unauthenticated.",
            apply_to_children=True,
        )
        suppress(
            api,
            rule="AwsSolutions-COG4",
            reason="No Cognito users exist: callers are client apps holding a per-source write key (Segment "
            "protocol), checked by the Lambda.",
            apply_to_children=True,
        )
        suppress(
            api,
            rule="AwsSolutions-IAM4",
            reason="The account-level API Gateway CloudWatch role uses AmazonAPIGatewayPushToCloudWatchLogs, the "
            "policy AWS publishes for exactly this role; it is needed for execution logging.",
            applies_to=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
            ],
            apply_to_children=True,
        )

    def _sampling_rule(self, *, stage_name: str, fixed_rate: float) -> xray.CfnSamplingRule:
        """The share of this API's requests X-Ray records (X-Ray bills per trace recorded: every request at the
        default rule's 1 request/s would be 2.6 M traces a month at one request per second)."""
        return xray.CfnSamplingRule(
            self,
            "TraceSampling",
            sampling_rule=xray.CfnSamplingRule.SamplingRuleProperty(
                rule_name=sampling_rule_name(Stack.of(self).stack_name),
                priority=SAMPLING_RULE_PRIORITY,
                fixed_rate=fixed_rate,
                reservoir_size=0,
                service_name=f"{self.api.rest_api_name}/{stage_name}",
                service_type=SAMPLING_RULE_SERVICE_TYPE,
                host="*",
                http_method="*",
                url_path="*",
                resource_arn="*",
                version=1,
            ),
        )

    def _web_acl(self, *, waf_rate_limit: int, count_only_rules: Sequence[str]) -> wafv2.CfnWebACL:
        def visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
            )

        rate_rule = wafv2.CfnWebACL.RuleProperty(
            name="RateLimitPerIp",
            priority=0,
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=waf_rate_limit, aggregate_key_type="IP", evaluation_window_sec=300
                )
            ),
            # 429 + Retry-After: Segment SDKs back off and retry, so a client over the limit loses nothing.
            action=wafv2.CfnWebACL.RuleActionProperty(
                block=wafv2.CfnWebACL.BlockActionProperty(
                    custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                        response_code=429,
                        response_headers=[
                            wafv2.CfnWebACL.CustomHTTPHeaderProperty(
                                name="Retry-After", value=str(RATE_LIMIT_RETRY_AFTER_SECONDS)
                            )
                        ],
                    )
                )
            ),
            visibility_config=visibility("featurepulse-rate-limit"),
        )
        common_rules = wafv2.CfnWebACL.RuleProperty(
            name=COMMON_RULE_SET,
            priority=1,
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS",
                    name=COMMON_RULE_SET,
                    # SizeRestrictions_BODY blocks bodies over 8 KB; Segment batches may be 500 KB, and the
                    # Lambda enforces the real limits (413 with a reason). Count, never block, those rules.
                    rule_action_overrides=[
                        wafv2.CfnWebACL.RuleActionOverrideProperty(
                            name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                        )
                        for rule in count_only_rules
                    ]
                    or None,
                )
            ),
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            visibility_config=visibility("featurepulse-common-rules"),
        )
        # Request patterns of known exploits (Log4j JNDI lookups, Java deserialization, exploitable paths, a
        # localhost Host header, PROPFIND) in headers, path, query string and the first 16 KB of the body: none is
        # ever part of an analytics event, so the group blocks as AWS ships it. After the rate rule, so a flood of
        # them is still answered 429 and counted per IP.
        known_bad_inputs = wafv2.CfnWebACL.RuleProperty(
            name=KNOWN_BAD_INPUTS_RULE_SET,
            priority=2,
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=KNOWN_BAD_INPUTS_RULE_SET
                )
            ),
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            visibility_config=visibility("featurepulse-known-bad-inputs"),
        )
        return wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=[rate_rule, common_rules, known_bad_inputs],
            visibility_config=visibility("featurepulse-ingest-acl"),
            description="featurepulse ingest API: per-IP rate limit, AWS common rules and known bad inputs",
        )
